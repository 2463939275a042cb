"""Persistence for the service: reports, their heatmaps and API keys in one SQLite file (WAL).

A report and its maps are written in one transaction, so a process killed mid-write leaves
either the whole report or nothing (SQLite's journal rolls the rest back). Reports expire after
the retention; :meth:`Store.purge` deletes expired rows and runs at start-up and hourly.

API keys are random 256-bit tokens; only their SHA-256 is stored. A slow password hash buys
nothing for a uniformly random 256-bit secret (there is no dictionary to try), and a fast hash
keeps every authenticated request to one indexed lookup.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
  created REAL NOT NULL, revoked REAL, last_used REAL);
CREATE TABLE IF NOT EXISTS reports (
  id TEXT PRIMARY KEY, key_id INTEGER, created REAL NOT NULL, expires REAL NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS reports_expires ON reports(expires);
CREATE TABLE IF NOT EXISTS maps (
  report_id TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (report_id, name));
"""
KEY_PREFIX = "slk_"
REPORT_ID = re.compile(r"^[0-9a-f]{32}$")
MAP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def hash_key(key: str) -> str:
    """SHA-256 hex of an API key (what the database stores).

    Parameters
    ----------
    key : str
        The key as the client sends it.

    Returns
    -------
    str
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Store:
    """The service database under ``data_dir`` (``service.sqlite3``)."""

    def __init__(self, data_dir: str | Path):
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "service.sqlite3"
        self._local = threading.local()
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> _Tx:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return _Tx(db)

    # ------------------------------------------------------------------ keys
    def create_key(self, name: str) -> tuple[int, str]:
        """Create a key named ``name``.

        Parameters
        ----------
        name : str
            A label for the key's holder (1-64 printable characters).

        Returns
        -------
        (int, str)
            The key id and the key itself (shown once; only its hash is stored).
        """
        name = " ".join(str(name).split())
        if not 1 <= len(name) <= 64:
            raise ValueError("a key name is 1 to 64 characters")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._db() as db:
            cur = db.execute("INSERT INTO keys(name, prefix, hash, created) VALUES (?,?,?,?)",
                             (name, key[:10], hash_key(key), time.time()))
            return int(cur.lastrowid or 0), key

    def list_keys(self) -> list[dict[str, Any]]:
        """Every key (never the key itself: id, name, prefix, dates, revoked).

        Returns
        -------
        list of dict
        """
        with self._db() as db:
            rows = db.execute("SELECT id, name, prefix, created, revoked, last_used FROM keys ORDER BY id").fetchall()
        return [dict(zip(("id", "name", "prefix", "created", "revoked", "last_used"), r, strict=False)) for r in rows]

    def revoke_key(self, ident: str) -> int:
        """Revoke keys by id or by name.

        Parameters
        ----------
        ident : str
            A key id (digits) or a key name.

        Returns
        -------
        int
            How many keys were revoked (0 when none matched).
        """
        with self._db() as db:
            if ident.isdigit():
                cur = db.execute("UPDATE keys SET revoked=? WHERE id=? AND revoked IS NULL", (time.time(), int(ident)))
            else:
                cur = db.execute("UPDATE keys SET revoked=? WHERE name=? AND revoked IS NULL", (time.time(), ident))
            return cur.rowcount

    def check_key(self, key: str) -> dict[str, Any] | None:
        """The active key record matching ``key``, else None.

        Parameters
        ----------
        key : str
            The bearer token a client sent.

        Returns
        -------
        dict or None
            ``{"id", "name"}`` of the key.
        """
        if not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        with self._db() as db:
            row = db.execute("SELECT id, name FROM keys WHERE hash=? AND revoked IS NULL", (hash_key(key),)).fetchone()
        return {"id": row[0], "name": row[1]} if row else None

    # --------------------------------------------------------------- reports
    def save_report(self, report: dict[str, Any], maps: dict[str, tuple[str, bytes]], retention_s: float,
                    key_id: int | None = None, report_id: str | None = None) -> str:
        """Store one report and its maps in one transaction.

        Parameters
        ----------
        report : dict
            The report JSON (its ``id`` is set to the new id).
        maps : dict
            ``name -> (media type, bytes)`` of its heatmaps and preview.
        retention_s : float
            Seconds until it expires.
        key_id : int, optional
            The key that created it.
        report_id : str, optional
            Use this id (32 hex digits) instead of a new one.

        Returns
        -------
        str
            The report id.
        """
        rid = report_id or uuid.uuid4().hex
        report["id"] = rid
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT INTO reports(id, key_id, created, expires, json) VALUES (?,?,?,?,?)",
                           (rid, key_id, now, now + retention_s, json.dumps(report, ensure_ascii=False)))
                db.executemany("INSERT INTO maps(report_id, name, media_type, data) VALUES (?,?,?,?)",
                               [(rid, n, mt, sqlite3.Binary(b)) for n, (mt, b) in maps.items()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return rid

    def get_report(self, rid: str) -> dict[str, Any] | None:
        """A stored, unexpired report, else None.

        Parameters
        ----------
        rid : str
            Report id.

        Returns
        -------
        dict or None
        """
        if not REPORT_ID.match(rid):
            return None
        with self._db() as db:
            row = db.execute("SELECT json FROM reports WHERE id=? AND expires>?", (rid, time.time())).fetchone()
        return json.loads(row[0]) if row else None

    def get_map(self, rid: str, name: str) -> tuple[str, bytes] | None:
        """``(media type, bytes)`` of one stored map of an unexpired report, else None.

        Parameters
        ----------
        rid : str
            Report id.
        name : str
            Map name as listed in the report's ``links``.

        Returns
        -------
        tuple or None
        """
        if not REPORT_ID.match(rid) or not MAP_NAME.match(name):
            return None
        with self._db() as db:
            row = db.execute("SELECT m.media_type, m.data FROM maps m JOIN reports r ON r.id=m.report_id "
                             "WHERE m.report_id=? AND m.name=? AND r.expires>?", (rid, name, time.time())).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def purge(self) -> int:
        """Delete expired reports and their maps.

        Returns
        -------
        int
            Reports deleted.
        """
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM maps WHERE report_id IN (SELECT id FROM reports WHERE expires<=?)", (now,))
            n = db.execute("DELETE FROM reports WHERE expires<=?", (now,)).rowcount
            db.execute("COMMIT")
        return n

    def writable(self) -> bool:
        """True when the database answers a write (for ``/readyz``).

        Returns
        -------
        bool
        """
        try:
            with self._db() as db:
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
            return True
        except sqlite3.Error:
            return False


class _Tx:
    """Context manager handing out the thread's connection (autocommit; explicit BEGIN where needed)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc) -> None:
        return None
