"""The scan pipeline: load an image once, run the selected analyzers, build the report.

``scan`` handles one input (path, bytes or PIL image) in this process; ``scan_many`` runs it
over many paths in killable worker processes (:mod:`sleuth.workers`), yielding reports in
input order so a batch streams to JSONL. Each file has a time budget and each worker a memory
bound; a file over either, or one whose worker crashes, gets a one-line error and the batch
goes on with a new worker. A file that fails to load becomes a report whose ``error`` names
the file and the reason; :func:`failures` lists analyzers that failed on a loaded file.
Limits in force: docs/limits.md.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from . import analyzers as _an
from .errors import SleuthError
from .imageio import load_image
from .maps import write_maps
from .options import ScanOptions, parse_options
from .report import Report, finalise, thumbnail


def scan(source: Any, analyzers: list[str] | None = None, *, tier: str = "full",
         options: ScanOptions | dict[str, Any] | None = None, keep_maps: bool = True) -> Report:
    """Analyse one image (path, bytes, file object or PIL image) and return its Report.

    In the fast tier pixels are decoded only when an analyzer asks for them, so metadata-only
    analyzers never decode; a decode failure met that way becomes the report's ``error`` and
    the metadata evidence already found is kept. Paths that are not valid UTF-8 are shown with
    U+FFFD in ``path`` and kept exactly in ``path_bytes_hex``.
    """
    from .imageio import display_path, path_bytes_hex

    ctx = _an.ScanContext(options=parse_options(options))
    specs = _an.select(analyzers, tier=tier)
    raw_hex = path_bytes_hex(source) if isinstance(source, (str, os.PathLike)) else None
    name = display_path(source) if isinstance(source, (str, os.PathLike)) else (
        "<PIL image>" if isinstance(source, Image.Image) else "<bytes>")
    try:
        img = load_image(source, max_pixels=ctx.get("max_pixels"), name=name, lazy=tier == "fast")
    except SleuthError as exc:
        rep = Report(path=name, error=str(exc))
        if raw_hex:
            rep.path_bytes_hex = raw_hex
        return finalise(rep, specs, ctx.options.public())
    rep = Report(path=img.path, sha256=img.sha256, format=img.format, width=img.width,
                 height=img.height, bytes=len(img.data) if img.data else None)
    if raw_hex:
        rep.path_bytes_hex = raw_hex
    ctx.cache.clear()
    for spec in specs:
        rep.evidence.extend(_an.run_analyzer(spec, img, ctx))
    ctx.cache.clear()
    rep.notes = list(img.notes)
    if img.decode_error is not None:
        rep.error = str(img.decode_error)
        rep.evidence = [e for e in rep.evidence if e.verdict is not None or not e.error]
    rep.width, rep.height = img.width, img.height
    finalise(rep, specs, ctx.options.public())
    maps_dir = ctx.get("maps_dir")
    if maps_dir:
        write_maps(rep, Path(maps_dir))
    if keep_maps and img.decoded:
        rep._thumbnail = thumbnail(img.rgb)
    return rep


#: per-file time budget (seconds) per tier when neither the call nor the options give one ...
DEFAULT_TIME_BUDGET = {"fast": 5.0, "full": 30.0}
#: ... or this many seconds per megapixel (read from the file's header), when that is larger: the
#: pixel analyzers' work grows with the pixel count, so a 45 MP camera photo is not cut off by a
#: budget sized for 12 MP, and the bound stays finite (max_pixels caps the count)
DEFAULT_BUDGET_PER_MP = {"fast": 0.6, "full": 3.0}
#: resident memory one worker may reach before it is killed (its file gets a one-line error)
DEFAULT_MAX_RSS = 4 * 1024 ** 3
#: warnings and stderr lines kept per file as notes
MAX_CAPTURED = 20

_WORKER: dict[str, Any] = {}


def failures(report: Report) -> list[str]:
    """One line per analyzer that failed on this report's file, naming the file and the analyzer.

    Parameters
    ----------
    report : Report
        A report from :func:`scan` or :func:`scan_many`.

    Returns
    -------
    list of str
        ``"<file>: analyzer <name> failed: <reason>"`` for every evidence item that carries an
        error and no verdict (an analyzer crash, not a finding such as an invalid C2PA manifest).
        Empty when the file failed as a whole (``report.error``) or every analyzer ran.
    """
    if report.error:
        return []
    return [f"{report.path}: analyzer {e.analyzer} failed: {' '.join(str(e.error).split())}"
            for e in report.evidence if e.error and e.verdict is None]


def _init_worker(analyzers: list[str] | None, tier: str, options: Any, keep_maps: bool,
                 modules: tuple[str, ...] = ()) -> None:
    """State for :func:`_scan_worker`; in a worker, also import the modules that registered
    analyzers in the caller (beyond the built-in ones) so the worker knows them too."""
    import importlib

    for mod in modules:
        try:
            importlib.import_module(mod)
        except Exception:  # the analyzer stays unknown: each file then reports it  # noqa: BLE001
            pass
    _WORKER.update(analyzers=analyzers, tier=tier, options=options, keep_maps=keep_maps)


def _analyzer_modules() -> tuple[str, ...]:
    """Modules outside the built-in list that registered analyzers in this process."""
    mods = {spec.fn.__module__ for spec in _an.available().values()}
    return tuple(sorted(m for m in mods if m not in _an.BUILTIN_MODULES and m not in ("__main__", "__mp_main__")))


def _limit_threads() -> None:
    """One thread per library in a worker process: the pool is the parallelism."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass


def _scan_worker(path: str) -> Report:
    """Scan one path with library warnings captured into the report's notes."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rep = scan(path, _WORKER["analyzers"], tier=_WORKER["tier"], options=_WORKER["options"],
                       keep_maps=_WORKER["keep_maps"])
        except Exception as exc:  # last resort: never lose the batch
            rep = _error_report(path, f"internal error ({type(exc).__name__}: {exc})")
    seen: list[str] = []
    for w in caught:
        line = " ".join(f"{w.category.__name__}: {w.message}".split())[:300]
        if line not in seen:
            seen.append(line)
    rep.notes += [f"library warning: {line}" for line in seen[:MAX_CAPTURED]]
    return rep


def _error_report(path: str, reason: str) -> Report:
    from .imageio import display_path, path_bytes_hex

    name = display_path(path)
    rep = Report(path=name, error=f"{name}: {' '.join(str(reason).split())}")
    if path_bytes_hex(path):
        rep.path_bytes_hex = path_bytes_hex(path)
    return finalise(rep, [], {})


def scan_many(paths: Iterable[str], jobs: int = 1, analyzers: list[str] | None = None, *,
              tier: str = "full", options: ScanOptions | dict[str, Any] | None = None, keep_maps: bool = False,
              progress: bool = False, time_budget: float | None = None, max_rss: int | None = None,
              isolate: bool | None = None, on_stats: Callable[[str, dict[str, Any]], None] | None = None,
              ) -> Iterator[Report]:
    """Scan many paths, yielding reports in input order.

    Parameters
    ----------
    paths : iterable of str
        Files to scan (see :func:`sleuth.imageio.walk_inputs` to expand folders).
    jobs : int
        Worker processes.
    analyzers, tier, options, keep_maps
        As for :func:`scan`.
    progress : bool
        Show a progress bar on stderr.
    time_budget : float, optional
        Seconds one file may take; a worker over it is killed and the file gets a one-line
        error. Default: ``options["time_budget"]``, else 5 s for the fast tier and 30 s for the
        full tier; 0 turns the budget off.
    max_rss : int, optional
        Bytes of resident memory a worker may reach before it is killed (its file gets a
        one-line error). Default ``options["worker_max_rss"]`` or 4 GiB; 0 turns it off.
    isolate : bool, optional
        Run in worker processes (default). ``False`` scans in this process (no budget, no
        memory bound, no protection from a crash in C code).
    on_stats : callable, optional
        Called as ``on_stats(path, stats)`` per file with ``seconds``, ``worker_pid`` and the
        worker's ``peak_rss`` (bytes, lifetime maximum) when isolated.

    Returns
    -------
    iterator of Report
        One per path, in input order; a file that failed, timed out or killed its worker has
        ``error`` set and the batch goes on.
    """
    paths = [str(p) if not isinstance(p, bytes) else os.fsdecode(p) for p in paths]
    options = parse_options(options)
    budget = time_budget if time_budget is not None else options.get("time_budget")
    per_mp = DEFAULT_BUDGET_PER_MP.get(tier, 0.0) if budget is None else 0.0  # a budget given is flat
    budget = float(DEFAULT_TIME_BUDGET.get(tier, 30.0) if budget is None else budget)
    rss = max_rss if max_rss is not None else options.get("worker_max_rss")
    rss = int(DEFAULT_MAX_RSS if rss is None else rss)
    bar = _progress(len(paths)) if progress and len(paths) > 1 else None
    try:
        if isolate is False or not paths:
            _init_worker(analyzers, tier, options, keep_maps)
            for p in paths:
                t0 = time.perf_counter()
                rep = _scan_worker(p)
                if on_stats:
                    on_stats(p, {"seconds": time.perf_counter() - t0, "worker_pid": os.getpid()})
                if bar:
                    bar[0].advance()
                yield rep
            return
        from .workers import WorkerPool

        pool = WorkerPool(max(1, min(jobs, len(paths))), (analyzers, tier, options, keep_maps, _analyzer_modules()),
                          time_budget=budget, max_rss=rss, budget_per_mp=per_mp)
        with pool:
            for p, rep, stats in pool.map(paths):
                if on_stats:
                    on_stats(p, stats)
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
