"""SQLite dialect of the job store: a WAL file on one host, shared by threads and processes."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workers.jobs.schema import ASSET_BACKFILL, SQLITE_DDL
from workers.jobs.sql import SQLBase


class SQLiteDialect(SQLBase):
    """Connections and transactions of a SQLite WAL file: one connection per thread, writers
    serialised by ``BEGIN IMMEDIATE`` (so no row-lock clauses)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        conn = self._conn()
        had_assets = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'job_assets'").fetchone() is not None
        had_jobs = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone() is not None
        conn.executescript(SQLITE_DDL)
        if had_jobs and not had_assets:
            conn.executescript(ASSET_BACKFILL)  # once per database: jobs from before the index

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front (no upgrade deadlocks)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _x(self, db: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        return db.execute(sql, tuple(args))

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()
