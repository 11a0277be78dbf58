"""PostgreSQL dialect of the job store: several API processes and hosts share one database.

The schema is created under a transaction advisory lock (several processes may open an empty
database at once). Reads repeat once on a fresh connection when the server dropped pooled ones;
writes are never repeated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from workers.jobs.lease import PG_LEASE_KEY
from workers.jobs.schema import POSTGRES_DDL
from workers.jobs.sql import SQLBase


class _Rows:
    """Rows fetched before a pooled connection goes back (the cursor API the shared code uses)."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows


class PostgresDialect(SQLBase):
    """Connections and transactions of PostgreSQL (psycopg 3): a bounded pool of autocommit
    connections shared by all threads; writes in explicit transactions with row locks
    (``FOR UPDATE``); claims skip rows another transaction holds (``FOR UPDATE SKIP LOCKED``).
    ``url``: ``postgresql://user:pw@host:port/db``."""

    dialect = "postgresql"
    _FOR_UPDATE = " FOR UPDATE"
    _SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout_s: float = 10.0) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # an optional extra
            raise RuntimeError(
                "jobs.database_url is a PostgreSQL URL but psycopg/psycopg-pool are not installed: "
                "pip install 'maydo[postgres]'"
            ) from exc
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        try:
            conn = self._connect()
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"cannot connect to the job database {self.describe()}: {exc}".strip()) from exc
        with conn, conn.transaction():
            # several processes may open a fresh database at once: create the schema one at a time
            conn.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (PG_LEASE_KEY[0], 0))
            conn.execute(POSTGRES_DDL.encode())
        # Connections are shared by all threads through a bounded pool (an API process runs many
        # request threads); a connection broken by a server restart is dropped when returned.
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs=self._connect_kwargs(),
            timeout=30.0,
            name="maydo-jobs",
            open=True,
        )

    def describe(self) -> str:
        from workers.settings import mask_password

        return mask_password(self.url)

    def _connect_kwargs(self) -> dict[str, Any]:
        from psycopg.rows import dict_row

        return {
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": max(1, int(self.connect_timeout_s)),
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "application_name": "maydo",
        }

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, **self._connect_kwargs())

    def _conn(self) -> Any:
        raise NotImplementedError("PostgresJobStore lends pooled connections: use _read / _write")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> Any:
        import psycopg

        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    cur = self._x(conn, sql, args)
                    return _Rows(cur.fetchall() if cur.description is not None else [])
            except psycopg.OperationalError:
                # the server dropped pooled connections (restart, idle cut): this one is discarded
                # on return; check the idle ones too, then repeat the read (safe) on a fresh one
                if attempt == 2:
                    raise
                self._pool.check()
        raise AssertionError("unreachable")

    @contextmanager
    def _write(self) -> Iterator[Any]:
        import psycopg

        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.OperationalError:
            self._pool.check()  # the next write gets a live connection; this one is not repeated
            raise

    def _x(self, db: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        return db.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(args))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pool.close()
