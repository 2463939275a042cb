"""The scan pipeline: load an image once, run the selected analyzers, build the report.

``scan`` handles one input (path, bytes or PIL image); ``scan_many`` maps it over many paths
with a process pool (``jobs``), yielding reports in input order so a batch streams to JSONL.
A file that fails to load becomes a report whose ``error`` names the file and the reason.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator

from PIL import Image

from . import analyzers as _an
from .errors import SleuthError
from .options import ScanOptions, parse_options
from .imageio import load_image
from .maps import write_maps
from .report import Report, finalise, thumbnail


def scan(source: Any, analyzers: list[str] | None = None, *, tier: str = "full",
         options: "ScanOptions | dict[str, Any] | None" = None, keep_maps: bool = True) -> Report:
    """Analyse one image (path, bytes, file object or PIL image) and return its Report."""
    ctx = _an.ScanContext(options=parse_options(options))
    specs = _an.select(analyzers, tier=tier)
    name = str(source) if isinstance(source, (str, os.PathLike)) else (
        "<PIL image>" if isinstance(source, Image.Image) else "<bytes>")
    try:
        img = load_image(source, max_pixels=ctx.get("max_pixels"))
    except SleuthError as exc:
        return finalise(Report(path=name, error=str(exc)), specs, ctx.options.public())
    rep = Report(path=img.path, sha256=img.sha256, format=img.format, width=img.width,
                 height=img.height, bytes=len(img.data) if img.data else None, notes=list(img.notes))
    ctx.cache.clear()
    for spec in specs:
        rep.evidence.extend(_an.run_analyzer(spec, img, ctx))
    ctx.cache.clear()
    finalise(rep, specs, ctx.options.public())
    maps_dir = ctx.get("maps_dir")
    if maps_dir:
        write_maps(rep, Path(maps_dir))
    if keep_maps:
        rep._thumbnail = thumbnail(img.rgb)
    return rep


_WORKER: dict[str, Any] = {}


def _init_worker(analyzers: list[str] | None, tier: str, options: ScanOptions, keep_maps: bool) -> None:
    # one thread per process: the pool is the parallelism
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
    _WORKER.update(analyzers=analyzers, tier=tier, options=options, keep_maps=keep_maps)


def _scan_worker(path: str) -> Report:
    try:
        return scan(path, _WORKER["analyzers"], tier=_WORKER["tier"], options=_WORKER["options"],
                    keep_maps=_WORKER["keep_maps"])
    except Exception as exc:  # last resort: never lose the batch
        return Report(path=path, error=f"{path}: internal error ({type(exc).__name__}: {exc})")


def scan_many(paths: Iterable[str], jobs: int = 1, analyzers: list[str] | None = None, *,
              tier: str = "full", options: "ScanOptions | dict[str, Any] | None" = None, keep_maps: bool = False,
              progress: bool = False) -> Iterator[Report]:
    """Scan many paths, yielding reports in input order."""
    paths = [str(p) for p in paths]
    options = parse_options(options)
    bar = _progress(len(paths)) if progress and len(paths) > 1 else None
    try:
        if jobs <= 1 or len(paths) <= 1:
            _init_worker(analyzers, tier, options, keep_maps)
            for p in paths:
                rep = _scan_worker(p)
                if bar:
                    bar[0].advance()
                yield rep
        else:
            import multiprocessing as mp

            ctx = mp.get_context("forkserver" if os.name != "nt" else "spawn")
            if os.name != "nt":
                # import sleuth, OpenCV and every analyzer once in the fork server, not once per worker
                ctx.set_forkserver_preload(["sleuth.pipeline", "cv2", *_an.BUILTIN_MODULES])
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                     initargs=(analyzers, tier, options, keep_maps)) as ex:
                for rep in ex.map(_scan_worker, paths, chunksize=4):
                    if bar:
                        bar[0].advance()
                    yield rep
    finally:
        if bar:
            bar[0].stop()


def _progress(total: int):
    from .render.progress import Bar  # stderr only, never redirects stdout

    bar = Bar(total, "scanning")
    return bar, None
