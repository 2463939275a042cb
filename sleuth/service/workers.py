"""A fixed pool of scan worker processes the server can kill and replace.

Each worker is one process with its own pipe; it runs one job at a time. A request takes an
idle worker (waiting at most until its deadline), sends the job and waits for the answer in a
thread, so the event loop keeps serving ``/healthz`` and other requests. When the deadline
passes, the worker is killed (SIGKILL: a stuck decoder does not answer SIGTERM either) and a new
one is started in its place. ``concurrent.futures.ProcessPoolExecutor`` cannot kill one task's
process without breaking the whole pool, hence this small pool of our own.

Workers are forked from a fork server that has already imported sleuth and its analyzers, so a
replacement is ready in well under a second (models load lazily on its first full scan).
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import multiprocessing as mp
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("sleuth.service")


class BudgetExceeded(Exception):
    """The job did not finish before its deadline (the worker was killed)."""


class WorkerDied(Exception):
    """The worker process exited while running the job (e.g. killed by the OOM killer)."""


def _worker_main(conn, env: dict[str, str]) -> None:  # pragma: no cover - runs in the child
    os.environ.update(env)
    from .jobs import JOBS, init_worker

    init_worker()
    while True:
        try:
            name, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            res = JOBS[name](**kwargs)
        except Exception as exc:
            res = {"status": 500, "reason": f"internal error ({type(exc).__name__}: {exc})"[:400]}
        try:
            conn.send(res)
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, ctx, env: dict[str, str]):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, env), daemon=True, name="sleuth-scan-worker")
        self.proc.start()
        child.close()

    def call(self, job: tuple[str, dict[str, Any]], timeout: float) -> dict[str, Any]:
        self.conn.send(job)
        if not self.conn.poll(max(0.0, timeout)):
            raise BudgetExceeded()
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            raise WorkerDied() from None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(5)
        finally:
            self.conn.close()

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()


class WorkerPool:
    """``size`` worker processes; :meth:`run` sends a job to an idle one under a deadline.

    Parameters
    ----------
    size : int
        Number of worker processes (fixed).
    start_method : str
        multiprocessing start method (``forkserver``; ``spawn`` gives each worker a fresh
        interpreter that reads the environment at start).
    env : dict, optional
        Environment variables set in every worker.
    reserve : int
        Workers kept for quick jobs: a job costing more than ``small_cost`` waits rather than
        take one of the last ``reserve`` idle workers (at most ``size - 1``).
    small_cost : float
        Cost up to which a job counts as quick.
    """

    def __init__(self, size: int, start_method: str = "forkserver", env: dict[str, str] | None = None,
                 reserve: int = 0, small_cost: float = 0.0):
        self.size = size
        self.reserve = max(0, min(int(reserve), size - 1))
        self.small_cost = small_cost
        self.env = dict(env or {})
        self.ctx = mp.get_context(start_method if os.name != "nt" else "spawn")
        if start_method == "forkserver" and os.name != "nt":
            from ..analyzers import BUILTIN_MODULES

            self.ctx.set_forkserver_preload(["sleuth.service.jobs", "sleuth.pipeline", "cv2", *BUILTIN_MODULES])
        self._threads = ThreadPoolExecutor(max_workers=size + 1, thread_name_prefix="sleuth-pool")
        self._idle: list[_Worker] = []
        #: requests waiting for a worker, cheapest first: (cost, arrival, future)
        self._waiters: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._started = False
        self._all: list[_Worker] = []
        self.waiting = 0
        self.busy = 0
        self.restarts = 0

    async def start(self) -> None:
        """Start the workers (call from the serving event loop).

        Returns
        -------
        None
        """
        loop = asyncio.get_running_loop()
        for _ in range(self.size):
            w = await loop.run_in_executor(self._threads, _Worker, self.ctx, self.env)
            self._all.append(w)
            self._release(w)
        self._started = True

    def _eligible(self, cost: float) -> bool:
        """A large job may not take the last ``reserve`` idle workers (kept for quick jobs)."""
        return cost <= self.small_cost or len(self._idle) > self.reserve

    def _release(self, w: _Worker) -> None:
        self._idle.append(w)
        while self._idle and self._waiters:
            cost, _, fut = self._waiters[0]
            if fut.done():
                heapq.heappop(self._waiters)
                continue
            if not self._eligible(cost):
                break  # the cheapest waiter is large and only reserved workers are idle
            heapq.heappop(self._waiters)
            fut.set_result(self._idle.pop())

    async def _acquire(self, cost: float, deadline: float) -> _Worker:
        if self._idle and self._eligible(cost):
            return self._idle.pop()
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (cost, next(self._seq), fut))
        return await asyncio.wait_for(fut, timeout=max(0.001, deadline - time.monotonic()))

    def alive(self) -> int:
        """Workers whose process is running.

        Returns
        -------
        int
        """
        return sum(1 for w in self._all if w.alive)

    async def run(self, name: str, kwargs: dict[str, Any], deadline: float, cost: float = 0.0) -> dict[str, Any]:
        """Run job ``name`` with ``kwargs`` on one worker before ``deadline`` (``time.monotonic``).

        Parameters
        ----------
        name : str
            Job name in :data:`sleuth.service.jobs.JOBS`.
        kwargs : dict
            Its arguments (picklable).
        deadline : float
            ``time.monotonic()`` value by which the answer must be back.
        cost : float
            Expected work; when no worker is idle, the cheapest waiting job gets the next one
            (a quick check is not stuck behind a queue of 12 MP full scans).

        Returns
        -------
        dict
            The job's answer.

        Raises
        ------
        BudgetExceeded
            The deadline passed while waiting for a worker or while it ran (then it was killed).
        WorkerDied
            The worker exited during the job.
        """
        assert self._started, "WorkerPool.start() was not called"
        loop = asyncio.get_running_loop()
        self.waiting += 1
        try:
            w = await self._acquire(cost, deadline)
        except TimeoutError:
            raise BudgetExceeded() from None
        finally:
            self.waiting -= 1
        self.busy += 1
        try:
            res = await loop.run_in_executor(self._threads, w.call, (name, kwargs), deadline - time.monotonic())
        except asyncio.CancelledError:
            # the request went away while its job runs: the answer will never be read, so this
            # worker cannot be handed out again; kill and replace it in the background
            asyncio.ensure_future(self._replace(w))
            raise
        except (BudgetExceeded, WorkerDied, OSError) as exc:
            log.warning("scan worker pid %s %s; starting a new one", w.proc.pid,
                        "killed at the time budget" if isinstance(exc, BudgetExceeded) else "died")
            await self._replace(w)
            if isinstance(exc, OSError):
                raise WorkerDied() from None
            raise
        else:
            self._release(w)
        finally:
            self.busy -= 1
        return res

    async def _replace(self, w: _Worker) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._threads, w.kill)
        new = await loop.run_in_executor(self._threads, _Worker, self.ctx, self.env)
        self._all = [x for x in self._all if x is not w] + [new]
        self.restarts += 1
        self._release(new)

    def close(self) -> None:
        """Kill every worker.

        Returns
        -------
        None
        """
        for w in self._all:
            try:
                w.kill()
            except Exception:  # pragma: no cover
                pass
        self._all = []
        self._threads.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        """Process ids of the workers (for memory accounting).

        Returns
        -------
        list of int
        """
        return [w.proc.pid for w in self._all if w.proc.pid]
