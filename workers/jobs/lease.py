"""The single-dispatcher lease, tied to its holder's liveness.

A restarted dispatcher takes over at once instead of waiting for a heartbeat to expire. SQLite
(``SQLiteLease``) records the holder's host, boot id, pid and process start time: a holder on
this host whose process is gone is dead now. PostgreSQL (``PostgresLease``) holds a session
advisory lock on a dedicated connection: the server drops it the moment the holder's connection
closes, on any host, and a holder that is connected but silent longer than ``lease_s`` has its
session terminated. ``holder_identity`` / ``holder_dead`` also judge webhook senders
(``workers.api.notifier``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from workers.housekeeping import pid_alive
from workers.jobs.sql import SQLBase

# Session advisory lock key of the PostgreSQL dispatcher lease ("mayd", "o-ds" as int4s). Advisory
# locks are per database, so two maydo deployments in one cluster do not collide.
PG_LEASE_KEY = (0x6D617964, 0x6F2D6473)

# -- holder liveness ------------------------------------------------------------------------------


def boot_id() -> str | None:
    """This host's boot id (Linux ``/proc/sys/kernel/random/boot_id``); None where there is none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat), which tells a
    live process from a later one that reuses its pid; None when no such process (or no /proc)."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def host_boot() -> str | None:
    """``<boot id>|<pid namespace>``: pids are comparable only between processes that share both."""
    b = boot_id()
    return None if b is None else f"{b}|{_pid_namespace()}"


def holder_identity() -> dict[str, Any]:
    """Who is taking a lease: host name, boot id (+ pid namespace), pid and the pid's start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot_id": host_boot(), "pid": pid, "pid_start": process_start(pid)}


def holder_dead(row: Any) -> bool:
    """True when a lease holder recorded by ``holder_identity`` is certainly gone.

    Only a holder on this host can be judged: it is dead when the host rebooted since (another
    boot id) or its pid is gone or belongs to a newer process (another start time). A holder on
    another host, or in another pid namespace (a container sharing the host name), is never
    presumed dead here (its heartbeat decides).
    """
    if row is None:
        return True
    if row["host"] != socket.gethostname():
        return False
    here = host_boot()
    if row["boot_id"] and here:
        boot, _, ns = str(row["boot_id"]).partition("|")
        here_boot, _, here_ns = here.partition("|")
        if boot != here_boot:
            return True  # the host rebooted since: every process of that boot is gone
        if ns != here_ns:
            return False  # another pid namespace: its pids mean nothing here
    if row["pid_start"] is not None:
        return process_start(int(row["pid"])) != row["pid_start"]
    return not pid_alive(int(row["pid"]))  # no /proc: a signal-0 probe still tells a missing pid


class LeaseMixin(SQLBase):
    """The ``dispatcher_lease`` row every dialect records; ``SQLiteLease`` / ``PostgresLease`` take it."""

    def acquire_lease(self, owner: str, lease_s: float) -> bool:
        raise NotImplementedError

    def release_lease(self, owner: str) -> None:
        raise NotImplementedError

    def _lease_alive(self, row: Any, lease_s: float) -> bool:
        raise NotImplementedError

    def _lease_row(self, db: Any | None = None) -> Any:
        sql = "SELECT * FROM dispatcher_lease WHERE id = 1"
        return (self._x(db, sql) if db is not None else self._read(sql)).fetchone()

    def _put_lease(self, db: Any, owner: str, now: float, backend_pid: int | None = None) -> None:
        me = holder_identity()
        self._x(
            db,
            """INSERT INTO dispatcher_lease(id, owner, host, boot_id, pid, pid_start, backend_pid, acquired_at,
               heartbeat_at) VALUES (1,?,?,?,?,?,?,?,?)
               ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, host = excluded.host,
               boot_id = excluded.boot_id, pid = excluded.pid, pid_start = excluded.pid_start,
               backend_pid = excluded.backend_pid, acquired_at = excluded.acquired_at,
               heartbeat_at = excluded.heartbeat_at""",
            (owner, me["host"], me["boot_id"], me["pid"], me["pid_start"], backend_pid, now, now),
        )

    def lease_holder(self) -> tuple[str, float] | None:
        """(owner, last heartbeat) of the recorded dispatcher lease, alive or not."""
        row = self._lease_row()
        return (row["owner"], float(row["heartbeat_at"])) if row else None

    def lease_status(self, lease_s: float) -> dict[str, Any]:
        """The dispatcher lease: owner, host, pid, heartbeat and whether its holder is alive now."""
        row = self._lease_row()
        if row is None:
            return {"alive": False, "owner": None, "heartbeat_at": None, "host": None, "pid": None}
        return {
            "alive": self._lease_alive(row, lease_s),
            "owner": row["owner"],
            "heartbeat_at": float(row["heartbeat_at"]),
            "host": row["host"],
            "pid": row["pid"],
        }


class SQLiteLease(LeaseMixin):
    """The lease on SQLite: a row with the holder's identity, judged by ``holder_dead`` and heartbeat."""

    def _lease_alive(self, row: Any, lease_s: float) -> bool:
        return time.time() - float(row["heartbeat_at"]) < lease_s and not holder_dead(row)

    def acquire_lease(self, owner: str, lease_s: float) -> bool:
        """Take (or renew) the single-dispatcher lease; False while another live owner holds it.

        A holder on this host whose process is gone (or whose host rebooted) loses the lease at
        once; a holder elsewhere loses it when its heartbeat is older than ``lease_s``.
        """
        now = time.time()
        with self._write() as db:
            row = self._lease_row(db)
            if row is not None and row["owner"] != owner and self._lease_alive(row, lease_s):
                return False
            if row is not None and row["owner"] == owner:
                self._x(db, "UPDATE dispatcher_lease SET heartbeat_at = ? WHERE id = 1", (now,))
            else:
                self._put_lease(db, owner, now)
            return True

    def release_lease(self, owner: str) -> None:
        with self._write() as db:
            self._x(db, "DELETE FROM dispatcher_lease WHERE id = 1 AND owner = ?", (owner,))


class PostgresLease(LeaseMixin):
    """The lease on PostgreSQL: a session advisory lock held on a dedicated connection.

    Needs the dialect's ``_connect`` (a fresh, unpooled connection); ``_init_lease`` must run in
    the store's constructor and ``_close_lease`` in its ``close``.
    """

    _lease_lock: threading.Lock
    _lease_conn: Any
    _lease_owner: str | None

    def _connect(self) -> Any:
        raise NotImplementedError

    def _init_lease(self) -> None:
        self._lease_lock = threading.Lock()
        self._lease_conn = None
        self._lease_owner = None

    def _close_lease(self) -> None:
        with self._lease_lock:
            if self._lease_conn is not None:
                with contextlib.suppress(Exception):
                    self._lease_conn.close()  # ends the session: the advisory lock goes with it
                self._lease_conn = None
                self._lease_owner = None

    def _lock_held(self) -> bool:
        row = self._read(
            """SELECT 1 AS held FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = ?::oid
               AND objid = ?::oid AND objsubid = 2
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
            PG_LEASE_KEY,
        ).fetchone()
        return row is not None

    def _lease_alive(self, row: Any, lease_s: float) -> bool:
        return self._lock_held()

    def acquire_lease(self, owner: str, lease_s: float) -> bool:
        """Take (or renew) the lease: a session advisory lock held on a dedicated connection.

        Renewal proves the session is still up (a broken connection means the lock is gone: False).
        A holder whose session ended (process killed, host gone and its TCP connection reset) has
        already lost the lock; a holder still connected but silent for ``lease_s`` has its session
        terminated, which releases the lock.
        """
        import psycopg

        now = time.time()
        with self._lease_lock:
            if self._lease_conn is not None and self._lease_owner == owner:
                try:
                    cur = self._lease_conn.execute(
                        "UPDATE dispatcher_lease SET heartbeat_at = %s WHERE id = 1 AND owner = %s", (now, owner)
                    )
                    if cur.rowcount == 1:
                        return True
                except psycopg.Error:
                    pass
                with contextlib.suppress(Exception):
                    self._lease_conn.close()
                self._lease_conn = None
                self._lease_owner = None
                return False
            conn = self._connect()
            try:
                # the server notices a vanished holder host within ~15 s even without a TCP reset
                conn.execute(
                    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3"
                )
                got = conn.execute("SELECT pg_try_advisory_lock(%s::int4, %s::int4) AS got", PG_LEASE_KEY).fetchone()[
                    "got"
                ]
                if not got:
                    row = conn.execute("SELECT * FROM dispatcher_lease WHERE id = 1").fetchone()
                    if row is not None and row["backend_pid"] and now - float(row["heartbeat_at"]) >= lease_s:
                        conn.execute("SELECT pg_terminate_backend(%s::int4)", (row["backend_pid"],))
                        deadline = time.monotonic() + 5.0
                        while not got and time.monotonic() < deadline:
                            time.sleep(0.05)
                            got = conn.execute(
                                "SELECT pg_try_advisory_lock(%s::int4, %s::int4) AS got", PG_LEASE_KEY
                            ).fetchone()["got"]
                if not got:
                    conn.close()
                    return False
                backend = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
                with conn.transaction():
                    self._put_lease(conn, owner, now, backend_pid=int(backend))
            except BaseException:
                conn.close()
                raise
            self._lease_conn = conn
            self._lease_owner = owner
            return True

    def release_lease(self, owner: str) -> None:
        with self._lease_lock:
            if self._lease_conn is None or self._lease_owner != owner:
                return
            conn, self._lease_conn, self._lease_owner = self._lease_conn, None, None
            with contextlib.suppress(Exception):
                conn.execute("DELETE FROM dispatcher_lease WHERE id = 1 AND owner = %s", (owner,))
            with contextlib.suppress(Exception):
                conn.close()
