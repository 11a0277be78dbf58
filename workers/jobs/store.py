"""Durable job store: the ``JobStore`` interface and its SQLite (WAL) implementation.

Every state change is one transaction (``BEGIN IMMEDIATE``); results carry a fence token so a
stale attempt (a worker that was presumed dead, a dispatcher that lost its lease) can never
overwrite a newer one. The interface is small so a Postgres store can follow
(``SELECT ... FOR UPDATE SKIP LOCKED`` replaces the immediate transaction in ``claim``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
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
    outputs TEXT NOT NULL DEFAULT '{}',
    result TEXT NOT NULL DEFAULT '{}',
    fingerprint TEXT NOT NULL,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    cached_from TEXT,
    depends_on TEXT NOT NULL DEFAULT '[]',
    pool TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    fence INTEGER NOT NULL DEFAULT 0,
    timeout_s REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error_class TEXT,
    error_message TEXT,
    error_traceback TEXT,
    error_field TEXT,
    owner TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs(pool, status, lane_rank, priority DESC, created_at);
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    fraction REAL NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    fence INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
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
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""

# Which tenants' jobs used or produced an asset (HTTP API read access), kept by triggers so every
# writer (API, CLI, campaign runner, dispatcher) records it without code changes; indexed by asset.
_ASSET_INDEX = """
CREATE TABLE IF NOT EXISTS job_assets (
    asset_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (asset_id, tenant, job_id)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS job_assets_insert AFTER INSERT ON jobs BEGIN
    INSERT OR IGNORE INTO job_assets(asset_id, tenant, job_id)
        SELECT value, NEW.tenant, NEW.id FROM json_each(NEW.inputs) WHERE type = 'text'
        UNION SELECT value, NEW.tenant, NEW.id FROM json_each(NEW.outputs) WHERE type = 'text';
END;
CREATE TRIGGER IF NOT EXISTS job_assets_outputs AFTER UPDATE OF outputs ON jobs BEGIN
    INSERT OR IGNORE INTO job_assets(asset_id, tenant, job_id)
        SELECT value, NEW.tenant, NEW.id FROM json_each(NEW.outputs) WHERE type = 'text';
END;
"""
_ASSET_BACKFILL = """
INSERT OR IGNORE INTO job_assets(asset_id, tenant, job_id)
    SELECT j.value, jobs.tenant, jobs.id FROM jobs, json_each(jobs.inputs) AS j WHERE j.type = 'text'
    UNION SELECT o.value, jobs.tenant, jobs.id FROM jobs, json_each(jobs.outputs) AS o WHERE o.type = 'text';
"""

_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.RETRYING.value)


def _row_to_job(row: sqlite3.Row) -> JobRecord:
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


class SQLiteJobStore:
    """SQLite job store (WAL). Safe to share between threads (one connection per thread) and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        conn = self._conn()
        conn.executescript(_SCHEMA)
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'job_assets'").fetchone() is None:
            conn.executescript(_ASSET_INDEX + _ASSET_BACKFILL)  # once per database: jobs from before the index

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

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _event(db: sqlite3.Connection, job_id: str, stage: str, fraction: float, message: str = "") -> int:
        cur = db.execute(
            "INSERT INTO events(job_id, stage, fraction, message, ts) VALUES (?,?,?,?,?)",
            (job_id, stage, max(0.0, min(1.0, float(fraction))), message, time.time()),
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def _get(db: sqlite3.Connection, job_id: str) -> JobRecord:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _row_to_job(row)

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
        with self._write() as db:
            if spec.idempotency_key is not None:
                row = db.execute(
                    "SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?",
                    (spec.tenant, spec.idempotency_key),
                ).fetchone()
                if row is not None:
                    return _row_to_job(row), False
            cached = cached_from is not None
            status = JobStatus.SUCCEEDED if cached else JobStatus.QUEUED
            db.execute(
                """INSERT INTO jobs(id, kind, status, lane, lane_rank, priority, tenant, campaign_id,
                   idempotency_key, parent_id, params, inputs, outputs, result, fingerprint, cache_hit,
                   cached_from, depends_on, pool, max_attempts, timeout_s, created_at, updated_at, finished_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
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
                    _dumps(cached_from.outputs if cached_from else {}),
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
            for dep in depends_on:
                db.execute("INSERT OR IGNORE INTO job_deps(job_id, dep_id) VALUES (?,?)", (job_id, dep))
            if cached_from is not None:
                self._event(db, job_id, "cache_hit", 1.0, f"same fingerprint as {cached_from.id}")
                self._event(db, job_id, "succeeded", 1.0, "")
            else:
                self._event(db, job_id, "queued", 0.0, f"lane {spec.lane}")
            return self._get(db, job_id), True

    def get(self, job_id: str) -> JobRecord:
        return self._get(self._conn(), job_id)

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
            where.append(f"status IN ({','.join('?' * len(statuses))})")
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
        return [_row_to_job(r) for r in self._conn().execute(sql, args).fetchall()]

    def find_by_fingerprint(self, fingerprint: str, *, active: bool = False) -> JobRecord | None:
        """The newest succeeded job with this fingerprint (``active=True``: a queued/running one)."""
        if active:
            # A job being canceled is not shared any more: a new dependent must not attach to it.
            sql = (f"SELECT * FROM jobs WHERE fingerprint = ? AND cancel_requested = 0"
                   f" AND status IN ({','.join('?' * len(_ACTIVE))})")
            args: list[Any] = [fingerprint, *_ACTIVE]
        else:
            sql = "SELECT * FROM jobs WHERE fingerprint = ? AND status = 'succeeded'"
            args = [fingerprint]
        row = self._conn().execute(sql + " ORDER BY created_at DESC LIMIT 1", args).fetchone()
        return _row_to_job(row) if row else None

    def tenants_for_asset(self, asset_id: str) -> set[str]:
        """Tenants with a job that has ``asset_id`` as an input or output (indexed lookup)."""
        rows = self._conn().execute("SELECT DISTINCT tenant FROM job_assets WHERE asset_id = ?", (asset_id,))
        return {str(r[0]) for r in rows}

    def children(self, job_id: str) -> list[JobRecord]:
        """Jobs this one depends on, in dependency order."""
        rec = self.get(job_id)
        return [self.get(d) for d in rec.depends_on]

    # -- dispatch ----------------------------------------------------------------------------

    def claim(self, pool: str, limit: int, *, owner: str, worker: str | None = None) -> list[JobRecord]:
        """Atomically move up to ``limit`` runnable jobs of ``pool`` to running with a new fence.

        Order: lane (interactive first), priority (high first), age (old first). A job is runnable
        when queued/retrying, past its backoff, not being canceled, and all its dependencies succeeded.
        """
        if limit <= 0:
            return []
        now = time.time()
        with self._write() as db:
            rows = db.execute(
                """SELECT id FROM jobs WHERE pool = ? AND status IN ('queued','retrying') AND not_before <= ?
                   AND cancel_requested = 0
                   AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs c ON c.id = d.dep_id
                                   WHERE d.job_id = jobs.id AND c.status != 'succeeded')
                   ORDER BY lane_rank, priority DESC, created_at, id LIMIT ?""",
                (pool, now, int(limit)),
            ).fetchall()
            out = []
            for row in rows:
                job_id = row["id"]
                db.execute(
                    """UPDATE jobs SET status = 'running', attempts = attempts + 1, fence = fence + 1,
                       owner = ?, started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ?""",
                    (owner, now, now, job_id),
                )
                rec = self._get(db, job_id)
                db.execute(
                    "INSERT OR REPLACE INTO attempts(job_id, number, fence, started_at, worker) VALUES (?,?,?,?,?)",
                    (job_id, rec.attempts, rec.fence, now, worker),
                )
                self._event(db, job_id, "running", 0.0, f"attempt {rec.attempts}/{rec.max_attempts}")
                out.append(rec)
            return out

    def _end_attempt(
        self,
        db: sqlite3.Connection,
        rec: JobRecord,
        outcome: str,
        error: JobError | None = None,
        worker: str | None = None,
    ) -> None:
        db.execute(
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

    def _current(self, db: sqlite3.Connection, job_id: str, fence: int) -> JobRecord | None:
        """The job if ``fence`` is its current attempt and it is running; else None (stale attempt)."""
        rec = self._get(db, job_id)
        if rec.fence != fence or rec.status != JobStatus.RUNNING:
            return None
        return rec

    def set_worker(self, job_id: str, fence: int, worker: str) -> None:
        with self._write() as db:
            db.execute("UPDATE attempts SET worker = ? WHERE job_id = ? AND fence = ?", (worker, job_id, fence))

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
            db.execute(
                """UPDATE jobs SET status = 'succeeded', outputs = ?, result = ?, finished_at = ?, updated_at = ?,
                   error_class = NULL, error_message = NULL, error_traceback = NULL, error_field = NULL
                   WHERE id = ?""",
                (_dumps(outputs), _dumps(result), now, now, job_id),
            )
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
            db.execute(
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
            db.execute(
                "UPDATE jobs SET status = 'canceled', finished_at = ?, updated_at = ?, outputs = '{}' WHERE id = ?",
                (now, now, job_id),
            )
            self._end_attempt(db, rec, "canceled")
            self._event(db, job_id, "canceled", 1.0, "canceled while running")
            self._fail_dependents(db, job_id, f"dependency {job_id} was canceled", cancel=True)
            return True

    def _fail_dependents(self, db: sqlite3.Connection, job_id: str, reason: str, *, cancel: bool = False) -> None:
        now = time.time()
        rows = db.execute(
            f"""SELECT j.id FROM job_deps d JOIN jobs j ON j.id = d.job_id
                WHERE d.dep_id = ? AND j.status IN ({",".join("?" * len(_ACTIVE))})""",
            (job_id, *_ACTIVE),
        ).fetchall()
        for row in rows:
            status = "canceled" if cancel else "failed"
            db.execute(
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

    def _active_dependents(self, db: sqlite3.Connection, job_id: str, exclude: str | None = None) -> list[str]:
        rows = db.execute(
            f"""SELECT j.id FROM job_deps d JOIN jobs j ON j.id = d.job_id
                WHERE d.dep_id = ? AND j.cancel_requested = 0 AND j.status IN ({",".join("?" * len(_ACTIVE))})""",
            (job_id, *_ACTIVE),
        ).fetchall()
        return [str(r["id"]) for r in rows if r["id"] != exclude]

    def _cancel_one(self, db: sqlite3.Connection, rec: JobRecord, now: float, why: str) -> None:
        if rec.status in (JobStatus.QUEUED, JobStatus.RETRYING):
            db.execute(
                "UPDATE jobs SET status = 'canceled', cancel_requested = 1, finished_at = ?, updated_at = ? WHERE id = ?",
                (now, now, rec.id),
            )
            self._event(db, rec.id, "canceled", 1.0, why)
            self._fail_dependents(db, rec.id, f"dependency {rec.id} was canceled", cancel=True)
        elif rec.status == JobStatus.RUNNING and not rec.cancel_requested:
            db.execute("UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?", (now, rec.id))
            self._event(db, rec.id, "cancel_requested", 0.0, "stopping the running attempt")

    def request_cancel(self, job_id: str) -> JobRecord:
        """Queued/retrying -> canceled now; running -> ``cancel_requested`` (the dispatcher stops it).

        Reference-counted, in one transaction: a job other active jobs still depend on is not
        canceled (``JobInUse``); the job's own dependencies are canceled too when no other active
        job needs them any more.
        """
        now = time.time()
        with self._write() as db:
            rec = self._get(db, job_id)
            if not rec.terminal:
                users = self._active_dependents(db, job_id)
                if users:
                    raise JobInUse(job_id, users)
            self._cancel_one(db, rec, now, "canceled before it ran")
            if rec.status in (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING):
                for dep in rec.depends_on:
                    child = self._get(db, dep)
                    if not child.terminal and not self._active_dependents(db, dep, exclude=job_id):
                        self._cancel_one(db, child, now, f"canceled with {job_id}, the last job that needed it")
            return self._get(db, job_id)

    def cancel_requested(self, job_ids: Sequence[str]) -> list[str]:
        """Which of these (running) jobs have a pending cancel request."""
        if not job_ids:
            return []
        rows = (
            self._conn()
            .execute(
                f"SELECT id FROM jobs WHERE cancel_requested = 1 AND id IN ({','.join('?' * len(job_ids))})",
                list(job_ids),
            )
            .fetchall()
        )
        return [r["id"] for r in rows]

    def retry(self, job_id: str) -> JobRecord:
        """Put a failed or canceled job back in the queue with a fresh attempt budget."""
        now = time.time()
        with self._write() as db:
            rec = self._get(db, job_id)
            if rec.status not in (JobStatus.FAILED, JobStatus.CANCELED):
                raise InvalidTransition(
                    f"job {job_id} is {rec.status.value}; only failed or canceled jobs can be retried"
                )
            # Failed/canceled dependencies go back in the queue too, so the retried job can run.
            for dep in rec.depends_on:
                if self._get(db, dep).status in (JobStatus.FAILED, JobStatus.CANCELED):
                    self._requeue(db, dep, now)
            self._requeue(db, job_id, now)
            return self._get(db, job_id)

    def _requeue(self, db: sqlite3.Connection, job_id: str, now: float) -> None:
        db.execute(
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
            rows = db.execute(
                "SELECT * FROM jobs WHERE status = 'running' AND (owner IS NULL OR owner != ?)", (owner,)
            ).fetchall()
            ids = []
            for row in rows:
                rec = _row_to_job(row)
                if rec.cancel_requested:
                    db.execute(
                        "UPDATE jobs SET status = 'canceled', finished_at = ?, updated_at = ? WHERE id = ?",
                        (now, now, rec.id),
                    )
                    self._end_attempt(db, rec, "canceled")
                    self._event(db, rec.id, "canceled", 1.0, "canceled (dispatcher restarted)")
                    continue
                db.execute(
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
                row = db.execute("SELECT fence, status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None or row["fence"] != fence or row["status"] != "running":
                    continue
                self._event(db, job_id, stage, fraction, message)

    def events(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[JobEvent]:
        """Events of a job with id > ``after``, oldest first (an SSE stream resumes from Last-Event-ID)."""
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
                (job_id, int(after), int(limit)),
            )
            .fetchall()
        )
        return [JobEvent(r["id"], r["job_id"], r["stage"], r["fraction"], r["message"], r["ts"]) for r in rows]

    def attempts(self, job_id: str) -> list[Attempt]:
        rows = self._conn().execute("SELECT * FROM attempts WHERE job_id = ? ORDER BY number", (job_id,)).fetchall()
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
        rows = (
            self._conn()
            .execute(
                f"SELECT lane, status, COUNT(*) AS n FROM jobs WHERE status IN ({','.join('?' * len(_ACTIVE))}) "
                "GROUP BY lane, status",
                _ACTIVE,
            )
            .fetchall()
        )
        for r in rows:
            out.setdefault(r["lane"], {})[r["status"]] = r["n"]
        return out

    def pool_depth(self) -> dict[str, int]:
        """Queued + retrying jobs per pool."""
        rows = (
            self._conn()
            .execute("SELECT pool, COUNT(*) AS n FROM jobs WHERE status IN ('queued','retrying') GROUP BY pool")
            .fetchall()
        )
        return {r["pool"]: r["n"] for r in rows}

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        return {r["status"]: r["n"] for r in rows}

    def set_pool_health(self, health: PoolHealth) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO pools(name, healthy, error, actors, size, in_flight, updated_at) VALUES (?,?,?,?,?,?,?)",
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
        rows = self._conn().execute("SELECT * FROM pools ORDER BY name").fetchall()
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

    # -- dispatcher lease --------------------------------------------------------------------

    def acquire_lease(self, owner: str, lease_s: float) -> bool:
        """Take (or renew) the single-dispatcher lease; False while another live owner holds it."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT owner, heartbeat_at FROM lease WHERE id = 1").fetchone()
            if row is not None and row["owner"] != owner and now - row["heartbeat_at"] < lease_s:
                return False
            db.execute("INSERT OR REPLACE INTO lease(id, owner, heartbeat_at) VALUES (1, ?, ?)", (owner, now))
            return True

    def lease_holder(self) -> tuple[str, float] | None:
        row = self._conn().execute("SELECT owner, heartbeat_at FROM lease WHERE id = 1").fetchone()
        return (row["owner"], row["heartbeat_at"]) if row else None

    def release_lease(self, owner: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM lease WHERE id = 1 AND owner = ?", (owner,))


def open_job_store(settings: object) -> SQLiteJobStore:
    """The job store the settings describe (SQLite at ``settings.job_db_path``)."""
    from workers.settings import Settings

    assert isinstance(settings, Settings)
    return SQLiteJobStore(settings.job_db_path)
