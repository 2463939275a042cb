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
from collections.abc import Callable
from dataclasses import replace
from typing import Any

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


def _too_big(data: bytes, name: str, max_pixels: int) -> dict[str, Any] | None:
    px = _pixels(data)
    if px is not None and px > max_pixels:
        return {"status": 413, "reason": f"{name}: {px / 1e6:.1f} megapixels is over this server's "
                                          f"{max_pixels / 1e6:.1f}-megapixel limit"}
    return None


def index_add_job(root: str, refs: str, files: list[tuple[str, bytes]], max_pixels: int) -> dict[str, Any]:
    """Add uploaded reference images to the copy-detection index at ``root``.

    Each upload is kept under ``refs`` named by its SHA-256 (never by the client's name), so the
    index can point at it and the reference can be shown beside a match.

    Parameters
    ----------
    root : str
        Index directory (created on first use).
    refs : str
        Folder for the reference files.
    files : list of (str, bytes)
        Display name and bytes of each upload.
    max_pixels : int
        Pixel limit per image.

    Returns
    -------
    dict
        ``status``, ``added`` [{id, file}], ``duplicates`` [{id, file}], ``skipped`` [{file, reason}], ``count``.
    """
    from pathlib import Path

    from ..copydetect.index import CopyIndex
    from ..util import atomic_write_bytes, sha256_bytes

    names: dict[str, str] = {}
    skipped = []
    for name, data in files:
        big = _too_big(data, name, max_pixels)
        if big:
            skipped.append({"file": name, "reason": big["reason"]})
            continue
        dest = Path(refs) / f"{sha256_bytes(data)}.img"
        if not dest.exists():
            atomic_write_bytes(dest, data)
        names[str(dest)] = name
    with CopyIndex.create_or_open(root) as idx:
        res = idx.add(list(names))
        count = idx.count()
    return {"status": 200, "reason": None,
            "added": [{"id": int(i), "file": names.get(p, p)} for i, p in res.added],
            "duplicates": [{"id": int(i), "file": names.get(p, p)} for p, i in res.duplicates],
            "skipped": skipped + [{"file": names.get(p, p), "reason": r} for p, r in res.skipped], "count": count}


def index_search_job(root: str, data: bytes, name: str, top_k: int, max_pixels: int) -> dict[str, Any]:
    """Search one image in the index at ``root``.

    Parameters
    ----------
    root : str
        Index directory.
    data : bytes
        The query image.
    name : str
        Its display name.
    top_k : int
        Matches returned.
    max_pixels : int
        Pixel limit.

    Returns
    -------
    dict
        ``status``, ``file``, ``matches`` (id, score, is_copy, regions...; reference paths reduced
        to the stored file name).
    """
    from pathlib import Path

    from ..copydetect.api import match
    from ..errors import SleuthError
    from ..imageio import load_image

    big = _too_big(data, name, max_pixels)
    if big:
        return big
    try:
        img = load_image(data, max_pixels=max_pixels, name=name)
    except SleuthError as exc:
        return {"status": 422, "reason": str(exc)}
    out = []
    for m in match(img, root, top_k=top_k):
        d = m.to_dict()
        d["path"] = Path(str(d.get("path", ""))).name
        out.append(d)
    return {"status": 200, "reason": None, "file": name, "matches": out}


def watermark_verify_job(data: bytes, name: str, keys: list[str], max_pixels: int) -> dict[str, Any]:
    """Is the keyed sleuth mark in this image? (p-value at the default FPR, message when detected).

    Parameters
    ----------
    data : bytes
    name : str
    keys : list of str
        Keys to try (Bonferroni over keys).
    max_pixels : int

    Returns
    -------
    dict
        ``status`` and ``result`` (a :class:`sleuth.results.VerifyResult` as a dict), the same
        row ``sleuth verify`` prints: one scan of the ``watermark`` analyzer.
    """
    from ..pipeline import scan
    from ..results import VERIFY_ANALYZERS, verify_result

    big = _too_big(data, name, max_pixels)
    if big:
        return big
    rep = scan(data, VERIFY_ANALYZERS, options={"watermark_keys": keys, "max_pixels": max_pixels}, keep_maps=False)
    rep.path = name
    row = verify_result(rep)
    if row.error:
        reason = row.error.replace("<bytes>", name)
        return {"status": 422, "reason": reason if reason.startswith(name) else f"{name}: {reason}"}
    return {"status": 200, "reason": None, "result": row.model_dump(mode="json")}


def watermark_embed_job(data: bytes, name: str, key: str, message: str | None, strength: float,
                        max_pixels: int) -> dict[str, Any]:
    """Embed the keyed sleuth mark; return the marked file's bytes in the input's format.

    Parameters
    ----------
    data : bytes
    name : str
    key : str
    message : str, optional
        Payload text (UTF-8, at most 8 bytes).
    strength : float
    max_pixels : int

    Returns
    -------
    dict
        ``status``, ``data`` (bytes), ``suffix``, ``psnr``, ``ssim``.
    """
    from ..errors import SleuthError
    from ..imageio import load_image
    from ..watermark import ecc
    from ..watermark.api import encode_like, psnr, ssim
    from ..watermark.keys import parse_key
    from ..watermark.methods import get_method

    big = _too_big(data, name, max_pixels)
    if big:
        return big
    try:
        img = load_image(data, max_pixels=max_pixels, name=name)
        payload = ecc.message_to_bytes(message, None) if message is not None else None
        marked = get_method("sleuth").embed(img.rgb, parse_key(key), payload, strength)
    except SleuthError as exc:
        return {"status": 422, "reason": f"{name}: {exc.reason}"}
    out, suffix = encode_like(img, marked)
    return {"status": 200, "reason": None, "data": out, "suffix": suffix,
            "psnr": round(psnr(img.rgb, marked), 2), "ssim": round(ssim(img.rgb, marked), 4)}


def reference_preview_job(root: str, refs: str, ref_id: int) -> dict[str, Any]:
    """A JPEG preview of one reference image of an index (only files under ``refs``).

    Parameters
    ----------
    root : str
        Index directory.
    refs : str
        The index's reference folder; a reference stored elsewhere is not served.
    ref_id : int

    Returns
    -------
    dict
        ``status``, ``data`` (JPEG bytes), ``width``, ``height`` (of the reference).
    """
    from pathlib import Path

    from ..copydetect.index import CopyIndex
    from ..imageio import load_image
    from ..report import thumbnail

    with CopyIndex.open(root) as idx:
        info = idx.info([ref_id]).get(int(ref_id))
    if not info:
        return {"status": 404, "reason": f"no reference {ref_id} in this index"}
    path = Path(info["path"]).resolve()
    if not path.is_relative_to(Path(refs).resolve()) or not path.is_file():
        return {"status": 404, "reason": f"reference {ref_id} was not added through this server"}
    img = load_image(path)
    return {"status": 200, "reason": None, "data": _jpeg(thumbnail(img.rgb)), "width": img.width, "height": img.height}


JOBS: dict[str, Callable[..., dict[str, Any]]] = {
    "reference_preview": reference_preview_job,
    "scan": scan_job, "index_add": index_add_job, "index_search": index_search_job,
    "watermark_verify": watermark_verify_job, "watermark_embed": watermark_embed_job}
