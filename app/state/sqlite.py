"""The embedded state store: one SQLite file in WAL mode, safe across processes."""

import json
import sqlite3
import threading
import time
from pathlib import Path

from .base import IN_FLIGHT, Claim, ExportRecord, StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS exports (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    updated_at REAL NOT NULL,
    lease_until REAL NOT NULL,
    expires_at REAL NOT NULL,
    answer TEXT NOT NULL
)
"""
BUSY_TIMEOUT_S = 10


class SQLiteStateStore(StateStore):
    """Each thread keeps its own connection; writes take the database lock (BEGIN IMMEDIATE)."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self.transaction() as db:
            db.execute(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def transaction(self):
        return _Transaction(self.connection())

    def claim(self, key: str, owner: str, lease_s: float, ttl_s: float) -> Claim:
        now = time.time()
        with self.transaction() as db:
            record = self._read(db, key, now)
            if record is not None:
                return Claim(acquired=False, record=record)
            self._write(db, key, IN_FLIGHT, owner, now, now + lease_s, now + ttl_s, {})
            return Claim(acquired=True)

    def take_over(self, key: str, owner: str, lease_s: float, ttl_s: float) -> None:
        now = time.time()
        with self.transaction() as db:
            self._write(db, key, IN_FLIGHT, owner, now, now + lease_s, now + ttl_s, {})

    def finish(self, key: str, owner: str, state: str, answer: dict, ttl_s: float) -> None:
        now = time.time()
        with self.transaction() as db:
            self._write(db, key, state, owner, now, now, now + ttl_s, answer)

    def release(self, key: str, owner: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM exports WHERE key = ? AND owner = ?", (key, owner))

    def get(self, key: str) -> ExportRecord | None:
        return self._read(self.connection(), key, time.time())

    @staticmethod
    def _read(db, key: str, now: float) -> ExportRecord | None:
        row = db.execute(
            "SELECT state, owner, updated_at, lease_until, answer FROM exports "
            "WHERE key = ? AND expires_at > ?",
            (key, now),
        ).fetchone()
        if row is None:
            return None
        state, owner, updated_at, lease_until, answer = row
        return ExportRecord(state, owner, updated_at, lease_until, json.loads(answer))

    @staticmethod
    def _write(db, key, state, owner, updated_at, lease_until, expires_at, answer) -> None:
        db.execute(
            "INSERT OR REPLACE INTO exports "
            "(key, state, owner, updated_at, lease_until, expires_at, answer) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, state, owner, updated_at, lease_until, expires_at, json.dumps(answer)),
        )
        # Expired records go while we hold the lock anyway; the index keeps it cheap.
        db.execute("DELETE FROM exports WHERE expires_at <= ?", (updated_at,))


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: one writer at a time across processes."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, error, traceback) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")
