"""Persistent copy-detection index: SQLite is the truth, FAISS files are derived caches.

Design
------
An index is a directory::

    sleuth-index.json          format name + version, descriptors, FAISS choice per descriptor
    meta.sqlite                images (id, path/URI, sha256, size, time added, labels, role),
                               descriptor vectors, local (SIFT) features, a generation counter,
                               a log of removals per generation
    faiss/<desc>.g<N>.m<I>.faiss  search structure for references at generation N (ids <= I)
    .write.lock                file lock held by the one writer

* **Atomic commits**: ``add`` commits every batch (default 16 images) in one SQLite transaction
  (WAL, synchronous=FULL) that also bumps the generation. A kill -9 mid-add loses at most the
  batch in flight. After each commit the generation is recorded in ``committed.json``
  (atomically) and the WAL is checkpointed into ``meta.sqlite``; an index whose database is
  behind ``committed.json`` (its WAL deleted before a checkpoint) is refused with a one-line
  error instead of opening as if those batches never existed. FAISS files are derived: written with :func:`sleuth.util.atomic_path` under
  ``<desc>.g<generation>.m<max id>.faiss``; an opener whose generation has no file takes the
  newest older one and catches up (removals are logged per generation; references with a larger
  id are added), so neither a crash nor a reader ever sees half a file or trusts a stale one.
* **Damage**: a truncated or corrupt ``meta.sqlite`` gives one line naming the file and the
  recovery command (``sqlite3 meta.sqlite .recover``), at open (the tables' last pages are read
  then) or whenever a later query meets a damaged page.
* **One writer**: ``add``/``remove`` hold ``.write.lock`` (filelock) for each batch commit and the
  final FAISS refresh, not while describing images, so a second writer does its own work in
  parallel and waits only for commits. A writer that finds the lock taken says so on stderr
  (``on_wait``) and waits up to ``lock_timeout`` seconds (``DEFAULT_LOCK_TIMEOUT``, or
  ``SLEUTH_INDEX_LOCK_TIMEOUT``) before a one-line error. Readers need no lock and never write:
  a reader that rebuilt a FAISS structure saves it only if it can take the lock at once.
* **Search structure, chosen automatically and recorded in the manifest** (the measurements that
  set the limits are in the ``copydetect-scale`` section of docs/benchmarks.md, from
  ``bench/copydetect.py --scale``): exact inner product for SSCD misses the latency goal at 1M, so
  ``flat-ip`` is used up to 500k references and IVF-PQ (sqrt(n) lists, 64 sub-quantisers x 8 bits;
  candidates re-scored exactly from SQLite) beyond, searched with nprobe 64. Binary codes (PDQ,
  pHash) are searched exactly up to 20M (``binary-flat``), ``binary-ivf`` beyond.
* **Versioned format**: ``FORMAT_VERSION``; an index written by a newer version is refused
  with a one-line error, a foreign directory likewise.
* **Roles**: ``reference`` images are searched; ``background`` images (distractors) are only
  used for score normalisation (see :mod:`sleuth.copydetect.normalize`).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexError_, SleuthError, UsageError
from ..settings import get_settings
from ..util import atomic_path, atomic_write_text
from . import descriptors as D

FORMAT_NAME = "sleuth-copydetect-index"
FORMAT_VERSION = 1
MANIFEST = "sleuth-index.json"
DB = "meta.sqlite"
DEFAULT_DESCRIPTORS = ("sscd", "pdq")
#: generation of the last acknowledged commit (see ``CopyIndex._check_committed``)
COMMITTED = "committed.json"
#: seconds a writer waits for another writer's lock (held per batch commit, not per job)
DEFAULT_LOCK_TIMEOUT = 600.0
FLAT_MAX_FLOAT = 500_000
FLAT_MAX_BINARY = 20_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  path TEXT NOT NULL, sha256 TEXT NOT NULL, width INTEGER, height INTEGER, bytes INTEGER,
  added REAL NOT NULL, labels TEXT NOT NULL DEFAULT '{}', role TEXT NOT NULL DEFAULT 'reference',
  pdq_quality INTEGER
);
CREATE INDEX IF NOT EXISTS images_sha ON images(sha256);
CREATE TABLE IF NOT EXISTS vectors (id INTEGER NOT NULL, descriptor TEXT NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (id, descriptor));
CREATE TABLE IF NOT EXISTS local (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS removed (id INTEGER NOT NULL, generation INTEGER NOT NULL);
"""


@dataclass
class AddResult:
    added: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    duplicates: list[tuple[str, int]] = field(default_factory=list)  # (path, existing id)


def _is_damage(exc: BaseException) -> bool:
    """A database error that means a damaged file (not a busy lock or a constraint)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return False
    if isinstance(exc, sqlite3.OperationalError):
        msg = str(exc).lower()
        return any(k in msg for k in ("malformed", "not a database", "disk i/o", "no such table"))
    return isinstance(exc, sqlite3.DatabaseError)


class _Guarded:
    """A sqlite3 connection whose damage errors (from execute or from fetching) become the
    index's one-line error instead of a traceback."""

    def __init__(self, db: sqlite3.Connection, to_error):
        self._db, self._to_error = db, to_error

    def _call(self, fn, *a):
        try:
            return fn(*a)
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            raise self._to_error(exc) from None

    def execute(self, *a):
        return _GuardedCursor(self._call(self._db.execute, *a), self._call)

    def executemany(self, *a):
        return _GuardedCursor(self._call(self._db.executemany, *a), self._call)

    def executescript(self, *a):
        return self._call(self._db.executescript, *a)

    def close(self) -> None:
        self._db.close()


class _GuardedCursor:
    def __init__(self, cur: sqlite3.Cursor, call):
        self._cur, self._callf = cur, call

    @property
    def lastrowid(self):
        return self._cur.lastrowid

    def fetchone(self):
        return self._callf(self._cur.fetchone)

    def fetchall(self):
        return self._callf(self._cur.fetchall)

    def __iter__(self):
        return iter(self.fetchall())


def _storable(path: str, labels_json: str) -> tuple[str, str]:
    """A path SQLite can store (text must be valid UTF-8): undecodable bytes become U+FFFD and
    the exact bytes go into the row's labels as ``path_bytes_hex``."""
    from ..imageio import display_path, path_bytes_hex

    raw = path_bytes_hex(path)
    if raw is None:
        return path, labels_json
    return display_path(path), json.dumps({**json.loads(labels_json), "path_bytes_hex": raw})


def _stderr_line(msg: str) -> None:
    import sys

    sys.stderr.write(" ".join(msg.split()) + "\n")
    sys.stderr.flush()


def choose_structure(kind: str, n: int) -> str:
    """The search structure for ``n`` entries of a ``binary`` or ``float`` descriptor."""
    if kind == "binary":
        return "binary-flat" if n <= max(FLAT_MAX_BINARY, 10_000) else "binary-ivf"
    return "flat-ip" if n <= max(FLAT_MAX_FLOAT, 10_000) else "ivf-pq"  # IVF-PQ needs training data


def _nlist(n: int) -> int:
    """Inverted lists for n entries: sqrt(n) (the low end of FAISS's 4-16 sqrt(n) guidance keeps
    k-means training affordable on a laptop: 1M entries -> 1,000 lists)."""
    return int(max(16, min(65536, np.sqrt(n))))


def build_faiss(kind: str, dim: int, vecs: np.ndarray, ids: np.ndarray, structure: str | None = None):
    """Build a FAISS index over ``vecs`` (packed uint8 codes or float32 rows) with int64 ``ids``."""
    import faiss

    n = len(vecs)
    structure = structure or choose_structure(kind, n)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    idx: Any  # the faiss index classes share no typed base
    if structure == "binary-flat":
        idx = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(dim))
    elif structure == "binary-ivf":
        nlist = _nlist(n)
        bquant = faiss.IndexBinaryFlat(dim)
        ivf = faiss.IndexBinaryIVF(bquant, dim, nlist)
        ivf.nprobe = 32
        ivf.train(vecs[np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)])
        idx = ivf
    elif structure == "flat-ip":
        idx = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    elif structure == "ivf-pq":
        nlist = _nlist(n)
        quant = faiss.IndexFlatIP(dim)
        idx = faiss.IndexIVFPQ(quant, dim, nlist, 64, 8, faiss.METRIC_INNER_PRODUCT)
        idx.train(np.ascontiguousarray(vecs[np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)]))
        idx.nprobe = 64
    else:
        raise UsageError(f"unknown search structure '{structure}'")
    if n:
        idx.add_with_ids(np.ascontiguousarray(vecs), ids)
    return idx


class CopyIndex:
    """An opened index directory. Use :meth:`open` (readers) or :meth:`create_or_open` (writers)."""

    def __init__(self, root: Path, manifest: dict[str, Any]):
        self.root = Path(root)
        self.manifest = manifest
        self.descriptors: list[str] = list(manifest["descriptors"])
        self._db: _Guarded | None = None
        self._faiss: dict[str, tuple[int, Any, int, str]] = {}  # gen, structure, max id, kind of structure
        self._bg: tuple[int, dict[str, np.ndarray]] | None = None
        self._local_cache: dict[int, Any] = {}
        self._counts: dict[tuple[int, str], int] = {}

    # ------------------------------------------------------------------ opening
    @staticmethod
    def _read_manifest(root: Path) -> dict[str, Any]:
        mpath = root / MANIFEST
        if not root.exists():
            raise IndexError_("no such index directory (create one with 'sleuth index add')", str(root))
        if not root.is_dir():
            raise IndexError_("not a directory, so not a sleuth index", str(root))
        if not mpath.is_file():
            raise IndexError_(f"not a sleuth index (no {MANIFEST} in this directory)", str(root))
        try:
            m = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            raise IndexError_(f"unreadable {MANIFEST} ({' '.join(str(exc).split())[:100]})", str(root)) from None
        if not isinstance(m, dict) or m.get("format") != FORMAT_NAME:
            raise IndexError_(f"foreign index (format {m.get('format') if isinstance(m, dict) else '?'!r}, expected {FORMAT_NAME!r})", str(root))
        v = m.get("version")
        if not isinstance(v, int):
            raise IndexError_("index manifest has no format version", str(root))
        if v > FORMAT_VERSION:
            raise IndexError_(f"index format version {v} is newer than this sleuth supports ({FORMAT_VERSION}); upgrade sleuth", str(root))
        if not (root / DB).is_file():
            raise IndexError_(f"index is missing {DB}", str(root))
        return m

    @classmethod
    def open(cls, root: str | os.PathLike) -> CopyIndex:
        root = Path(root)
        return cls(root, cls._read_manifest(root))

    @classmethod
    def create_or_open(cls, root: str | os.PathLike, descriptors: Iterable[str] | None = None,
                       local_features: bool = True) -> CopyIndex:
        root = Path(root)
        if (root / MANIFEST).exists() or (root.exists() and not root.is_dir()):
            idx = cls.open(root)
            if descriptors and list(descriptors) != idx.descriptors:
                raise UsageError(f"{root}: index was built with descriptors {','.join(idx.descriptors)}, "
                                 f"not {','.join(descriptors)}")
            return idx
        if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
            raise IndexError_(f"not a sleuth index (no {MANIFEST}) and not empty; refusing to write into it", str(root))
        descs = list(descriptors or DEFAULT_DESCRIPTORS)
        for d in descs:
            D.get(d)
        root.mkdir(parents=True, exist_ok=True)
        m = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "descriptors": descs, "local_features": bool(local_features), "structures": {}}
        idx = cls(root, m)
        idx._connect()  # creates the database first: the manifest is the last thing written
        atomic_write_text(root / MANIFEST, json.dumps(m, indent=2))
        return idx

    def _connect(self) -> _Guarded:
        if self._db is None:
            path = self.root / DB
            try:
                db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)
                # touch the right-most pages of the tables: a truncated file fails here, not mid-search
                db.execute("SELECT MAX(id) FROM images").fetchone()
                row = db.execute("SELECT value FROM state WHERE key='generation'").fetchone()
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise
                raise self._corrupt(exc) from None
            self._db = _Guarded(db, self._corrupt)
            self._check_committed(int(row[0]) if row else 0)
        return self._db

    def _corrupt(self, exc: BaseException) -> IndexError_:
        """The one-line error for a damaged database, naming the file and how to recover."""
        db = self.root / DB
        return IndexError_(f"index database {db} is unreadable ({' '.join(str(exc).split())[:80]}); recover it with "
                           f"\"sqlite3 '{db}' .recover | sqlite3 '{db}.recovered'\" and move that file over {DB}, "
                           "or rebuild the index with 'sleuth index add'", str(self.root))

    def _check_committed(self, gen: int) -> None:
        """Refuse an index whose database is older than the last generation it acknowledged.

        Every commit records its generation in ``COMMITTED`` (atomically) before the checkpoint
        that moves it from the write-ahead log into ``meta.sqlite``; a database behind that file
        lost committed batches (typically ``meta.sqlite-wal`` deleted after a crash)."""
        try:
            want = int(json.loads((self.root / COMMITTED).read_text()).get("generation", 0))
        except (OSError, ValueError, AttributeError):
            return
        if gen < want:
            self.close()
            raise IndexError_(f"index database is at generation {gen} but generation {want} was committed: "
                              f"committed batches were lost (was {DB}-wal deleted before a checkpoint?); "
                              "re-add the images added since, or restore a backup", str(self.root))

    def _committed(self, db: sqlite3.Connection | _Guarded) -> None:
        """After a COMMIT: record the generation, then checkpoint the WAL into the database file."""
        gen = int(db.execute("SELECT value FROM state WHERE key='generation'").fetchone()[0])
        atomic_write_text(self.root / COMMITTED, json.dumps({"generation": gen}))
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.OperationalError:
            pass  # a busy reader: the next commit's checkpoint (or SQLite's own) moves these pages

    @property
    def db(self) -> _Guarded:
        return self._connect()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> CopyIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def writer_lock(self, timeout: float | None = None, on_wait: Callable[[str], None] | None = None):
        """Context manager: the single-writer lock.

        When another writer holds it, ``on_wait`` (default: a line on stderr) is told once, and
        the call waits up to ``timeout`` seconds (default ``DEFAULT_LOCK_TIMEOUT``, or
        ``SLEUTH_INDEX_LOCK_TIMEOUT``) before a one-line error."""
        import contextlib

        from filelock import FileLock, Timeout

        timeout = float(get_settings().index_lock_timeout if timeout is None else timeout)
        lock = FileLock(str(self.root / ".write.lock"))
        say = on_wait or _stderr_line

        @contextlib.contextmanager
        def cm():
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if timeout > 0:
                    say(f"{self.root}: index is locked by another writer; waiting up to {timeout:g} s "
                        "(set SLEUTH_INDEX_LOCK_TIMEOUT to change)")
                try:
                    lock.acquire(timeout=timeout)
                except Timeout:
                    raise IndexError_(f"index is locked by another writer (waited {timeout:g} s for .write.lock)",
                                      str(self.root)) from None
            try:
                yield
            finally:
                lock.release()

        return cm()

    def _try_lock(self):
        """The writer lock if it is free right now (for readers that would save a cache), else None."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.root / ".write.lock"))
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):
            return None
        return lock

    # ------------------------------------------------------------------ state
    @property
    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM state WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def count(self, role: str = "reference") -> int:
        """Number of images of a role (cached per generation: a COUNT over a large table is not free)."""
        key = (self.generation, role)
        if key not in self._counts:
            self._counts = {k: v for k, v in self._counts.items() if k[0] == key[0]}
            self._counts[key] = int(self.db.execute("SELECT COUNT(*) FROM images WHERE role=?", (role,)).fetchone()[0])
        return self._counts[key]

    def stats(self) -> dict[str, Any]:
        db = self.db
        n_ref, n_bg = self.count("reference"), self.count("background")
        size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        structures = {d: choose_structure(D.get(d).kind, n_ref) for d in self.descriptors}
        last = db.execute("SELECT MAX(added) FROM images").fetchone()[0]
        return {"index": str(self.root), "format_version": self.manifest.get("version"), "descriptors": self.descriptors,
                "references": n_ref, "background": n_bg, "generation": self.generation, "structures": structures,
                "local_features": bool(self.manifest.get("local_features", True)), "disk_bytes": size,
                "bytes_per_image": round(size / max(1, n_ref + n_bg)),
                "last_added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)) if last else None}

    # ------------------------------------------------------------------ writing
    def add(self, paths: Iterable[str], *, role: str = "reference", labels: dict[str, Any] | None = None,
            batch: int = 16, progress: bool = False, skip_duplicates: bool = True,
            lock_timeout: float | None = None, on_commit=None, on_wait=None) -> AddResult:
        """Describe and add images; broken files are skipped and listed, the rest added.

        Images are described without the writer lock; the lock is held for each batch's commit
        (and the final FAISS refresh), so a second writer waits for one commit, not for the
        whole job. Each batch is committed atomically; ``on_commit(n_committed)`` is called
        after each; ``on_wait(message)`` when the lock is busy (default: stderr).
        """
        from ..imageio import load_image
        from .verify import extract

        if role not in ("reference", "background"):
            raise UsageError(f"role must be 'reference' or 'background', not {role!r}")
        paths = [str(p) for p in paths]
        res = AddResult()
        bar = D._progress(len(paths), "indexing") if progress and len(paths) > 1 else None
        pending: list[tuple] = []
        seen_sha: dict[str, str] = {}

        def flush() -> None:
            with self.writer_lock(lock_timeout, on_wait):
                res.added.extend(self._commit(pending, role, labels, res, skip_duplicates))
            pending.clear()
            if on_commit:
                on_commit(len(res.added))

        try:
            for p in paths:
                try:
                    img = load_image(p)
                    sha = img.sha256
                    if skip_duplicates:
                        row = self._guard(lambda sha=sha: self.db.execute(
                            "SELECT id FROM images WHERE sha256=? AND role=?", (sha, role)).fetchone())
                        if row or sha in seen_sha:
                            res.duplicates.append((p, int(row[0]) if row else -1))
                            continue
                    seen_sha[sha] = p
                    vecs = {}
                    quality = None
                    for d in self.descriptors:
                        if d == "pdq":
                            code, quality = D.pdq_with_quality(img.rgb)
                            vecs[d] = code
                        else:
                            vecs[d] = D.get(d).compute(img.rgb)
                    local = extract(img.rgb).to_bytes() if self.manifest.get("local_features", True) and role == "reference" else None
                    pending.append((p, sha, img.width, img.height, len(img.data), vecs, quality, local))
                except SleuthError as exc:
                    res.skipped.append((p, exc.reason))
                except Exception as exc:  # one broken file never stops the batch
                    res.skipped.append((p, f"{type(exc).__name__}: {exc}"))
                finally:
                    if bar:
                        bar[0].advance(bar[1])
                if len(pending) >= batch:
                    flush()
            if pending:
                flush()
        finally:
            if bar:
                bar[0].stop()
        if res.added and role == "reference":
            with self.writer_lock(lock_timeout, on_wait):
                self._guard(lambda: self._refresh_faiss(write=True))
        return res

    def _guard(self, fn):
        """Run ``fn``; a damaged database becomes the one-line error of :meth:`_corrupt`."""
        try:
            return fn()
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            raise self._corrupt(exc) from None

    def _commit(self, pending: list[tuple], role: str, labels: dict | None, res: AddResult | None = None,
                skip_duplicates: bool = False) -> list[tuple[int, str]]:
        """One transaction for a batch (under the writer lock); duplicates another writer added
        meanwhile are moved to ``res.duplicates``."""
        db = self.db
        out = []
        lab = json.dumps(labels or {})
        db.execute("BEGIN IMMEDIATE")
        try:
            for p, sha, w, h, nbytes, vecs, quality, local in pending:
                p, lab_p = _storable(p, lab)
                if skip_duplicates:
                    row = db.execute("SELECT id FROM images WHERE sha256=? AND role=?", (sha, role)).fetchone()
                    if row:
                        if res is not None:
                            res.duplicates.append((p, int(row[0])))
                        continue
                cur = db.execute("INSERT INTO images(path, sha256, width, height, bytes, added, labels, role, pdq_quality) "
                                 "VALUES (?,?,?,?,?,?,?,?,?)", (p, sha, w, h, nbytes, time.time(), lab_p, role, quality))
                iid = int(cur.lastrowid)
                for d, v in vecs.items():
                    db.execute("INSERT INTO vectors(id, descriptor, data) VALUES (?,?,?)", (iid, d, np.ascontiguousarray(v).tobytes()))
                if local is not None:
                    db.execute("INSERT INTO local(id, data) VALUES (?,?)", (iid, local))
                out.append((iid, p))
            self._bump(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._committed(db)
        return out

    @staticmethod
    def _bump(db: sqlite3.Connection | _Guarded) -> None:
        db.execute("INSERT INTO state(key, value) VALUES ('generation', '1') "
                   "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def remove(self, ids: Iterable[int], lock_timeout: float | None = None) -> tuple[list[int], list[int]]:
        """Remove images by id; returns (removed, not found)."""
        ids = [int(i) for i in ids]
        removed, missing = [], []
        with self.writer_lock(lock_timeout):
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                for i in ids:
                    if db.execute("SELECT 1 FROM images WHERE id=?", (i,)).fetchone():
                        for t in ("vectors", "local", "images"):
                            db.execute(f"DELETE FROM {t} WHERE id=?", (i,))
                        removed.append(i)
                    else:
                        missing.append(i)
                if removed:
                    self._bump(db)
                    gen = self.generation
                    db.executemany("INSERT INTO removed(id, generation) VALUES (?, ?)", [(i, gen) for i in removed])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if removed:
                self._committed(db)
            if removed:
                self._refresh_faiss(write=True)
        return removed, missing

    # ------------------------------------------------------------------ reading
    def vectors(self, descriptor: str, role: str = "reference") -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of one descriptor for one role, in id order."""
        d = D.get(descriptor)
        rows = self.db.execute("SELECT v.id, v.data FROM vectors v JOIN images i ON i.id = v.id "
                               "WHERE v.descriptor=? AND i.role=? ORDER BY v.id", (descriptor, role)).fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        dtype = np.uint8 if d.kind == "binary" else np.float32
        width = d.nbytes if d.kind == "binary" else d.dim
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype).reshape(len(rows), width) if rows else np.zeros((0, width), dtype)
        return ids, vecs

    def _faiss_files(self, descriptor: str) -> list[tuple[int, int, Path]]:
        """(generation, max id, path) of the stored FAISS files of a descriptor, newest first."""
        out = []
        for p in (self.root / "faiss").glob(f"{descriptor}.g*.m*.faiss"):
            try:
                g, m = p.name[len(descriptor) + 2:-len(".faiss")].split(".m")
                out.append((int(g), int(m), p))
            except ValueError:
                continue
        return sorted(out, reverse=True)

    def _catch_up(self, dname: str, idx, since_gen: int, max_id: int) -> tuple[Any, int]:
        """Apply removals logged after ``since_gen`` and add references with id > ``max_id``."""
        rem = [r[0] for r in self.db.execute("SELECT id FROM removed WHERE generation > ?", (since_gen,))]
        if rem:
            idx.remove_ids(np.array(rem, np.int64))
        d = D.get(dname)
        rows = self.db.execute("SELECT v.id, v.data FROM vectors v JOIN images i ON i.id = v.id WHERE v.descriptor=? "
                               "AND i.role='reference' AND v.id > ? ORDER BY v.id", (dname, max_id)).fetchall()
        if rows:
            dtype = np.uint8 if d.kind == "binary" else np.float32
            width = d.nbytes if d.kind == "binary" else d.dim
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype).reshape(len(rows), width)
            idx.add_with_ids(np.ascontiguousarray(vecs), np.array([r[0] for r in rows], np.int64))
            max_id = max(max_id, int(rows[-1][0]))
        return idx, max_id

    def _refresh_faiss(self, write: bool = False) -> None:
        """Make the FAISS structures match the current generation.

        In order: the in-memory structure or the newest stored file, caught up incrementally
        (removals logged since its generation, references with larger ids added) as long as the
        structure chosen for the current size is unchanged; else a full rebuild from SQLite.
        The result is saved atomically as ``<desc>.g<generation>.m<max id>.faiss``.
        """
        gen = self.generation
        if all((self._faiss.get(d) or (None,))[0] == gen for d in self.descriptors):
            return
        # a reader saves what it built only while it holds the writer lock (never waits for it)
        lock = None if write else self._try_lock()
        try:
            self._refresh_all(gen, write or lock is not None)
        finally:
            if lock is not None:
                lock.release()

    def _refresh_all(self, gen: int, save: bool) -> None:
        import faiss

        n_ref = None
        for dname in self.descriptors:
            cached = self._faiss.get(dname)
            if cached and cached[0] == gen:
                continue
            d = D.get(dname)
            reader = faiss.read_index_binary if d.kind == "binary" else faiss.read_index
            if n_ref is None:
                n_ref = self.count("reference")
            want = choose_structure(d.kind, n_ref)
            idx, base_gen, max_id = None, -1, 0
            if cached and cached[3] == want:
                idx, base_gen, max_id = cached[1], cached[0], cached[2]
            else:
                for g, m, path in self._faiss_files(dname):
                    if g > gen:
                        continue
                    try:
                        idx, base_gen, max_id = reader(str(path)), g, m
                    except Exception:
                        continue
                    break
                if idx is not None and self.manifest.get("structures", {}).get(dname, want) != want:
                    idx = None  # crossing a size threshold: rebuild in the new structure
            if idx is not None and base_gen != gen:
                try:
                    idx, max_id = self._catch_up(dname, idx, base_gen, max_id)
                except Exception:
                    idx = None
            if idx is None:
                ids, vecs = self.vectors(dname)
                idx = build_faiss(d.kind, d.dim, vecs, ids, want)
                max_id = int(ids.max()) if len(ids) else 0
                base_gen = -1
            if base_gen != gen and save:
                path = self.root / "faiss" / f"{dname}.g{gen}.m{max_id}.faiss"
                try:
                    with atomic_path(path) as tmp:
                        (faiss.write_index_binary if d.kind == "binary" else faiss.write_index)(idx, str(tmp))
                    for _, _, old in self._faiss_files(dname):
                        if old != path:
                            old.unlink(missing_ok=True)
                    if self.manifest.get("structures", {}).get(dname) != want:
                        self.manifest.setdefault("structures", {})[dname] = want
                        atomic_write_text(self.root / MANIFEST, json.dumps(self.manifest, indent=2))
                except OSError:
                    pass  # a read-only index still searches; the structure lives in memory
            self._faiss[dname] = (gen, idx, max_id, want)

    def faiss_index(self, descriptor: str):
        self._guard(self._refresh_faiss)
        return self._faiss[descriptor][1]

    def background(self) -> dict[str, np.ndarray]:
        gen = self.generation
        if self._bg is None or self._bg[0] != gen:
            self._bg = (gen, {d: self.vectors(d, "background")[1] for d in self.descriptors})
        return self._bg[1]

    def info(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT id, path, sha256, width, height, labels FROM images WHERE id IN ({q})", ids).fetchall()
        return {int(r[0]): {"id": int(r[0]), "path": r[1], "sha256": r[2], "width": r[3], "height": r[4],
                            "labels": json.loads(r[5] or "{}")} for r in rows}

    def local_features(self, iid: int):
        """Stored SIFT features of a reference (or extracted from its file when not stored)."""
        from .verify import LocalFeatures, extract

        if iid in self._local_cache:
            return self._local_cache[iid]
        row = self.db.execute("SELECT data FROM local WHERE id=?", (int(iid),)).fetchone()
        lf = None
        if row:
            lf = LocalFeatures.from_bytes(row[0])
        else:
            info = self.info([iid]).get(int(iid))
            if info:
                try:
                    from ..imageio import load_image

                    lf = extract(load_image(info["path"]).rgb)
                except SleuthError:
                    lf = None
        if len(self._local_cache) > 4096:
            self._local_cache.clear()
        self._local_cache[iid] = lf
        return lf
