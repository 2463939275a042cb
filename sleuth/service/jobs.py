"""What a scan worker process runs: one job per uploaded file, results as plain picklable dicts.

Every job decodes inside the worker, never in the server process, so a hostile file can only
stall the worker that holds it (and the pool kills that worker at the request's time budget).
A job returns ``{"status": int, "reason": str | None, ...}``: 200 when analysed, 413 over the
pixel limit, 422 when the file cannot be decoded.
"""
from __future__ import annotations

import io
import os
import time
from dataclasses import replace
from typing import Any, Callable

#: per-analyzer seconds of the current job (filled by the timing wrappers installed in the worker)
_TIMINGS: dict[str, float] = {}


def init_worker() -> None:
    """Run once in each worker process: one thread per process, time every analyzer.

    Returns
    -------
    None
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
    from .. import analyzers as an

    for name, spec in an.available().items():
        an._REGISTRY[name] = replace(spec, fn=_timed(name, spec.fn))


def _timed(name: str, fn: Callable) -> Callable:
    def run(img, ctx):
        t0 = time.perf_counter()
        try:
            return fn(img, ctx)
        finally:
            _TIMINGS[name] = _TIMINGS.get(name, 0.0) + time.perf_counter() - t0

    return run


def _png(arr) -> bytes:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(arr, 0, 1) * 255).astype("uint8"), "L").save(buf, "PNG", optimize=False)
    return buf.getvalue()


def _jpeg(arr) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _pixels(data: bytes) -> int | None:
    """Width x height from the header only (None when Pillow cannot read a header)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
        return int(w) * int(h)
    except Exception:
        return None


def scan_job(data: bytes, name: str, analyzers: list[str] | None, tier: str, options: dict[str, Any],
             max_pixels: int) -> dict[str, Any]:
    """Scan one uploaded file.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    name : str
        Display name (already sanitised by the server).
    analyzers : list of str, optional
        Analyzer names (None: all of the tier).
    tier : {"fast", "full"}
    options : dict
        Pipeline options.
    max_pixels : int
        Pixel limit; larger images are refused with status 413 before decoding.

    Returns
    -------
    dict
        ``status``, ``reason``, ``report`` (JSON dict), ``maps`` (name -> (media type, bytes)),
        ``timings`` (analyzer -> seconds).
    """
    from ..pipeline import scan

    px = _pixels(data)
    if px is not None and px > max_pixels:
        return {"status": 413, "reason": f"{name}: {px / 1e6:.1f} megapixels is over this server's "
                                          f"{max_pixels / 1e6:.1f}-megapixel limit"}
    _TIMINGS.clear()
    rep = scan(data, analyzers, tier=tier, options={**options, "max_pixels": max_pixels}, keep_maps=True)
    if rep.error:
        from ..report import summarise

        rep.error = rep.error.replace("<bytes>", name, 1)
        rep.summary = summarise(rep)
    rep.path = name
    maps: dict[str, tuple[str, bytes]] = {}
    for e in rep.evidence:
        for k, m in e.maps.items():
            maps[f"{e.analyzer}.{k}"] = ("image/png", _png(m))
        e.details.pop("maps", None)
    if rep._thumbnail is not None and not rep.error:
        maps["preview"] = ("image/jpeg", _jpeg(rep._thumbnail))
    status = 422 if rep.error else 200
    return {"status": status, "reason": rep.error, "report": rep.to_dict(), "maps": maps,
            "timings": dict(_TIMINGS)}


JOBS: dict[str, Callable[..., dict[str, Any]]] = {"scan": scan_job}
