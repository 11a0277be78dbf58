"""Durable job store: the ``JobStore`` interface, one SQL implementation, two dialects.

``SQLiteJobStore`` (WAL file, one host) and ``PostgresJobStore`` (psycopg 3; several API
processes and one active dispatcher across hosts) share every query and every state transition
in ``SQLJobStore``; a dialect only supplies connections, transactions, placeholders, column types
and row locks. Every state change is one transaction: SQLite serialises writers with
``BEGIN IMMEDIATE``; PostgreSQL locks the job rows it changes (``SELECT ... FOR UPDATE``) and
``claim`` skips rows another dispatcher is claiming (``FOR UPDATE SKIP LOCKED``). Results carry a
fence token so a stale attempt (a worker presumed dead, a dispatcher that lost its lease) can
never overwrite a newer one.

The single-dispatcher lease is tied to its holder's liveness, so a restarted dispatcher takes
over at once instead of waiting for a heartbeat to expire: SQLite records the holder's host, boot
id, pid and process start time (a holder on this host whose process is gone is dead now);
PostgreSQL holds a session advisory lock on a dedicated connection (the server drops it the
moment the holder's connection closes, on any host), and a holder that is connected but silent
longer than ``lease_s`` has its session terminated.

``open_job_store(settings)`` picks the dialect from ``jobs.database_url``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from workers.jobs.models import (
    Attempt,
    JobError,
    JobEvent,
    JobRecord,
    JobSpec,
    JobStatus,
    Lane,
    PoolHealth,
    new_job_id,
)


class JobNotFound(KeyError):
    """No job with this id."""


class InvalidTransition(ValueError):
    """The requested change is not allowed from the job's current status (e.g. retry a running job)."""


class JobInUse(InvalidTransition):
    """Canceling this job would cancel work other active jobs still depend on (``dependents``)."""

    def __init__(self, job_id: str, dependents: Sequence[str]) -> None:
        self.job_id = job_id
        self.dependents = list(dependents)
        super().__init__(
            f"job {job_id} is still needed by {len(self.dependents)} other active job(s) "
            f"({', '.join(self.dependents[:5])}); cancel those instead"
        )


class JobStore(Protocol):
    """What the runtime, dispatcher, CLI and API need from durable storage."""

    def create_job(
        self,
        spec: JobSpec,
        *,
        fingerprint: str,
        pool: str,
        timeout_s: float,
        max_attempts: int,
        depends_on: Sequence[str] = (),
        cached_from: JobRecord | None = None,
        job_id: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Insert a job; with an idempotency key already used by the tenant returns (existing, False)."""
        ...

    def get(self, job_id: str) -> JobRecord: ...

    def list_jobs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        kind: str | None = None,
        lane: str | None = None,
        tenant: str | None = None,
        campaign_id: str | None = None,
        parent_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]: ...

    def find_by_fingerprint(self, fingerprint: str, *, active: bool = False) -> JobRecord | None: ...

    def claim(self, pool: str, limit: int, *, owner: str, worker: str | None = None) -> list[JobRecord]: ...

    def finish_success(
        self,
        job_id: str,
        fence: int,
        outputs: dict[str, str],
        result: dict[str, Any],
        *,
        worker: str | None = None,
    ) -> bool: ...

    def finish_failure(
        self, job_id: str, fence: int, error: JobError, *, retry_at: float | None
    ) -> JobRecord | None: ...

    def finish_canceled(self, job_id: str, fence: int) -> bool: ...

    def request_cancel(self, job_id: str) -> JobRecord: ...

    def retry(self, job_id: str) -> JobRecord: ...

    def add_event(self, job_id: str, stage: str, fraction: float, message: str = "") -> int: ...

    def events(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[JobEvent]: ...

    def attempts(self, job_id: str) -> list[Attempt]: ...

    def requeue_stale(self, *, owner: str) -> list[str]: ...

    def queue_depth(self) -> dict[str, dict[str, int]]: ...

    def set_pool_health(self, health: PoolHealth) -> None: ...

    def pool_health(self) -> list[PoolHealth]: ...

    def acquire_lease(self, owner: str, lease_s: float) -> bool: ...

    def release_lease(self, owner: str) -> None: ...


# One schema for both dialects: {real} is a float8 timestamp/duration, {serial} an auto id.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    lane TEXT NOT NULL,
    lane_rank INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    tenant TEXT NOT NULL DEFAULT 'default',
    campaign_id TEXT,
    idempotency_key TEXT,
    parent_id TEXT,
    params TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL DEFAULT '{{}}',
    result TEXT NOT NULL DEFAULT '{{}}',
    fingerprint TEXT NOT NULL,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    cached_from TEXT,
    depends_on TEXT NOT NULL DEFAULT '[]',
    pool TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    fence INTEGER NOT NULL DEFAULT 0,
    timeout_s {real} NOT NULL,
    not_before {real} NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error_class TEXT,
    error_message TEXT,
    error_traceback TEXT,
    error_field TEXT,
    owner TEXT,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    started_at {real},
    finished_at {real}
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs(pool, status, lane_rank, priority DESC, created_at);
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs(pool, lane_rank, priority DESC, created_at, id)
    WHERE status IN ('queued','retrying');
CREATE INDEX IF NOT EXISTS jobs_fp ON jobs(fingerprint, status);
CREATE INDEX IF NOT EXISTS jobs_campaign ON jobs(campaign_id);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs(parent_id);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS job_deps (
    job_id TEXT NOT NULL,
    dep_id TEXT NOT NULL,
    PRIMARY KEY (job_id, dep_id)
);
CREATE INDEX IF NOT EXISTS job_deps_dep ON job_deps(dep_id);
CREATE TABLE IF NOT EXISTS events (
    id {serial},
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    fraction {real} NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    ts {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    fence INTEGER NOT NULL,
    started_at {real} NOT NULL,
    ended_at {real},
    outcome TEXT,
    error_class TEXT,
    error_message TEXT,
    worker TEXT,
    PRIMARY KEY (job_id, number)
);
CREATE TABLE IF NOT EXISTS pools (
    name TEXT PRIMARY KEY,
    healthy INTEGER NOT NULL,
    error TEXT,
    actors INTEGER NOT NULL,
    size INTEGER NOT NULL,
    in_flight INTEGER NOT NULL,
    updated_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS dispatcher_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    boot_id TEXT,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    backend_pid INTEGER,
    acquired_at {real} NOT NULL,
    heartbeat_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    object_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    url TEXT NOT NULL,
    created {real} NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS webhooks_pending ON webhooks(done, created);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at {real} NOT NULL,
    claimed_by TEXT,
    claimed_until {real},
    created_at {real} NOT NULL,
    delivered_at {real},
    last_status INTEGER,
    last_error TEXT,
    UNIQUE (object_id, event)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(status, next_at);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id {serial},
    delivery_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    ok INTEGER NOT NULL,
    error TEXT,
    ts {real} NOT NULL,
    duration_ms {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_object ON webhook_attempts(object_id, id);
CREATE TABLE IF NOT EXISTS job_assets (
    asset_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (asset_id, tenant, job_id)
){without_rowid};
"""

# SQLite databases made before ``job_assets`` existed: index their jobs once, on first open.
_ASSET_BACKFILL = """
INSERT OR IGNORE INTO job_assets(asset_id, tenant, job_id)
    SELECT j.value, jobs.tenant, jobs.id FROM jobs, json_each(jobs.inputs) AS j WHERE j.type = 'text'
    UNION SELECT o.value, jobs.tenant, jobs.id FROM jobs, json_each(jobs.outputs) AS o WHERE o.type = 'text';
"""

_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.RETRYING.value)


def _row_to_job(row: Any) -> JobRecord:
    return JobRecord(
        id=row["id"],
        kind=row["kind"],
        status=JobStatus(row["status"]),
        lane=row["lane"],
        priority=row["priority"],
        tenant=row["tenant"],
        campaign_id=row["campaign_id"],
        idempotency_key=row["idempotency_key"],
        parent_id=row["parent_id"],
        params=json.loads(row["params"]),
        inputs=json.loads(row["inputs"]),
        outputs=json.loads(row["outputs"]),
        result=json.loads(row["result"]),
        fingerprint=row["fingerprint"],
        cache_hit=bool(row["cache_hit"]),
        cached_from=row["cached_from"],
        depends_on=json.loads(row["depends_on"]),
        pool=row["pool"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        fence=row["fence"],
        timeout_s=row["timeout_s"],
        not_before=row["not_before"],
        cancel_requested=bool(row["cancel_requested"]),
        error_class=row["error_class"],
        error_message=row["error_message"],
        error_traceback=row["error_traceback"],
        error_field=row["error_field"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _marks(n: int) -> str:
    return ",".join("?" * n)


# -- holder liveness (the dispatcher lease) ---------------------------------------------------


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
    try:  # no /proc: a signal-0 probe still tells a missing pid
        os.kill(int(row["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SQLJobStore:
    """Every query and state transition of the job store, for any dialect subclass.

    Subclasses provide ``_conn`` (this thread's connection), ``_write`` (one write transaction),
    ``_x`` (run one statement written with ``?`` placeholders), ``_FOR_UPDATE`` / ``_SKIP_LOCKED``
    (row-lock clauses; empty where the write transaction already serialises writers) and the
    dispatcher lease.
    """

    dialect = "sql"
    _FOR_UPDATE = ""
    _SKIP_LOCKED = ""

    # -- dialect hooks ---------------------------------------------------------------------------

    def _conn(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def _write(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def _x(self, db: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def acquire_lease(self, owner: str, lease_s: float) -> bool:
        raise NotImplementedError

    def release_lease(self, owner: str) -> None:
        raise NotImplementedError

    def _lease_alive(self, row: Any, lease_s: float) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the jobs live (no password), for messages."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    def _read(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._x(self._conn(), sql, args)

    def _event(self, db: Any, job_id: str, stage: str, fraction: float, message: str = "") -> int:
        row = self._x(
            db,
            "INSERT INTO events(job_id, stage, fraction, message, ts) VALUES (?,?,?,?,?) RETURNING id",
            (job_id, stage, max(0.0, min(1.0, float(fraction))), message, time.time()),
        ).fetchone()
        return int(row["id"])

    def _get(self, db: Any, job_id: str, *, lock: bool = False) -> JobRecord:
        sql = "SELECT * FROM jobs WHERE id = ?" + (self._FOR_UPDATE if lock else "")
        row = self._x(db, sql, (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _row_to_job(row)

    def _index_assets(self, db: Any, job_id: str, tenant: str, *mappings: dict[str, Any]) -> None:
        """Record which tenant's job used or produced each asset (API read access, GC references)."""
        ids = sorted({v for m in mappings for v in m.values() if isinstance(v, str)})
        for asset_id in ids:
            self._x(
                db,
                "INSERT INTO job_assets(asset_id, tenant, job_id) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                (asset_id, tenant, job_id),
            )

    # -- create / read -----------------------------------------------------------------------

    def create_job(
        self,
        spec: JobSpec,
        *,
        fingerprint: str,
        pool: str,
        timeout_s: float,
        max_attempts: int,
        depends_on: Sequence[str] = (),
        cached_from: JobRecord | None = None,
        job_id: str | None = None,
    ) -> tuple[JobRecord, bool]:
        now = time.time()
        job_id = job_id or new_job_id()
        by_key = "SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?"
        with self._write() as db:
            if spec.idempotency_key is not None:
                row = self._x(db, by_key, (spec.tenant, spec.idempotency_key)).fetchone()
                if row is not None:
                    return _row_to_job(row), False
            cached = cached_from is not None
            status = JobStatus.SUCCEEDED if cached else JobStatus.QUEUED
            outputs = cached_from.outputs if cached_from else {}
            cur = self._x(
                db,
                """INSERT INTO jobs(id, kind, status, lane, lane_rank, priority, tenant, campaign_id,
                   idempotency_key, parent_id, params, inputs, outputs, result, fingerprint, cache_hit,
                   cached_from, depends_on, pool, max_attempts, timeout_s, created_at, updated_at, finished_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
                (
                    job_id,
                    spec.kind,
                    status.value,
                    spec.lane,
                    Lane(spec.lane).rank,
                    spec.priority,
                    spec.tenant,
                    spec.campaign_id,
                    spec.idempotency_key,
                    spec.parent_id,
                    _dumps(spec.params),
                    _dumps(spec.inputs),
                    _dumps(outputs),
                    _dumps(cached_from.result if cached_from else {}),
                    fingerprint,
                    int(cached),
                    cached_from.id if cached_from else None,
                    _dumps(list(depends_on)),
                    pool,
                    max_attempts,
                    timeout_s,
                    now,
                    now,
                    now if cached else None,
                ),
            )
            if cur.rowcount == 0 and spec.idempotency_key is not None:
                # another API process inserted the same key between our look-up and insert (PostgreSQL)
                row = self._x(db, by_key, (spec.tenant, spec.idempotency_key)).fetchone()
                if row is not None:
                    return _row_to_job(row), False
            for dep in depends_on:
                self._x(db, "INSERT INTO job_deps(job_id, dep_id) VALUES (?,?) ON CONFLICT DO NOTHING", (job_id, dep))
            self._index_assets(db, job_id, spec.tenant, spec.inputs, outputs)
            if cached_from is not None:
                self._event(db, job_id, "cache_hit", 1.0, f"same fingerprint as {cached_from.id}")
                self._event(db, job_id, "succeeded", 1.0, "")
            else:
                self._event(db, job_id, "queued", 0.0, f"lane {spec.lane}")
            return self._get(db, job_id), True

    def get(self, job_id: str) -> JobRecord:
        row = self._read("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _row_to_job(row)

    def find_by_key(self, tenant: str, idempotency_key: str) -> JobRecord | None:
        """The job a tenant submitted with this idempotency key, if any."""
        row = self._read("SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?", (tenant, idempotency_key))
        found = row.fetchone()
        return _row_to_job(found) if found else None

    def list_jobs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        kind: str | None = None,
        lane: str | None = None,
        tenant: str | None = None,
        campaign_id: str | None = None,
        parent_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Newest first."""
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({_marks(len(statuses))})")
            args.extend(str(s) for s in statuses)
        for col, val in (("kind", kind), ("lane", lane), ("tenant", tenant), ("campaign_id", campaign_id)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if parent_id is not None:
            where.append("parent_id = ?")
            args.append(parent_id)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        args.extend([int(limit), int(offset)])
        return [_row_to_job(r) for r in self._read(sql, args).fetchall()]

    def find_by_fingerprint(self, fingerprint: str, *, active: bool = False) -> JobRecord | None:
        """The newest succeeded job with this fingerprint (``active=True``: a queued/running one)."""
        if active:
            # A job being canceled is not shared any more: a new dependent must not attach to it.
            sql = (f"SELECT * FROM jobs WHERE fingerprint = ? AND cancel_requested = 0"
                   f" AND status IN ({_marks(len(_ACTIVE))})")
            args: list[Any] = [fingerprint, *_ACTIVE]
        else:
            sql = "SELECT * FROM jobs WHERE fingerprint = ? AND status = 'succeeded'"
            args = [fingerprint]
        row = self._read(sql + " ORDER BY created_at DESC LIMIT 1", args).fetchone()
        return _row_to_job(row) if row else None

    def tenants_for_asset(self, asset_id: str) -> set[str]:
        """Tenants with a job that has ``asset_id`` as an input or output (indexed lookup)."""
        rows = self._read("SELECT DISTINCT tenant FROM job_assets WHERE asset_id = ?", (asset_id,)).fetchall()
        return {str(r["tenant"]) for r in rows}

    def referenced_assets(self) -> set[str]:
        """Every asset id any job (any status) has as an input or output: never garbage."""
        return {str(r["asset_id"]) for r in self._read("SELECT DISTINCT asset_id FROM job_assets").fetchall()}

    def children(self, job_id: str) -> list[JobRecord]:
        """Jobs this one depends on, in dependency order."""
        rec = self.get(job_id)
        return [self.get(d) for d in rec.depends_on]

    # -- dispatch ----------------------------------------------------------------------------

    def claim(self, pool: str, limit: int, *, owner: str, worker: str | None = None) -> list[JobRecord]:
        """Atomically move up to ``limit`` runnable jobs of ``pool`` to running with a new fence.

        Order: lane (interactive first), priority (high first), age (old first). A job is runnable
        when queued/retrying, past its backoff, not being canceled, and all its dependencies
        succeeded. On PostgreSQL rows another transaction is claiming are skipped, not waited for.
        """
        if limit <= 0:
            return []
        now = time.time()
        with self._write() as db:
            rows = self._x(
                db,
                """SELECT id FROM jobs WHERE pool = ? AND status IN ('queued','retrying') AND not_before <= ?
                   AND cancel_requested = 0
                   AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs c ON c.id = d.dep_id
                                   WHERE d.job_id = jobs.id AND c.status != 'succeeded')
                   ORDER BY lane_rank, priority DESC, created_at, id LIMIT ?"""
                + self._SKIP_LOCKED,
                (pool, now, int(limit)),
            ).fetchall()
            out = []
            for row in rows:
                job_id = row["id"]
                self._x(
                    db,
                    """UPDATE jobs SET status = 'running', attempts = attempts + 1, fence = fence + 1,
                       owner = ?, started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ?""",
                    (owner, now, now, job_id),
                )
                rec = self._get(db, job_id)
                self._x(
                    db,
                    """INSERT INTO attempts(job_id, number, fence, started_at, worker) VALUES (?,?,?,?,?)
                       ON CONFLICT (job_id, number) DO UPDATE SET fence = excluded.fence,
                       started_at = excluded.started_at, worker = excluded.worker, ended_at = NULL,
                       outcome = NULL, error_class = NULL, error_message = NULL""",
                    (job_id, rec.attempts, rec.fence, now, worker),
                )
                self._event(db, job_id, "running", 0.0, f"attempt {rec.attempts}/{rec.max_attempts}")
                out.append(rec)
            return out

    def _end_attempt(
        self,
        db: Any,
        rec: JobRecord,
        outcome: str,
        error: JobError | None = None,
        worker: str | None = None,
    ) -> None:
        self._x(
            db,
            """UPDATE attempts SET ended_at = ?, outcome = ?, error_class = ?, error_message = ?,
               worker = COALESCE(?, worker) WHERE job_id = ? AND fence = ?""",
            (
                time.time(),
                outcome,
                error.error_class if error else None,
                error.message if error else None,
                worker,
                rec.id,
                rec.fence,
            ),
        )

    def _current(self, db: Any, job_id: str, fence: int) -> JobRecord | None:
        """The job (row locked) if ``fence`` is its current attempt and it is running; else None."""
        rec = self._get(db, job_id, lock=True)
        if rec.fence != fence or rec.status != JobStatus.RUNNING:
            return None
        return rec

    def set_worker(self, job_id: str, fence: int, worker: str) -> None:
        with self._write() as db:
            self._x(db, "UPDATE attempts SET worker = ? WHERE job_id = ? AND fence = ?", (worker, job_id, fence))

    def finish_success(
        self,
        job_id: str,
        fence: int,
        outputs: dict[str, str],
        result: dict[str, Any],
        *,
        worker: str | None = None,
    ) -> bool:
        """Mark succeeded (the caller has stored every output asset already). False if the attempt is stale."""
        now = time.time()
        with self._write() as db:
            rec = self._current(db, job_id, fence)
            if rec is None:
                return False
            self._x(
                db,
                """UPDATE jobs SET status = 'succeeded', outputs = ?, result = ?, finished_at = ?, updated_at = ?,
                   error_class = NULL, error_message = NULL, error_traceback = NULL, error_field = NULL
                   WHERE id = ?""",
                (_dumps(outputs), _dumps(result), now, now, job_id),
            )
            self._index_assets(db, job_id, rec.tenant, outputs)
            self._end_attempt(db, rec, "succeeded", worker=worker)
            self._event(db, job_id, "succeeded", 1.0, "")
            return True

    def finish_failure(self, job_id: str, fence: int, error: JobError, *, retry_at: float | None) -> JobRecord | None:
        """Record a failed attempt: ``retrying`` until ``retry_at`` if given and attempts remain, else
        ``failed`` (and dependents fail too). Returns the new record, or None if the attempt is stale."""
        now = time.time()
        with self._write() as db:
            rec = self._current(db, job_id, fence)
            if rec is None:
                return None
            retry = retry_at is not None and rec.attempts < rec.max_attempts and not rec.cancel_requested
            status = JobStatus.RETRYING if retry else JobStatus.FAILED
            self._x(
                db,
                """UPDATE jobs SET status = ?, not_before = ?, error_class = ?, error_message = ?,
                   error_traceback = ?, error_field = ?, updated_at = ?, finished_at = ? WHERE id = ?""",
                (
                    status.value,
                    retry_at if retry and retry_at is not None else 0.0,
                    error.error_class,
                    error.message,
                    error.traceback,
                    error.field,
                    now,
                    None if retry else now,
                    job_id,
                ),
            )
            self._end_attempt(db, rec, "retrying" if retry else "failed", error)
            if retry:
                wait = max(0.0, (retry_at or now) - now)
                self._event(
                    db,
                    job_id,
                    "retrying",
                    0.0,
                    f"{error.error_class}: {error.message} (retry in {wait:.1f}s)",
                )
            else:
                self._event(db, job_id, "failed", 1.0, f"{error.error_class}: {error.message}")
                self._fail_dependents(db, job_id, f"dependency {job_id} failed: {error.error_class}: {error.message}")
            return self._get(db, job_id)

    def finish_canceled(self, job_id: str, fence: int) -> bool:
        now = time.time()
        with self._write() as db:
            rec = self._current(db, job_id, fence)
            if rec is None:
                return False
            self._x(
                db,
                "UPDATE jobs SET status = 'canceled', finished_at = ?, updated_at = ?, outputs = '{}' WHERE id = ?",
                (now, now, job_id),
            )
            self._end_attempt(db, rec, "canceled")
            self._event(db, job_id, "canceled", 1.0, "canceled while running")
            self._fail_dependents(db, job_id, f"dependency {job_id} was canceled", cancel=True)
            return True

    def _fail_dependents(self, db: Any, job_id: str, reason: str, *, cancel: bool = False) -> None:
        now = time.time()
        rows = self._x(
            db,
            f"""SELECT j.id FROM job_deps d JOIN jobs j ON j.id = d.job_id
                WHERE d.dep_id = ? AND j.status IN ({_marks(len(_ACTIVE))})""",
            (job_id, *_ACTIVE),
        ).fetchall()
        for row in rows:
            status = "canceled" if cancel else "failed"
            self._x(
                db,
                """UPDATE jobs SET status = ?, error_class = ?, error_message = ?, finished_at = ?, updated_at = ?
                   WHERE id = ?""",
                (
                    status,
                    None if cancel else "DependencyFailed",
                    None if cancel else reason,
                    now,
                    now,
                    row["id"],
                ),
            )
            self._event(db, row["id"], status, 1.0, reason)
            self._fail_dependents(db, row["id"], reason, cancel=cancel)

    def _active_dependents(self, db: Any, job_id: str, exclude: str | None = None) -> list[str]:
        rows = self._x(
            db,
            f"""SELECT j.id FROM job_deps d JOIN jobs j ON j.id = d.job_id
                WHERE d.dep_id = ? AND j.cancel_requested = 0 AND j.status IN ({_marks(len(_ACTIVE))})""",
            (job_id, *_ACTIVE),
        ).fetchall()
        return [str(r["id"]) for r in rows if r["id"] != exclude]

    def _cancel_one(self, db: Any, rec: JobRecord, now: float, why: str) -> None:
        if rec.status in (JobStatus.QUEUED, JobStatus.RETRYING):
            self._x(
                db,
                "UPDATE jobs SET status = 'canceled', cancel_requested = 1, finished_at = ?, updated_at = ? WHERE id = ?",
                (now, now, rec.id),
            )
            self._event(db, rec.id, "canceled", 1.0, why)
            self._fail_dependents(db, rec.id, f"dependency {rec.id} was canceled", cancel=True)
        elif rec.status == JobStatus.RUNNING and not rec.cancel_requested:
            self._x(db, "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?", (now, rec.id))
            self._event(db, rec.id, "cancel_requested", 0.0, "stopping the running attempt")

    def request_cancel(self, job_id: str) -> JobRecord:
        """Queued/retrying -> canceled now; running -> ``cancel_requested`` (the dispatcher stops it).

        Reference-counted, in one transaction: a job other active jobs still depend on is not
        canceled (``JobInUse``); the job's own dependencies are canceled too when no other active
        job needs them any more.
        """
        now = time.time()
        with self._write() as db:
            rec = self._get(db, job_id, lock=True)
            if not rec.terminal:
                users = self._active_dependents(db, job_id)
                if users:
                    raise JobInUse(job_id, users)
            self._cancel_one(db, rec, now, "canceled before it ran")
            if rec.status in (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING):
                for dep in rec.depends_on:
                    child = self._get(db, dep, lock=True)
                    if not child.terminal and not self._active_dependents(db, dep, exclude=job_id):
                        self._cancel_one(db, child, now, f"canceled with {job_id}, the last job that needed it")
            return self._get(db, job_id)

    def cancel_requested(self, job_ids: Sequence[str]) -> list[str]:
        """Which of these (running) jobs have a pending cancel request."""
        if not job_ids:
            return []
        rows = self._read(
            f"SELECT id FROM jobs WHERE cancel_requested = 1 AND id IN ({_marks(len(job_ids))})", list(job_ids)
        ).fetchall()
        return [r["id"] for r in rows]

    def retry(self, job_id: str) -> JobRecord:
        """Put a failed or canceled job back in the queue with a fresh attempt budget."""
        now = time.time()
        with self._write() as db:
            rec = self._get(db, job_id, lock=True)
            if rec.status not in (JobStatus.FAILED, JobStatus.CANCELED):
                raise InvalidTransition(
                    f"job {job_id} is {rec.status.value}; only failed or canceled jobs can be retried"
                )
            # Failed/canceled dependencies go back in the queue too, so the retried job can run.
            for dep in rec.depends_on:
                if self._get(db, dep, lock=True).status in (JobStatus.FAILED, JobStatus.CANCELED):
                    self._requeue(db, dep, now)
            self._requeue(db, job_id, now)
            return self._get(db, job_id)

    def _requeue(self, db: Any, job_id: str, now: float) -> None:
        self._x(
            db,
            """UPDATE jobs SET status = 'queued', attempts = 0, not_before = 0, cancel_requested = 0,
               error_class = NULL, error_message = NULL, error_traceback = NULL, error_field = NULL,
               finished_at = NULL, outputs = '{}', result = '{}', updated_at = ? WHERE id = ?""",
            (now, job_id),
        )
        self._event(db, job_id, "queued", 0.0, "retried by request")

    def requeue_stale(self, *, owner: str) -> list[str]:
        """Dispatcher start-up: running jobs owned by another (dead) dispatcher go back to the queue.

        Their attempt is closed as ``abandoned``; the next claim bumps the fence, so a late result
        from the old attempt is ignored. Finished jobs are untouched.
        """
        now = time.time()
        with self._write() as db:
            rows = self._x(
                db,
                "SELECT * FROM jobs WHERE status = 'running' AND (owner IS NULL OR owner != ?) ORDER BY id"
                + self._FOR_UPDATE,
                (owner,),
            ).fetchall()
            ids = []
            for row in rows:
                rec = _row_to_job(row)
                if rec.cancel_requested:
                    self._x(
                        db,
                        "UPDATE jobs SET status = 'canceled', finished_at = ?, updated_at = ? WHERE id = ?",
                        (now, now, rec.id),
                    )
                    self._end_attempt(db, rec, "canceled")
                    self._event(db, rec.id, "canceled", 1.0, "canceled (dispatcher restarted)")
                    continue
                self._x(
                    db,
                    "UPDATE jobs SET status = 'retrying', not_before = ?, updated_at = ? WHERE id = ?",
                    (now, now, rec.id),
                )
                self._end_attempt(db, rec, "abandoned")
                self._event(db, rec.id, "retrying", 0.0, "dispatcher restarted; attempt abandoned, re-queued")
                ids.append(rec.id)
            return ids

    # -- events ------------------------------------------------------------------------------

    def add_event(self, job_id: str, stage: str, fraction: float, message: str = "") -> int:
        with self._write() as db:
            return self._event(db, job_id, stage, fraction, message)

    def add_events(self, events: Sequence[tuple[str, int, str, float, str]]) -> None:
        """Batch of (job_id, fence, stage, fraction, message) from actors; stale fences are dropped."""
        if not events:
            return
        with self._write() as db:
            for job_id, fence, stage, fraction, message in events:
                row = self._x(db, "SELECT fence, status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None or row["fence"] != fence or row["status"] != "running":
                    continue
                self._event(db, job_id, stage, fraction, message)

    def events(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[JobEvent]:
        """Events of a job with id > ``after``, oldest first (an SSE stream resumes from Last-Event-ID)."""
        rows = self._read(
            "SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?", (job_id, int(after), int(limit))
        ).fetchall()
        return [JobEvent(r["id"], r["job_id"], r["stage"], r["fraction"], r["message"], r["ts"]) for r in rows]

    def attempts(self, job_id: str) -> list[Attempt]:
        rows = self._read("SELECT * FROM attempts WHERE job_id = ? ORDER BY number", (job_id,)).fetchall()
        return [
            Attempt(
                r["job_id"],
                r["number"],
                r["fence"],
                r["started_at"],
                r["ended_at"],
                r["outcome"],
                r["error_class"],
                r["error_message"],
                r["worker"],
            )
            for r in rows
        ]

    # -- status ------------------------------------------------------------------------------

    def queue_depth(self) -> dict[str, dict[str, int]]:
        """Active jobs per lane and status: ``{"interactive": {"queued": 3, ...}, "batch": {...}}``."""
        out: dict[str, dict[str, int]] = {lane.value: {s: 0 for s in _ACTIVE} for lane in Lane}
        rows = self._read(
            f"SELECT lane, status, COUNT(*) AS n FROM jobs WHERE status IN ({_marks(len(_ACTIVE))}) "
            "GROUP BY lane, status",
            _ACTIVE,
        ).fetchall()
        for r in rows:
            out.setdefault(r["lane"], {})[r["status"]] = int(r["n"])
        return out

    def pool_depth(self) -> dict[str, int]:
        """Queued + retrying jobs per pool."""
        rows = self._read(
            "SELECT pool, COUNT(*) AS n FROM jobs WHERE status IN ('queued','retrying') GROUP BY pool"
        ).fetchall()
        return {r["pool"]: int(r["n"]) for r in rows}

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        return {r["status"]: int(r["n"]) for r in rows}

    def set_pool_health(self, health: PoolHealth) -> None:
        with self._write() as db:
            self._x(
                db,
                """INSERT INTO pools(name, healthy, error, actors, size, in_flight, updated_at) VALUES (?,?,?,?,?,?,?)
                   ON CONFLICT (name) DO UPDATE SET healthy = excluded.healthy, error = excluded.error,
                   actors = excluded.actors, size = excluded.size, in_flight = excluded.in_flight,
                   updated_at = excluded.updated_at""",
                (
                    health.name,
                    int(health.healthy),
                    health.error,
                    health.actors,
                    health.size,
                    health.in_flight,
                    health.updated_at,
                ),
            )

    def pool_health(self) -> list[PoolHealth]:
        rows = self._read("SELECT * FROM pools ORDER BY name").fetchall()
        return [
            PoolHealth(
                r["name"],
                bool(r["healthy"]),
                r["error"],
                r["actors"],
                r["size"],
                r["in_flight"],
                r["updated_at"],
            )
            for r in rows
        ]

    # -- webhooks: subscriptions, durable outbox, delivery log -------------------------------
    #
    # An event is written to the outbox once (unique per object and event) in the same
    # transaction that retires the subscription; senders claim due rows (skipping rows another
    # sender holds), POST, and only a 2xx marks a row delivered. Failures reschedule the row
    # (``next_at``) with backoff; a sender that dies mid-delivery leaves a claim that expires, so
    # the event is sent again with the same delivery id (receivers dedupe on it).

    def set_webhook(self, object_id: str, kind: str, tenant: str, url: str) -> None:
        """Subscribe ``url`` to the job's or campaign's terminal events (first subscription wins)."""
        with self._write() as db:
            self._x(
                db,
                "INSERT INTO webhooks(object_id, kind, tenant, url, created) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                (object_id, kind, tenant, url, time.time()),
            )

    def webhook(self, object_id: str) -> dict[str, Any] | None:
        row = self._read("SELECT * FROM webhooks WHERE object_id = ?", (object_id,)).fetchone()
        return None if row is None else dict(row)

    def pending_webhooks(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Subscriptions whose events are not yet in the outbox, oldest first."""
        rows = self._read("SELECT * FROM webhooks WHERE done = 0 ORDER BY created LIMIT ?", (int(limit),)).fetchall()
        return [dict(r) for r in rows]

    def mark_webhook_done(self, object_id: str) -> None:
        with self._write() as db:
            self._x(db, "UPDATE webhooks SET done = 1 WHERE object_id = ?", (object_id,))

    def enqueue_webhook_events(self, object_id: str, events: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Put the object's events in the outbox (in order) and retire its subscription, atomically.

        Each event gets a delivery id, also placed in its JSON body as ``delivery_id``. Returns the
        new delivery ids; [] when another process enqueued them first.
        """
        now = time.time()
        with self._write() as db:
            hook = self._x(db, "SELECT * FROM webhooks WHERE object_id = ?" + self._FOR_UPDATE, (object_id,)).fetchone()
            if hook is None or hook["done"]:
                return []
            ids = []
            for seq, (event, payload) in enumerate(events):
                delivery_id = "whd_" + uuid.uuid4().hex[:24]
                body = json.dumps(
                    {"event": event, "delivery_id": delivery_id, **payload}, separators=(",", ":"), default=str
                )
                cur = self._x(
                    db,
                    """INSERT INTO webhook_outbox(id, object_id, seq, kind, tenant, event, url, body, status,
                       next_at, created_at) VALUES (?,?,?,?,?,?,?,?,'pending',?,?) ON CONFLICT DO NOTHING""",
                    (delivery_id, object_id, seq, hook["kind"], hook["tenant"], event, hook["url"], body, now, now),
                )
                if cur.rowcount:
                    ids.append(delivery_id)
            self._x(db, "UPDATE webhooks SET done = 1 WHERE object_id = ?", (object_id,))
            return ids

    def claim_webhook_deliveries(self, owner: str, limit: int, claim_s: float) -> list[dict[str, Any]]:
        """Claim up to ``limit`` due outbox rows for ``claim_s`` seconds: the oldest pending event of
        each object (events of one object go out in order), none claimed by a live sender."""
        now = time.time()
        with self._write() as db:
            rows = self._x(
                db,
                """SELECT * FROM webhook_outbox o WHERE status = 'pending' AND next_at <= ?
                   AND (claimed_until IS NULL OR claimed_until < ?)
                   AND NOT EXISTS (SELECT 1 FROM webhook_outbox e WHERE e.object_id = o.object_id
                                   AND e.seq < o.seq AND e.status = 'pending')
                   ORDER BY next_at, created_at, seq LIMIT ?"""
                + self._SKIP_LOCKED,
                (now, now, int(limit)),
            ).fetchall()
            out = []
            for row in rows:
                self._x(
                    db,
                    "UPDATE webhook_outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1 WHERE id = ?",
                    (owner, now + claim_s, row["id"]),
                )
                out.append({**dict(row), "attempts": int(row["attempts"]) + 1})
            return out

    def release_webhook_claims(self, owners: Iterable[str]) -> int:
        """Make rows claimed by these (dead) senders due again at once; returns how many."""
        n = 0
        with self._write() as db:
            for owner in owners:
                cur = self._x(
                    db,
                    "UPDATE webhook_outbox SET claimed_by = NULL, claimed_until = NULL WHERE status = 'pending' "
                    "AND claimed_by = ?",
                    (owner,),
                )
                n += int(cur.rowcount or 0)
        return n

    def webhook_claimants(self) -> list[str]:
        """Senders that hold a claim on a pending row right now."""
        rows = self._read(
            "SELECT DISTINCT claimed_by FROM webhook_outbox WHERE status = 'pending' AND claimed_until >= ?",
            (time.time(),),
        ).fetchall()
        return [str(r["claimed_by"]) for r in rows if r["claimed_by"]]

    def finish_webhook_attempt(
        self,
        delivery: dict[str, Any],
        owner: str,
        *,
        status_code: int | None,
        ok: bool,
        error: str | None,
        duration_ms: float,
        retry_at: float | None,
    ) -> str:
        """Log one attempt and settle the row: ``delivered`` on a 2xx; else ``pending`` again until
        ``retry_at``, or ``failed`` when ``retry_at`` is None (given up). Returns the row's status."""
        now = time.time()
        with self._write() as db:
            self._x(
                db,
                """INSERT INTO webhook_attempts(delivery_id, object_id, event, url, attempt, status_code, ok, error, ts,
                   duration_ms) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                (
                    delivery["id"], delivery["object_id"], delivery["event"], delivery["url"],
                    int(delivery["attempts"]), status_code, int(ok), error, now, float(duration_ms),
                ),
            )
            row = self._x(db, "SELECT * FROM webhook_outbox WHERE id = ?" + self._FOR_UPDATE, (delivery["id"],)).fetchone()
            if row is None or row["status"] != "pending":
                return str(row["status"]) if row else "missing"
            if ok:
                status = "delivered"
                self._x(
                    db,
                    """UPDATE webhook_outbox SET status = 'delivered', delivered_at = ?, last_status = ?,
                       last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE id = ?""",
                    (now, status_code, delivery["id"]),
                )
            elif row["claimed_by"] != owner:
                return "pending"  # our claim lapsed and another sender owns the row now
            else:
                status = "pending" if retry_at is not None else "failed"
                self._x(
                    db,
                    """UPDATE webhook_outbox SET status = ?, next_at = ?, last_status = ?, last_error = ?,
                       claimed_by = NULL, claimed_until = NULL WHERE id = ?""",
                    (status, retry_at if retry_at is not None else row["next_at"], status_code, error, delivery["id"]),
                )
            return status

    def webhook_log(self, object_id: str) -> dict[str, Any]:
        """The delivery log of a job or campaign: its events (outbox state) and every attempt."""
        events = self._read(
            """SELECT id, event, status, attempts, next_at, created_at, delivered_at, last_status, last_error
               FROM webhook_outbox WHERE object_id = ? ORDER BY seq""",
            (object_id,),
        ).fetchall()
        attempts = self._read(
            """SELECT delivery_id, event, url, attempt, status_code, ok, error, ts, duration_ms
               FROM webhook_attempts WHERE object_id = ? ORDER BY id""",
            (object_id,),
        ).fetchall()
        return {
            "events": [{**dict(e), "delivery_id": e["id"]} for e in events],
            "deliveries": [{**dict(a), "ok": bool(a["ok"])} for a in attempts],
        }

    def webhook_outbox_counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) AS n FROM webhook_outbox GROUP BY status").fetchall()
        return {str(r["status"]): int(r["n"]) for r in rows}

    # -- dispatcher lease (shared part) ------------------------------------------------------

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


class SQLiteJobStore(SQLJobStore):
    """SQLite job store (WAL). Safe to share between threads (one connection per thread) and processes."""

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
        conn.executescript(_SCHEMA.format(real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT",
                                          without_rowid=" WITHOUT ROWID"))
        if had_jobs and not had_assets:
            conn.executescript(_ASSET_BACKFILL)  # once per database: jobs from before the index

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

    # -- dispatcher lease --------------------------------------------------------------------

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


class _Rows:
    """Rows fetched before a pooled connection goes back (the cursor API the shared code uses)."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows


# Session advisory lock key of the PostgreSQL dispatcher lease ("mayd", "o-ds" as int4s). Advisory
# locks are per database, so two maydo deployments in one cluster do not collide.
_PG_LEASE_KEY = (0x6D617964, 0x6F2D6473)


class PostgresJobStore(SQLJobStore):
    """PostgreSQL job store (psycopg 3): one autocommit connection per thread; writes in explicit
    transactions with row locks; claims with ``FOR UPDATE SKIP LOCKED``; the dispatcher lease is a
    session advisory lock on a dedicated connection. ``url``: ``postgresql://user:pw@host:port/db``."""

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
        self._lease_lock = threading.Lock()
        self._lease_conn: Any = None
        self._lease_owner: str | None = None
        try:
            conn = self._connect()
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"cannot connect to the job database {self.describe()}: {exc}".strip()) from exc
        with conn, conn.transaction():
            # several processes may open a fresh database at once: create the schema one at a time
            conn.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (_PG_LEASE_KEY[0], 0))
            conn.execute(
                _SCHEMA.format(real="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY", without_rowid="").encode()
            )
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
        with self._lease_lock:
            if self._lease_conn is not None:
                with contextlib.suppress(Exception):
                    self._lease_conn.close()  # ends the session: the advisory lock goes with it
                self._lease_conn = None
                self._lease_owner = None
        with contextlib.suppress(Exception):
            self._pool.close()

    # -- dispatcher lease --------------------------------------------------------------------

    def _lock_held(self) -> bool:
        row = self._read(
            """SELECT 1 AS held FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = ?::oid
               AND objid = ?::oid AND objsubid = 2
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
            _PG_LEASE_KEY,
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
                conn.execute("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3")
                got = conn.execute("SELECT pg_try_advisory_lock(%s::int4, %s::int4) AS got", _PG_LEASE_KEY).fetchone()["got"]
                if not got:
                    row = conn.execute("SELECT * FROM dispatcher_lease WHERE id = 1").fetchone()
                    if row is not None and row["backend_pid"] and now - float(row["heartbeat_at"]) >= lease_s:
                        conn.execute("SELECT pg_terminate_backend(%s::int4)", (row["backend_pid"],))
                        deadline = time.monotonic() + 5.0
                        while not got and time.monotonic() < deadline:
                            time.sleep(0.05)
                            got = conn.execute(
                                "SELECT pg_try_advisory_lock(%s::int4, %s::int4) AS got", _PG_LEASE_KEY
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


def open_job_store(settings: object) -> SQLJobStore:
    """The job store ``jobs.database_url`` names (default: SQLite ``<data_dir>/jobs.sqlite3``)."""
    from workers.settings import Settings

    assert isinstance(settings, Settings)
    url = settings.job_database_url
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresJobStore(url, pool_size=settings.jobs.pool_size)
    return SQLiteJobStore(settings.job_db_path)
