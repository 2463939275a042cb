"""Committing described images (the ``describe`` shards) into a :class:`CopyIndex`.

The commit rules are :meth:`CopyIndex.add`'s, applied to precomputed rows in input order:
broken items are skipped with their reason, an image whose sha256 is already in the index (or
earlier in the job) is a duplicate, the others are committed ``batch`` at a time, so ids,
duplicates and skips are what the local engine gives. Each commit is followed by a small record
in the job folder (``ingest/commit_NNNNNN.json``: the position reached and that batch's
results), so a killed ingest resumes after its last commit with the same final result.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from .shards import ShardStore


def described_rows(store: ShardStore, descriptors: list[str]) -> Iterator[dict[str, Any]]:
    """Rows of every shard in input order, with decoded codes and float vectors."""
    from .jobs import split_descriptors

    binary, floats = split_descriptors(descriptors)
    for i, table in store.iter_tables():
        embs = {d: store.read_array(i, _emb_folder(d, floats)) for d in floats} if floats else {}
        k = 0
        for r in table.to_pylist():
            if r["error"] is None:
                r["vecs"] = {d: (np.frombuffer(r[f"code_{d}"], np.uint8) if d in binary else embs[d][k])
                             for d in descriptors}
                k += 1
            yield r


def _emb_folder(d: str, floats: list[str]) -> str:
    return "img_emb" if d == floats[0] else f"emb_{d}"


def _records(store: ShardStore) -> list[dict[str, Any]]:
    folder = store._p("ingest")
    if not store.fs.exists(folder):
        return []
    out = []
    for f in sorted(store.fs.ls(folder, detail=False)):
        if f.endswith(".json") and ".tmp-" not in f:
            with store.fs.open(f, "rt") as fh:
                out.append(json.load(fh))
    return out


def ingest(idx, store: ShardStore, *, role: str, labels: dict | None, batch: int = 16,
           skip_duplicates: bool = True, progress: bool = False, refresh=None):
    """Commit a finished describe job into ``idx``; returns an :class:`AddResult`.

    Parameters
    ----------
    idx : CopyIndex
        The opened index (its descriptors are the job's).
    store : ShardStore
        The finished describe job.
    role : str
        ``reference`` or ``background``.
    labels : dict, optional
        Labels stored with every added image.
    batch : int
        Images per atomic commit (as ``CopyIndex.add``).
    skip_duplicates : bool
        Skip images whose sha256 is already indexed with this role.
    progress : bool
        Unused here (committing is fast); kept for symmetry with ``add``.
    refresh : callable, optional
        Called (under the writer lock) instead of ``idx._refresh_faiss(write=True)`` after
        references were added (the sharded FAISS build plugs in here).

    Returns
    -------
    AddResult
    """
    from ..copydetect.index import AddResult

    res = AddResult()
    start = -1
    for rec in _records(store):
        res.added += [tuple(x) for x in rec["added"]]
        res.skipped += [tuple(x) for x in rec["skipped"]]
        res.duplicates += [tuple(x) for x in rec["duplicates"]]
        start = rec["upto"]
    n_rec = len(_records(store))
    with idx.writer_lock():
        pending: list[tuple] = []
        seen_sha: dict[str, str] = {}
        since = AddResult()

        def commit(upto: int, final: bool = False) -> None:
            nonlocal pending, since, n_rec
            if pending:
                since.added = idx._commit(pending, role, labels)
            res.added += since.added
            rec = {"upto": upto, "final": final, "added": since.added, "skipped": since.skipped,
                   "duplicates": since.duplicates}
            store._write_bytes(store._p("ingest", f"commit_{n_rec:06d}.json"), json.dumps(rec).encode())
            n_rec += 1
            pending, since = [], AddResult()

        last = start
        for r in described_rows(store, idx.descriptors):
            if r["pos"] <= start:
                continue
            last = r["pos"]
            p = r["path"]
            if r["error"] is not None:
                since.skipped.append((p, r["error"]))
                res.skipped.append((p, r["error"]))
                continue
            sha = r["sha256"]
            if skip_duplicates:
                row = idx.db.execute("SELECT id FROM images WHERE sha256=? AND role=?", (sha, role)).fetchone()
                if row or sha in seen_sha:
                    dup = (p, int(row[0]) if row else -1)
                    since.duplicates.append(dup)
                    res.duplicates.append(dup)
                    continue
            seen_sha[sha] = p
            local = r["local"] if idx.manifest.get("local_features", True) and role == "reference" else None
            pending.append((p, sha, r["width"], r["height"], r["bytes"], r["vecs"], r["pdq_quality"], local))
            if len(pending) >= batch:
                commit(last)
        if last > start or pending:
            commit(last, final=True)
        if res.added and role == "reference":
            (refresh or (lambda: idx._refresh_faiss(write=True)))()
    return res
