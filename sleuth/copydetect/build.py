"""Building a copy-detection FAISS index at scale: plan, train once, add shards in parallel, merge.

Design
------
* **Plan** (:func:`plan`, autofaiss-style): from the vector count, the dimension and a memory
  budget. Up to the index's flat limit (``sleuth.copydetect.index.FLAT_MAX_FLOAT``) when the raw
  float32 vectors fit in a quarter of the budget, exact inner product (``Flat``). Beyond, ``IVF{nlist},PQ{m}x8``:
  ``nlist`` the power of two nearest ``4 * sqrt(n)`` (FAISS's guidance is 4-16 sqrt(n); the low
  end keeps k-means and the assignment of every vector affordable), ``m`` the largest of
  128/64/32/16/8 sub-quantisers dividing the dimension into sub-vectors of at least 4 dimensions whose codes (``m`` bytes plus an 8-byte id
  per vector) and centroids fit in half the budget, ``nprobe`` = ``nlist / 32`` clipped to
  16-256; the merge is then in memory. When even 8-byte codes do not fit, ``m`` = 64 and FAISS's
  on-disk merge (``faiss.contrib.ondisk.merge_ondisk``: inverted lists in one ``.ivfdata`` file
  that readers memory-map). The plan is written to ``build.json`` beside the index.
* **Train once**: the quantiser and PQ codebooks are trained on a sample of ``train_size``
  vectors (39 per list, FAISS's minimum without a warning, at most 100k), drawn evenly from
  every shard; the trained empty index is serialised once and handed to every task.
* **Add shards in parallel**: one Ray task per shard (``num_cpus=1``) loads its vectors (from a
  clip-retrieval ``img_emb`` ``.npy`` file, from the index's SQLite rows, or synthetic ones),
  adds them with their ids to a copy of the trained index and writes ``shard_NNNNN.index``
  (atomically; a rerun skips written shards). Without Ray the same function runs in-process.
* **Merge**: ``IndexIVF.merge_from`` in memory, or ``merge_ondisk`` when over budget.
* **Into a sleuth index**: :func:`build_for_index` writes the merged index where
  :class:`~sleuth.copydetect.index.CopyIndex` looks for it (``faiss/<desc>.g<gen>.m<maxid>.faiss``)
  and records the structure, so ``sleuth search`` opens and uses it unchanged (candidates from the
  IVF-PQ are re-scored exactly from the stored vectors, as for the index's own IVF-PQ).
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ID_BYTES = 8


@dataclass
class BuildPlan:
    """The chosen structure and why; serialised to ``build.json``."""

    n: int
    dim: int
    memory_budget: int
    structure: str  # "flat-ip" | "ivf-pq"
    factory: str  # FAISS index_factory string
    nlist: int = 0
    m: int = 0
    nbits: int = 8
    nprobe: int = 0
    train_size: int = 0
    merge: str = "memory"  # "memory" | "ondisk"
    bytes_per_vector: int = 0
    estimated_bytes: int = 0
    reason: str = ""


def plan(n: int, dim: int, memory_budget: int = 4 << 30, force_ivf: bool = False) -> BuildPlan:
    """Choose the index type and parameters for ``n`` vectors of ``dim`` within a memory budget.

    Parameters
    ----------
    n : int
        Number of vectors.
    dim : int
        Dimension (float32, inner product on L2-normalised vectors).
    memory_budget : int
        Bytes the built index may use in RAM.
    force_ivf : bool
        Choose IVF-PQ even where exact search would do (tests, benchmarks).

    Returns
    -------
    BuildPlan
    """
    from .index import FLAT_MAX_FLOAT

    flat_bytes = n * (dim * 4 + ID_BYTES)
    if not force_ivf and n <= FLAT_MAX_FLOAT and flat_bytes <= memory_budget // 4:
        return BuildPlan(n, dim, memory_budget, "flat-ip", "IDMap2,Flat", bytes_per_vector=dim * 4 + ID_BYTES,
                         estimated_bytes=flat_bytes, reason=f"n <= {FLAT_MAX_FLOAT} and raw vectors fit a quarter of the budget")
    nlist = int(2 ** round(math.log2(max(16.0, 4 * math.sqrt(max(n, 1))))))
    nlist = max(16, min(65536, nlist, max(16, n // 39)))
    m, merge = 0, "memory"
    for cand in (128, 64, 32, 16, 8):
        if dim % cand == 0 and dim // cand >= 4 and n * (cand + ID_BYTES) + nlist * dim * 4 <= memory_budget // 2:
            m = cand
            break
    why = f"{n} vectors past the flat limit or budget; PQ{m} codes + ids fit half the budget in RAM"
    if not m:  # even 8-byte codes do not fit: inverted lists on disk, memory-mapped by readers
        m, merge = next(c for c in (64, 32, 16, 8, 4, 2, 1) if dim % c == 0 and dim // c >= 4 or c == 1), "ondisk"
        why = f"{n} vectors: codes exceed half the budget even at PQ8, so the inverted lists stay on disk (PQ{m})"
    codes = n * (m + ID_BYTES) + nlist * dim * 4
    return BuildPlan(n, dim, memory_budget, "ivf-pq", f"IVF{nlist},PQ{m}x8", nlist=nlist, m=m, nprobe=int(min(256, max(16, nlist // 32))),
                     train_size=int(min(n, max(39 * nlist, 10_000), 100_000)), merge=merge, bytes_per_vector=m + ID_BYTES,
                     estimated_bytes=codes, reason=why)


# ----------------------------------------------------------------------------- shard sources
def npy_source(path: str, id_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """A clip-retrieval ``img_emb`` file; ids are ``id_offset`` + row."""
    x = np.load(path).astype(np.float32, copy=False)
    return x, np.arange(id_offset, id_offset + len(x), dtype=np.int64)


def synthetic_source(seed: int, n: int, dim: int = 512, id_offset: int = 0, n_clusters: int = 1000,
                     spread: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """SSCD-sized synthetic vectors for tests and benchmarks: L2-normalised points around
    ``n_clusters`` random directions (the same directions for every seed), ids from ``id_offset``."""
    centers = np.random.default_rng(12345).standard_normal((n_clusters, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    x = centers[rng.integers(0, n_clusters, n)] + spread / math.sqrt(dim) * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, np.float32), np.arange(id_offset, id_offset + n, dtype=np.int64)


def _sqlite_source(db_path: str, descriptor: str, lo: int, hi: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    import sqlite3

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT v.id, v.data FROM vectors v JOIN images i ON i.id = v.id WHERE v.descriptor=? "
                          "AND i.role='reference' AND v.id >= ? AND v.id < ? ORDER BY v.id", (descriptor, lo, hi)).fetchall()
    finally:
        db.close()
    if not rows:
        return np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
    return (np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim),
            np.array([r[0] for r in rows], np.int64))


# ----------------------------------------------------------------------------- the build
def train(p: BuildPlan, sources: Sequence[Callable[[], tuple[np.ndarray, np.ndarray]]], seed: int = 0):
    """The trained, empty index of a plan, from ``train_size`` vectors drawn evenly across sources."""
    import faiss

    idx: Any = faiss.index_factory(p.dim, p.factory, faiss.METRIC_INNER_PRODUCT)
    if p.structure == "ivf-pq":
        # index_factory turns on polysemous training for PQ codes of 8 bits: a Hamming re-ordering
        # of the codebooks that sleuth never uses at search time and that dominates training time
        ivfpq: Any = faiss.downcast_index(faiss.extract_index_ivf(idx))
        ivfpq.do_polysemous_training = False
        rng = np.random.default_rng(seed)
        per = max(1, -(-p.train_size // len(sources)))
        parts = []
        for src in sources:
            x, _ = src()
            parts.append(x[rng.choice(len(x), min(per, len(x)), replace=False)] if len(x) else x)
        sample = np.ascontiguousarray(np.concatenate(parts)[: p.train_size])
        idx.train(sample)
        faiss.extract_index_ivf(idx).nprobe = p.nprobe
    return idx


def add_shard(trained: np.ndarray, source: Callable, out_path: str) -> tuple[str, int]:
    """Add one shard's vectors to a copy of the trained index; write it to ``out_path``.

    Parameters
    ----------
    trained : ndarray
        ``faiss.serialize_index`` of the trained empty index.
    source : callable
        Returns (vectors, ids) of the shard.
    out_path : str
        Where the shard index goes (written atomically; an existing file is reused).

    Returns
    -------
    (str, int)
        The path and the number of vectors added.
    """
    import faiss

    from ..util import atomic_path

    if os.path.exists(out_path):
        return out_path, int(faiss.read_index(out_path, faiss.IO_FLAG_MMAP).ntotal)
    faiss.omp_set_num_threads(1)
    idx = faiss.deserialize_index(trained)
    x, ids = source()
    if len(x):
        idx.add_with_ids(np.ascontiguousarray(x, np.float32), ids)
    with atomic_path(out_path) as tmp:
        faiss.write_index(idx, str(tmp))
    return out_path, len(x)


def merge(p: BuildPlan, trained, shard_paths: list[str], out_path: str):
    """Merge shard indexes into one (in memory or on disk per the plan); returns the index."""
    import faiss

    if p.merge == "ondisk" and p.structure == "ivf-pq":
        from faiss.contrib.ondisk import merge_ondisk

        idx = faiss.clone_index(trained)
        merge_ondisk(idx, shard_paths, str(out_path) + ".ivfdata")
        return idx
    idx = faiss.clone_index(trained)
    for sp in shard_paths:
        part: Any = faiss.read_index(sp)
        if p.structure == "ivf-pq":
            faiss.extract_index_ivf(idx).merge_from(faiss.extract_index_ivf(part), 0)
            idx.ntotal = faiss.extract_index_ivf(idx).ntotal
        else:
            xb = part.index.reconstruct_n(0, part.ntotal) if part.ntotal else None
            if xb is not None:
                idx.add_with_ids(xb, faiss.vector_to_array(part.id_map).astype(np.int64))
    return idx


def build(sources: Sequence[Callable[[], tuple[np.ndarray, np.ndarray]]], n: int, dim: int, work_dir: str | os.PathLike,
          *, memory_budget: int = 4 << 30, force_ivf: bool = False, engine: str = "ray", address: str | None = None,
          num_cpus: int | None = None) -> tuple[Any, BuildPlan, dict[str, float]]:
    """Plan, train once, add every source as a shard (in parallel on Ray), merge.

    Parameters
    ----------
    sources : sequence of callables
        One per shard, each returning (float32 vectors, int64 ids); picklable (module-level
        functions or ``functools.partial`` of them) for Ray.
    n, dim : int
        Total vector count and dimension.
    work_dir : path
        Folder for the shard indexes, the merged index and ``build.json`` (shared storage on a
        multi-node cluster). Finished shards are reused by a rerun.
    memory_budget : int
        Bytes, see :func:`plan`.
    force_ivf : bool
        IVF-PQ even for small inputs.
    engine : str
        ``ray`` (one task per shard) or ``local`` (in this process).
    address, num_cpus
        Ray cluster address / local Ray size (see :func:`sleuth.engine.ray_engine.ray_session`).

    Returns
    -------
    (faiss.Index, BuildPlan, dict)
        The merged index, the plan, and timings in seconds (``train``, ``add``, ``merge``).
    """
    import faiss

    from ..util import atomic_write_text

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    p = plan(n, dim, memory_budget, force_ivf=force_ivf)
    t0 = time.perf_counter()
    trained = train(p, sources)
    blob = faiss.serialize_index(trained)
    t1 = time.perf_counter()
    outs = [str(work / f"shard_{i:05d}.index") for i in range(len(sources))]
    if engine == "ray":
        from ..engine.ray_engine import ray_session

        with ray_session(address, num_cpus) as ray:
            task = ray.remote(num_cpus=1)(add_shard)
            ref = ray.put(blob)
            paths = [r[0] for r in ray.get([task.remote(ref, s, o) for s, o in zip(sources, outs, strict=False)])]
    else:
        paths = [add_shard(blob, s, o)[0] for s, o in zip(sources, outs, strict=False)]
    t2 = time.perf_counter()
    merged = merge(p, trained, paths, str(work / "merged.index"))
    t3 = time.perf_counter()
    timings = {"train": round(t1 - t0, 3), "add": round(t2 - t1, 3), "merge": round(t3 - t2, 3)}
    atomic_write_text(work / "build.json", json.dumps({"plan": asdict(p), "timings": timings, "shards": len(sources)}, indent=2))
    return merged, p, timings


def build_for_index(index, descriptor: str = "sscd", *, shard_size: int = 100_000, memory_budget: int = 4 << 30,
                    force_ivf: bool = False, engine: str = "ray", address: str | None = None) -> BuildPlan:
    """Build the FAISS structure of a :class:`CopyIndex` descriptor with :func:`build` and install it.

    Parameters
    ----------
    index : CopyIndex
        The opened index (its SQLite rows are the vectors; ids are image ids).
    descriptor : str
        A float descriptor of the index.
    shard_size : int
        Image ids per shard task.
    memory_budget, force_ivf, engine, address
        As :func:`build`.

    Returns
    -------
    BuildPlan
        Also recorded in the index manifest under ``builds``.
    """
    import faiss

    from ..util import atomic_path, atomic_write_text
    from . import descriptors as D
    from .index import MANIFEST, choose_structure

    d = D.get(descriptor)
    n = index.count("reference")
    # the structure the index expects at this size, so that opening it accepts the built file
    force_ivf = force_ivf or choose_structure("float", n) == "ivf-pq"
    max_id = int(index.db.execute("SELECT COALESCE(MAX(id), 0) FROM images").fetchone()[0])
    db_path = str(Path(index.root, "meta.sqlite").resolve())
    sources = [partial(_sqlite_source, db_path, descriptor, lo, lo + shard_size, d.dim) for lo in range(1, max_id + 1, shard_size)]
    gen = index.generation
    work = Path(index.root) / "faiss" / f".build-{descriptor}-g{gen}"
    merged, p, timings = build(sources, n, d.dim, work, memory_budget=memory_budget, force_ivf=force_ivf,
                               engine=engine, address=address)
    dest = Path(index.root) / "faiss" / f"{descriptor}.g{gen}.m{max_id}.faiss"
    with atomic_path(dest) as tmp:
        faiss.write_index(merged, str(tmp))
    for _, _, old in index._faiss_files(descriptor):
        if old != dest:
            old.unlink(missing_ok=True)
    for f in work.glob("shard_*.index"):
        f.unlink()
    index.manifest.setdefault("structures", {})[descriptor] = p.structure
    index.manifest.setdefault("builds", {})[descriptor] = {**asdict(p), "timings": timings, "generation": gen}
    atomic_write_text(Path(index.root) / MANIFEST, json.dumps(index.manifest, indent=2))
    index._faiss.pop(descriptor, None)
    return p
