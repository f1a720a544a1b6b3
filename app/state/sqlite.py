"""The embedded state store: one SQLite file in WAL mode, safe across processes."""

import json
import sqlite3
import threading
import time
from pathlib import Path

from .base import IN_FLIGHT, Claim, ExportRecord, JobRecord, StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    done INTEGER NOT NULL,
    answered_late INTEGER NOT NULL,
    lease_until REAL NOT NULL,
    expires_at REAL NOT NULL,
    answer TEXT NOT NULL
);
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
        self.connection().executescript(SCHEMA)

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

    def create_job(self, job_id: str, lease_s: float, ttl_s: float) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO jobs (id, done, answered_late, lease_until, expires_at, answer) "
                "VALUES (?, 0, 0, ?, ?, '{}')",
                (job_id, now + lease_s, now + ttl_s),
            )

    def mark_job_late(self, job_id: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE jobs SET answered_late = 1 WHERE id = ?", (job_id,))

    def finish_job(self, job_id: str, answer: dict, ttl_s: float) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET done = 1, answer = ?, expires_at = ? WHERE id = ?",
                (json.dumps(answer), time.time() + ttl_s, job_id),
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        row = (
            self.connection()
            .execute(
                "SELECT done, answer, answered_late, lease_until FROM jobs "
                "WHERE id = ? AND expires_at > ?",
                (job_id, time.time()),
            )
            .fetchone()
        )
        if row is None:
            return None
        done, answer, answered_late, lease_until = row
        return JobRecord(bool(done), json.loads(answer), bool(answered_late), lease_until)

    def put_job_input(self, job_id: str, data: bytes, ttl_s: float) -> None:
        raise NotImplementedError("the embedded store runs jobs in the process that has them")

    def take_job_input(self, job_id: str) -> bytes | None:
        raise NotImplementedError("the embedded store runs jobs in the process that has them")

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
