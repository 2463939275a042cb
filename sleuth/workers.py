"""Killable worker processes for :func:`sleuth.pipeline.scan_many`.

Design
------
* Each worker is a process of its own (``forkserver`` context: sleuth, OpenCV and the analyzer
  modules are imported once in the fork server, so a replacement worker starts in a fork, not
  in a fresh interpreter). It receives **one file at a time** over a pipe, so a worker that
  is killed or dies loses only the file it was working on.
* **Time budget**: the worker announces the start of each file; the parent waits on the pipes
  with a timeout and sends ``SIGKILL`` to a worker whose file is over budget. This works
  whatever the worker is doing: inside libjpeg, in a regular expression that holds the GIL,
  ignoring SIGTERM. The file gets a one-line error and the worker is replaced.
* **Memory bound**: while files are in flight the parent samples each worker's resident set
  (``/proc/<pid>/statm``, every ``POLL_S`` seconds) and kills a worker above ``max_rss`` in
  the same way. The decoders' own caps (header-first pixel limit, JPEG scan limit, bounded
  text inflation) keep ordinary hostile files far below it; this is the backstop.
* **Crashes**: a worker that exits (segfault, ``os._exit``, the OOM killer, ``kill -9`` from
  outside) is noticed by the end of its pipe; its file gets a one-line error naming the exit
  code or signal and the last line it wrote to stderr, and a new worker takes its place.
* **Captured output**: a worker's file descriptor 2 goes to a log file of its own, so C
  libraries (libtiff, libjpeg) that print warnings never write bare lines to the user's
  terminal; the lines written while a file was scanned become that file's notes.
* Thread counts (OpenMP, OpenBLAS, MKL, OpenCV) are set to one inside each worker process and
  never in the calling process.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: how often (seconds) busy workers' memory is sampled and deadlines are checked
POLL_S = 0.2
#: seconds a new worker may take to announce its first file (imports, fork server start)
START_TIMEOUT_S = 300.0
MAX_NOTE_LINES = 20


def _rss(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes (Linux /proc), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _worker_main(conn, init_args: tuple, log_path: str) -> None:
    """Worker loop: receive (index, path), announce it, scan it, send the report back."""
    import resource

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    from . import pipeline

    pipeline._limit_threads()
    pipeline._init_worker(*init_args)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        i, path = msg
        start = os.lseek(2, 0, os.SEEK_END)
        conn.send(("begin", i, _header_megapixels(path)))
        t0 = time.perf_counter()
        rep = pipeline._scan_worker(path)
        seconds = time.perf_counter() - t0
        lines = _read_log(log_path, start)
        if lines:
            rep.notes += [f"library message: {ln}" for ln in lines[:MAX_NOTE_LINES]]
        stats = {"seconds": seconds, "worker_pid": os.getpid(),
                 "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        try:
            conn.send(("done", i, rep, stats))
        except Exception as exc:  # an unpicklable report must not kill the worker
            conn.send(("done", i, pipeline._error_report(path, f"internal error: report not transferable ({exc})"), stats))


def _header_megapixels(path: str) -> float:
    """The image's pixel count from its header, in megapixels (0 when the header is unreadable:
    the file then gets the flat budget, and its own error from the scan)."""
    import stat

    from PIL import Image

    try:  # never block on a FIFO or device: only a regular file is opened (the scan reports the others)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return 0.0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0.0
        with os.fdopen(os.dup(fd), "rb") as fh, Image.open(fh) as im:
            return im.width * im.height / 1e6
    except Exception:  # noqa: BLE001 - any unreadable header means "size unknown"
        return 0.0
    finally:
        os.close(fd)


def _read_log(path: str, start: int, limit: int = 64 * 1024) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            raw = fh.read(limit)
    except OSError:
        return []
    lines = [" ".join(x.split())[:300] for x in raw.decode("utf-8", "replace").splitlines()]
    return list(dict.fromkeys(x for x in lines if x))


@dataclass
class _Worker:
    proc: Any
    conn: Any
    log: str
    task: tuple[int, str] | None = None
    started: float | None = None  # when the worker announced the current file
    sent: float = 0.0
    megapixels: float = 0.0  # the current file's size, announced with it


class WorkerPool:
    """``n`` killable worker processes; :meth:`map` yields (path, report, stats) in input order.

    Parameters
    ----------
    n : int
        Number of worker processes.
    init_args : tuple
        ``(analyzers, tier, options, keep_maps)`` for :func:`sleuth.pipeline._init_worker`.
    time_budget : float
        Seconds per file (0: no budget).
    max_rss : int
        Bytes of resident memory per worker (0: no bound).
    budget_per_mp : float
        With a budget, a file of M megapixels may take ``max(time_budget, budget_per_mp * M)``
        seconds (0: the budget is flat).
    """

    def __init__(self, n: int, init_args: tuple, *, time_budget: float, max_rss: int, budget_per_mp: float = 0.0):
        import multiprocessing as mp

        from . import analyzers as _an

        self.n, self.init_args = n, init_args
        self.time_budget, self.max_rss = float(time_budget or 0), int(max_rss or 0)
        self.budget_per_mp = float(budget_per_mp or 0)
        self.ctx: Any = mp.get_context("forkserver" if os.name != "nt" else "spawn")
        if os.name != "nt":
            self.ctx.set_forkserver_preload(["sleuth.pipeline", "sleuth.workers", "cv2", *_an.BUILTIN_MODULES])
        self.tmp = tempfile.TemporaryDirectory(prefix="sleuth-workers-")
        self.workers: list[_Worker] = []
        self._serial = 0
        self.restarts = 0

    # ------------------------------------------------------------------ lifecycle
    def _spawn(self) -> _Worker:
        self._serial += 1
        parent, child = self.ctx.Pipe()
        log = os.path.join(self.tmp.name, f"worker-{self._serial}.log")
        proc = self.ctx.Process(target=_worker_main, args=(child, self.init_args, log), daemon=True)
        with _main_hidden():
            proc.start()
        child.close()
        return _Worker(proc=proc, conn=parent, log=log)

    def _kill(self, w: _Worker) -> str:
        """Kill ``w`` (if still alive) and describe how it ended."""
        if w.proc.is_alive():
            try:
                os.kill(w.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, AttributeError):
                w.proc.kill()
        w.proc.join(5)
        w.conn.close()
        code = w.proc.exitcode
        if code is None:
            return "did not exit"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in self.workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 2.0
        for w in self.workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                self._kill(w)
        self.workers = []
        self.tmp.cleanup()

    # ------------------------------------------------------------------ work
    def map(self, paths: list[str]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
        """Scan ``paths``; every path yields exactly one report, in input order."""
        from .pipeline import _error_report

        results: dict[int, tuple[Any, dict[str, Any]]] = {}
        nxt = out = 0
        while out < len(paths):
            nxt = self._dispatch(paths, nxt)
            busy = [w for w in self.workers if w.task is not None]
            ready = _wait([w.conn for w in busy], POLL_S)
            for w in busy:
                if w.conn in ready:
                    self._receive(w, results, _error_report)
            now = time.monotonic()
            for w in [w for w in self.workers if w.task is not None]:
                why = self._over_limit(w, now)
                if why and w.task is not None:
                    i, path = w.task
                    rss = _rss(w.proc.pid)
                    self._kill(w)
                    self.workers.remove(w)
                    self.restarts += 1
                    results[i] = (_error_report(path, why), {"seconds": now - (w.started or w.sent), "killed": True,
                                                              "rss_at_kill": rss})
            while out in results:
                rep, stats = results.pop(out)
                yield paths[out], rep, stats
                out += 1

    def _dispatch(self, paths: list[str], nxt: int) -> int:
        while nxt < len(paths):
            idle = next((w for w in self.workers if w.task is None), None)
            if idle is None and len(self.workers) < self.n:
                idle = self._spawn()
                self.workers.append(idle)
            if idle is None:
                break
            idle.conn.send((nxt, paths[nxt]))
            idle.task, idle.started, idle.sent = (nxt, paths[nxt]), None, time.monotonic()
            nxt += 1
        return nxt

    def _receive(self, w: _Worker, results: dict, _error_report) -> None:
        while w.task is not None:
            try:
                if not w.conn.poll():
                    return
                msg = w.conn.recv()
            except (EOFError, OSError):
                i, path = w.task
                how = self._kill(w)
                last = _read_log(w.log, 0)[-1:]
                self.workers.remove(w)
                self.restarts += 1
                tail = f"; its last message: {last[0]}" if last else ""
                results[i] = (_error_report(path, f"worker process died while scanning this file ({how}){tail}; "
                                                  "the batch went on with a new worker"), {"crashed": True})
                return
            if msg[0] == "begin":
                w.started = time.monotonic()
                w.megapixels = float(msg[2]) if len(msg) > 2 else 0.0
            elif msg[0] == "done":
                _, i, rep, stats = msg
                results[i] = (rep, stats)
                w.task, w.started = None, None

    def budget_for(self, megapixels: float) -> float:
        """Seconds a file of ``megapixels`` may take (0: no budget)."""
        if not self.time_budget:
            return 0.0
        return max(self.time_budget, self.budget_per_mp * megapixels)

    def _over_limit(self, w: _Worker, now: float) -> str | None:
        if w.started is None:
            if now - w.sent > START_TIMEOUT_S:
                return f"worker process did not start within {START_TIMEOUT_S:g} s"
            return None
        limit = self.budget_for(w.megapixels)
        if limit and now - w.started > limit:
            return (f"over the {limit:.3g} s per-file time budget; worker stopped and replaced "
                    "(raise it with --time-budget)")
        if self.max_rss:
            rss = _rss(w.proc.pid)
            if rss is not None and rss > self.max_rss:
                return (f"worker used {rss / 2**20:.0f} MiB, over the {self.max_rss / 2**20:.0f} MiB per-worker "
                        "memory limit; worker stopped and replaced")
        return None


@contextlib.contextmanager
def _main_hidden():
    """Start a worker without re-importing the caller's ``__main__`` in it.

    multiprocessing re-runs the main script in every spawned / fork-server child; the workers
    need nothing from it, and a script that calls ``scan_many`` without an
    ``if __name__ == "__main__"`` guard would otherwise start workers recursively."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


def _wait(conns: list, timeout: float) -> list:
    from multiprocessing.connection import wait

    if not conns:
        return []
    return wait(conns, timeout)
