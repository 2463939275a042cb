"""Job output as Parquet shards plus a manifest, in clip-retrieval's layout; resumable.

Layout of a job folder (local path or fsspec URL)::

    manifest.json                    format, kind, job key, item count, shard size, finished shards
    inputs.parquet                   pos, path: the ordered item list the job was started with
    reports/reports_00000.parquet    scan / detect: pos, path, error, report (JSON text)
    metadata/metadata_00000.parquet  describe: pos, path, error, sha256, size, hashes, local features
    img_emb/img_emb_00000.npy        describe: float32 rows of the first float descriptor, one per
                                     metadata row without an error (clip-retrieval's img_emb)
    emb_<name>/emb_<name>_00000.npy  further float descriptors, same rows

Shard ``i`` holds items ``[i * shard_size, (i + 1) * shard_size)`` of the input list, so the
partition depends only on the inputs. Every file is written whole under a temporary name and
renamed; a shard's Parquet file is written last, so a shard is finished exactly when that file
exists. A rerun with the same job key skips finished shards; a folder holding another job's
shards is refused (one-line error) rather than mixed.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

FORMAT = "sleuth-shards"
VERSION = 1


def job_key(kind: str, items: list[str], params: dict[str, Any]) -> str:
    """A stable hash of what a job computes: its kind, ordered items and parameters.

    Parameters
    ----------
    kind : str
        ``scan``, ``detect`` or ``describe``.
    items : list of str
        The ordered inputs.
    params : dict
        Everything else that changes the output (JSON-serialisable).

    Returns
    -------
    str
        64 hex digits.
    """
    from .. import __version__

    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "params": params, "sleuth": __version__}, sort_keys=True, default=str).encode())
    for it in items:
        h.update(it.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


class ShardStore:
    """A job folder: create or reopen it, find finished shards, write and read shards."""

    def __init__(self, root: str, kind: str, key: str, items: list[str], shard_size: int):
        import fsspec

        self.root = str(root).rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root)
        self.kind, self.key, self.items, self.shard_size = kind, key, list(items), int(shard_size)
        self.n_shards = (len(self.items) + self.shard_size - 1) // self.shard_size
        self.main = "reports" if kind in ("scan", "detect") else "metadata"

    # --------------------------------------------------------------- paths and atomic writes
    def _p(self, *parts: str) -> str:
        return "/".join([self._base, *parts])

    def shard_file(self, i: int, folder: str | None = None, ext: str = "parquet") -> str:
        folder = folder or self.main
        return self._p(folder, f"{folder}_{i:05d}.{ext}")

    def _write_bytes(self, path: str, data: bytes) -> None:
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, path)

    # --------------------------------------------------------------- manifest
    def open(self) -> ShardStore:
        """Create the folder and manifest, or check an existing one belongs to this job."""
        from ..errors import UsageError

        mpath = self._p("manifest.json")
        if self.fs.exists(mpath):
            with self.fs.open(mpath, "rt") as fh:
                m = json.load(fh)
            if m.get("format") != FORMAT or m.get("job_key") != self.key:
                raise UsageError(f"{self.root}: holds shards of another job (kind {m.get('kind')!r}); "
                                 "use another --shards folder or delete this one")
            return self
        if self.fs.exists(self._base) and self.fs.ls(self._base):
            raise UsageError(f"{self.root}: not empty and not a sleuth shard folder; refusing to write into it")
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.table({"pos": np.arange(len(self.items), dtype=np.int64), "path": self.items}), buf)
        self._write_bytes(self._p("inputs.parquet"), buf.getvalue())
        self._write_manifest([])
        return self

    def _write_manifest(self, done: Iterable[int]) -> None:
        m = {"format": FORMAT, "version": VERSION, "kind": self.kind, "job_key": self.key,
             "n_items": len(self.items), "shard_size": self.shard_size, "n_shards": self.n_shards,
             "layout": "clip-retrieval" if self.kind == "describe" else "reports",
             "finished_shards": sorted(done), "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write_bytes(self._p("manifest.json"), json.dumps(m, indent=1).encode())

    def done(self) -> set[int]:
        """Shards whose final Parquet file exists (written last, so the shard is complete)."""
        folder = self._p(self.main)
        if not self.fs.exists(folder):
            return set()
        out = set()
        for f in self.fs.ls(folder, detail=False):
            name = f.rsplit("/", 1)[-1]
            if name.endswith(".parquet") and ".tmp-" not in name:
                try:
                    out.add(int(name.rsplit("_", 1)[-1].split(".")[0]))
                except ValueError:
                    continue
        return {i for i in out if i < self.n_shards}

    def shard_rows(self, i: int) -> list[tuple[int, str]]:
        lo = i * self.shard_size
        return list(enumerate(self.items[lo:lo + self.shard_size], start=lo))

    def finish(self) -> None:
        self._write_manifest(self.done())

    # --------------------------------------------------------------- shard I/O
    def write_shard(self, i: int, table, arrays: dict[str, np.ndarray] | None = None) -> None:
        """Write shard ``i``: the ``.npy`` arrays first, then the Parquet table (the marker)."""
        import pyarrow.parquet as pq

        for folder, arr in (arrays or {}).items():
            buf = io.BytesIO()
            np.save(buf, arr)
            self._write_bytes(self.shard_file(i, folder, "npy"), buf.getvalue())
        buf = io.BytesIO()
        pq.write_table(table, buf)
        self._write_bytes(self.shard_file(i), buf.getvalue())

    def read_shard(self, i: int):
        import pyarrow.parquet as pq

        with self.fs.open(self.shard_file(i), "rb") as fh:
            return pq.read_table(fh)

    def read_array(self, i: int, folder: str) -> np.ndarray:
        with self.fs.open(self.shard_file(i, folder, "npy"), "rb") as fh:
            return np.load(io.BytesIO(fh.read()))

    def iter_tables(self) -> Iterator[tuple[int, Any]]:
        for i in range(self.n_shards):
            yield i, self.read_shard(i)

    def remove(self) -> None:
        self.fs.rm(self._base, recursive=True)
