"""Execution engines for batch jobs: ``local`` (a process pool on this machine) and ``ray``
(Ray Data on a local or remote Ray cluster).

Both run the same library code per image: :func:`sleuth.pipeline.scan` for ``scan`` and
``detect`` (a selection of the ``ai-generated`` analyzer), the :mod:`sleuth.copydetect.descriptors` and
:func:`~sleuth.copydetect.verify.extract` for ``index add``. The local engine *is* the existing
code path (:func:`sleuth.pipeline.scan_many`, :meth:`CopyIndex.add`); the Ray engine only
changes scheduling and I/O (:mod:`.ray_engine`), writes its results as shards
(:mod:`.shards`), and is resumable: rerunning a killed job reuses every finished shard.

Functions here take the item list (see :func:`sleuth.engine.inputs.expand`) and return results
in input order, so a command prints the same output whichever engine computed it.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

ENGINES = ("local", "ray")
DEFAULT_SHARD_SIZE = 256


def job_dir(kind: str, key: str, shards: str | None) -> tuple[str, bool]:
    """(folder, keep): ``shards`` when given (kept), else a cache folder removed after success."""
    if shards:
        return str(shards), True
    from ..models import cache_dir

    return str(cache_dir() / "jobs" / f"{kind}-{key[:16]}"), False


def _run(kind: str, items: list[str], params: dict[str, Any], stages, *, shards: str | None,
         shard_size: int, address: str | None, workers: int | None, num_cpus: int | None, progress: bool):
    from .ray_engine import run_stages
    from .shards import ShardStore, job_key

    key = job_key(kind, items, {**params, "shard_size": shard_size})
    root, keep = job_dir(kind, key, shards)
    store = ShardStore(root, kind, key, items, shard_size).open()
    run_stages(store, stages, address=address, workers=workers, num_cpus=num_cpus, progress=progress)
    return store, keep


def _reader(items: list[str]):
    """The fetch stage when some item is a remote URI; local paths are read by the pipeline itself."""
    from .inputs import is_uri
    from .jobs import read_bytes

    return read_bytes if any(is_uri(i) for i in items) else None


def _report_finalize(shard: int, rows: list[dict[str, Any]]):
    import pyarrow as pa

    from .jobs import report_schema

    return pa.Table.from_pylist(rows, schema=report_schema()), None


def _iter_reports(store, keep: bool) -> Iterator[dict[str, Any]]:
    import json

    for _, table in store.iter_tables():
        for r in table.column("report").to_pylist():
            yield json.loads(r)
    if not keep:
        store.remove()


def scan_ray(items: list[str], analyzers: list[str] | None = None, *, tier: str = "full",
             options: dict[str, Any] | None = None, shards: str | None = None,
             shard_size: int = DEFAULT_SHARD_SIZE, address: str | None = None, workers: int | None = None,
             num_cpus: int | None = None, progress: bool = False) -> Iterator[dict[str, Any]]:
    """Scan ``items`` on Ray; yields each report as ``Report.to_dict()`` in input order.

    Parameters
    ----------
    items : list of str
        Paths or URIs, in order.
    analyzers, tier, options
        As :func:`sleuth.pipeline.scan`.
    shards : str, optional
        Job folder (local or fsspec URL) kept after the run; default a cache folder removed
        after a successful run. A rerun of the same job reuses its finished shards.
    shard_size : int
        Items per shard.
    address : str, optional
        Ray cluster address; None starts a local loopback-only Ray for the run.
    workers : int, optional
        Actors in the pool (default one per CPU of the cluster).
    num_cpus : int, optional
        CPUs of the local Ray when one is started.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    iterator of dict
    """
    from .jobs import ScanActor
    from .ray_engine import Stages

    options = dict(options or {})
    stages = Stages(_reader(items), ScanActor, actor_kwargs={"analyzers": analyzers, "tier": tier, "options": options},
                    finalize=_report_finalize, batch_size=32)
    params = {"analyzers": analyzers, "tier": tier, "options": options}
    store, keep = _run("scan", items, params, stages, shards=shards, shard_size=shard_size, address=address,
                       workers=workers, num_cpus=num_cpus, progress=progress)
    return _iter_reports(store, keep)


def _engine_kw(kw: dict[str, Any]) -> dict[str, Any]:
    return {"shards": kw.get("shards"), "shard_size": kw.get("shard_size") or DEFAULT_SHARD_SIZE,
            "address": kw.get("address"), "workers": kw.get("workers"), "num_cpus": kw.get("num_cpus"),
            "progress": bool(kw.get("progress"))}


def _describe_finalize(floats: list[str]):
    def fin(shard: int, rows: list[dict[str, Any]]):
        import numpy as np
        import pyarrow as pa

        from .ingest import _emb_folder

        arrays = {}
        for d in floats:
            vecs = [np.frombuffer(r[f"emb_{d}"], np.float32) for r in rows if r["error"] is None]
            arrays[_emb_folder(d, floats)] = np.stack(vecs) if vecs else np.zeros((0, 0), np.float32)
        keep = [c for c in rows[0] if not c.startswith("emb_")] if rows else ["pos"]
        table = pa.Table.from_pylist([{c: r.get(c) for c in keep} for r in rows])
        return table, arrays

    return fin


def describe_ray(items: list[str], descriptors: list[str], local_features: bool = True, **kw: Any):
    """Describe ``items`` for a copy-detection index on Ray; returns the finished ShardStore.

    Parameters
    ----------
    items : list of str
        Paths or URIs.
    descriptors : list of str
        Descriptor names in the index's order.
    local_features : bool
        Extract SIFT features (stored with references).
    **kw
        ``shards``, ``shard_size``, ``address``, ``workers``, ``num_cpus``, ``progress``, and
        ``extra`` (dict folded into the job key).

    Returns
    -------
    (ShardStore, bool)
        The job folder and whether it is kept after use.
    """
    from .jobs import EmbedActor, describe_decode, split_descriptors
    from .ray_engine import Stages

    _, floats = split_descriptors(descriptors)
    stages = Stages(describe_decode, EmbedActor, read_kwargs={"descriptors": list(descriptors), "local_features": local_features},
                    actor_kwargs={"descriptors": list(descriptors)}, read_cpus=0.5, actor_cpus=0.4,
                    finalize=_describe_finalize(floats))
    params = {"descriptors": list(descriptors), "local": local_features, **(kw.get("extra") or {})}
    return _run("describe", items, params, stages, **_engine_kw(kw))


def index_add_ray(idx, items: list[str], *, role: str = "reference", labels: dict | None = None, batch: int = 16,
                  memory_budget: int = 4 << 30, **kw: Any):
    """``CopyIndex.add`` on Ray: describe on the cluster, commit here; returns an AddResult.

    Parameters
    ----------
    idx : CopyIndex
        Opened (or created) index.
    items : list of str
        Paths or URIs in order.
    role, labels, batch
        As :meth:`CopyIndex.add`.
    memory_budget : int
        Bytes the FAISS structure may take when it is built by :mod:`sleuth.copydetect.build`
        (past the index's flat limit).
    **kw
        Engine keywords as :func:`describe_ray`.

    Returns
    -------
    AddResult
    """
    from .ingest import ingest

    local = bool(idx.manifest.get("local_features", True)) and role == "reference"
    extra = {"index": os.path.abspath(str(idx.root)), "role": role, "labels": labels or {}, "batch": batch}
    store, keep = describe_ray(items, idx.descriptors, local_features=local, extra=extra, **kw)

    def refresh() -> None:
        # past the index's flat limit, build the IVF-PQ with the sharded builder (one Ray task
        # per shard) instead of one process; the index then finds it current and uses it
        from ..copydetect.build import build_for_index
        from ..copydetect.index import choose_structure
        from .jobs import split_descriptors

        n_ref = idx.count("reference")
        for d in split_descriptors(idx.descriptors)[1]:
            if choose_structure("float", n_ref) == "ivf-pq":
                build_for_index(idx, d, address=kw.get("address"), memory_budget=memory_budget)
        idx._refresh_faiss(write=True)

    res = ingest(idx, store, role=role, labels=labels, batch=batch, refresh=refresh)
    if not keep:
        store.remove()
    return res


__all__ = ["ENGINES", "describe_ray", "index_add_ray", "job_dir", "scan_ray"]
