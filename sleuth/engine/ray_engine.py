"""The Ray engine: a job's pending shards stream through Ray Data and come back as shards.

Design
------
* **Cluster**: ``address`` joins an existing cluster (``ray.init(address=...)``: ``auto``,
  ``HOST:PORT`` or ``ray://HOST:PORT``); without one a private local Ray is started for the
  run, bound to 127.0.0.1 (loopback only), with no dashboard and a small object store, and shut
  down at the end. A driver already connected (``ray.is_initialized()``) is reused as it is.
* **Dataflow**: the pending items (those of shards not yet written) become one Arrow block per
  shard (``ray.data.from_arrow``); a CPU *task* stage reads (and for ``describe`` decodes and
  hashes) them; a fixed-size *actor pool* (``ActorPoolStrategy(size=workers)``) runs the model
  stage, so each actor loads its model once; when the cluster has GPUs the actors ask for one
  each (``num_gpus=1``). The two stages get different ``num_cpus`` so Ray Data keeps them as two
  operators instead of fusing them into the actor.
* **Output**: rows stream back to the driver (``iter_batches``), which writes a shard as soon as
  all its rows have arrived (:class:`~sleuth.engine.shards.ShardStore`): the driver is the one
  writer, as the SQLite index it feeds must be. A killed job restarts from the shards on disk.
* **Progress**: a Rich bar on stderr over all items of the job (resumed shards count as done)
  with the throughput of this run in items/s and the ETA.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .shards import ShardStore


@dataclass
class Stages:
    """The two stages of a job: a task function and an actor class, with their arguments."""

    read_fn: Callable | None  # None: the actor reads the items itself (all local paths)
    actor_cls: type
    finalize: Callable  # (shard id, list of rows) -> (table, arrays) written by the store
    read_kwargs: dict[str, Any] = field(default_factory=dict)
    actor_kwargs: dict[str, Any] = field(default_factory=dict)
    read_cpus: float = 0.25
    actor_cpus: float = 0.75
    batch_size: int = 16


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None, object_store_mb: int = 200) -> Iterator[Any]:
    """Connect to ``address`` or start a private loopback-only local Ray; yields the ``ray`` module.

    Parameters
    ----------
    address : str, optional
        Cluster address for ``ray.init(address=...)``; None starts a local Ray for the run.
    num_cpus : int, optional
        CPUs of the local Ray (default: this machine's CPU count).
    object_store_mb : int
        Object store of the local Ray, in MiB.

    Yields
    ------
    module
        The imported ``ray`` module, initialised.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:
        # Ray resolves 127.0.0.1 to the machine's routable address unless clusters are off:
        # with this set, the head, the raylet and every worker listen on loopback only
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if address is None:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # when ray was imported before the variable was set
    if ray.is_initialized():
        yield ray
        return
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        ray.init(address=address, **kw)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, object_store_memory=int(object_store_mb) << 20,
                 _node_ip_address="127.0.0.1", **kw)
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_data(ray) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def cluster_workers(ray, workers: int | None) -> tuple[int, int]:
    """(actor pool size, GPUs per actor): one actor per GPU when the cluster has GPUs, else
    ``workers`` or one per CPU."""
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    if gpus and not workers:
        return gpus, 1
    return max(1, int(workers or res.get("CPU", 1))), (1 if gpus else 0)


def run_stages(store: ShardStore, stages: Stages, *, address: str | None = None, workers: int | None = None,
               num_cpus: int | None = None, progress: bool = False) -> None:
    """Compute every shard of ``store`` that is not finished yet, writing each as it completes.

    Parameters
    ----------
    store : ShardStore
        The opened job folder.
    stages : Stages
        The task and actor stages of the job.
    address : str, optional
        Ray cluster address (None: a local loopback Ray for this run).
    workers : int, optional
        Actor pool size (default: one per CPU, or one per GPU when the cluster has GPUs).
    num_cpus : int, optional
        CPUs of the local Ray when one is started.
    progress : bool
        Show the progress bar on stderr.
    """
    import pyarrow as pa

    done = store.done()
    pending = [i for i in range(store.n_shards) if i not in done]
    bar = Bar(len(store.items), sum(len(store.shard_rows(i)) for i in done)) if progress else None
    try:
        if not pending:
            return
        with ray_session(address, num_cpus) as ray:
            _quiet_data(ray)
            size, gpus = cluster_workers(ray, workers)
            # blocks small enough that every actor gets work (4 blocks per actor), at most a shard
            n_items = sum(len(store.shard_rows(i)) for i in pending)
            chunk = int(min(store.shard_size, max(stages.batch_size, n_items // (4 * size) or 1)))
            blocks = []
            for i in pending:
                rows = store.shard_rows(i)
                for lo in range(0, len(rows), chunk):
                    part = rows[lo:lo + chunk]
                    blocks.append(pa.table({"pos": pa.array([p for p, _ in part], pa.int64()),
                                            "shard": pa.array([i] * len(part), pa.int64()),
                                            "path": pa.array([s for _, s in part], pa.string())}))
            ds = ray.data.from_arrow(blocks)
            if stages.read_fn is not None:
                ds = ds.map_batches(stages.read_fn, batch_size=stages.batch_size, batch_format="pyarrow",
                                    fn_kwargs=stages.read_kwargs, num_cpus=stages.read_cpus)
            ds = ds.map_batches(stages.actor_cls, batch_size=stages.batch_size, batch_format="pyarrow",
                                fn_constructor_kwargs=stages.actor_kwargs, num_cpus=stages.actor_cpus,
                                num_gpus=gpus, compute=ray.data.ActorPoolStrategy(size=size))
            _collect(store, ds, stages, pending, bar)
    finally:
        if bar:
            bar.stop()
        store.finish()


LAST_RUN: dict[str, float] = {}
"""Timing of the last :func:`run_stages` in this process (``start``, ``first``, ``last``
monotonic seconds, ``rows``, ``first_rows``): the steady-state rate is
``(rows - first_rows) / (last - first)``, without the actors' start-up. Read by ``bench/scale.py``."""


def _collect(store: ShardStore, ds, stages: Stages, pending: list[int], bar: Bar | None) -> None:
    want = {i: len(store.shard_rows(i)) for i in pending}
    buf: dict[int, list[dict[str, Any]]] = {i: [] for i in pending}
    LAST_RUN.clear()
    LAST_RUN.update(start=time.monotonic(), rows=0)
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        rows = batch.to_pylist()
        now = time.monotonic()
        if "first" not in LAST_RUN:
            LAST_RUN.update(first=now, first_rows=len(rows))
        LAST_RUN.update(last=now, rows=LAST_RUN["rows"] + len(rows))
        for r in rows:
            buf[r["shard"]].append(r)
        for s in {r["shard"] for r in rows}:
            if len(buf[s]) == want[s]:
                got = sorted(buf.pop(s), key=lambda r: r["pos"])
                table, arrays = stages.finalize(s, got)
                store.write_shard(s, table, arrays)
        if bar:
            bar.advance(len(rows))


class Bar:
    """Progress on stderr: items done of all, this run's items/s, ETA."""

    def __init__(self, total: int, already: int = 0):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.t0, self.new, self.total, self.already = time.monotonic(), 0, total, already
        self.prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"),
                             console=Console(stderr=True), transient=True)
        self.prog.start()
        self.task = self.prog.add_task("ray", total=total, completed=already, rate="-", eta="-")

    def advance(self, n: int) -> None:
        self.new += n
        dt = max(1e-6, time.monotonic() - self.t0)
        rate = self.new / dt
        left = max(0, self.total - self.already - self.new)
        eta = time.strftime("%H:%M:%S", time.gmtime(left / rate)) if rate > 0 else "-"
        self.prog.update(self.task, advance=n, rate=f"{rate:.1f} img/s", eta=eta)

    def stop(self) -> None:
        self.prog.stop()
