"""Durable job store: the job state machine, and the store classes callers use.

``SQLiteJobStore`` (WAL file, one host) and ``PostgresJobStore`` (psycopg 3; several API
processes and one active dispatcher across hosts) share every query and every state transition;
a dialect only supplies connections, transactions, placeholders, column types and row locks.
Every state change is one transaction: SQLite serialises writers with ``BEGIN IMMEDIATE``;
PostgreSQL locks the job rows it changes (``SELECT ... FOR UPDATE``) and ``claim`` skips rows
another dispatcher is claiming (``FOR UPDATE SKIP LOCKED``). Results carry a fence token so a
stale attempt (a worker presumed dead, a dispatcher that lost its lease) can never overwrite a
newer one.

This module holds the job lifecycle (create, claim, finish, cancel, retry, requeue);
the other parts of one store live beside it:

- ``workers.jobs.sql``: the dialect contract (``SQLBase``) and shared SQL helpers;
- ``workers.jobs.queries``: job reads (by id, key, fingerprint, filtered pages);
  ``workers.jobs.errors``: ``JobNotFound``, ``InvalidTransition``, ``JobInUse``;
- ``workers.jobs.schema``: DDL and the one migration; ``workers.jobs.sqlite`` /
  ``workers.jobs.postgres``: the dialects (connections, transactions, placeholders, row locks);
- ``workers.jobs.lease``: the single-dispatcher lease and holder liveness;
- ``workers.jobs.monitor``: events, attempts, queue depth, pool health;
- ``workers.jobs.assets``: asset references (tenant read access, GC);
- ``workers.jobs.reviews``: ad reviews and campaign deletion;
- ``workers.jobs.outbox``: webhook subscriptions, outbox and delivery log.

``open_job_store(settings)`` picks the dialect from ``jobs.database_url``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from workers.jobs.assets import AssetRefsMixin
from workers.jobs.errors import InvalidTransition, JobInUse, JobNotFound
from workers.jobs.lease import LeaseMixin, PostgresLease, SQLiteLease
from workers.jobs.models import JobError, JobRecord, JobSpec, JobStatus, Lane, new_job_id
from workers.jobs.monitor import MonitorMixin
from workers.jobs.outbox import OutboxMixin
from workers.jobs.postgres import PostgresDialect
from workers.jobs.queries import JobQueriesMixin, row_to_job
from workers.jobs.reviews import ReviewsMixin
from workers.jobs.sql import ACTIVE, dumps, marks
from workers.jobs.sqlite import SQLiteDialect

__all__ = [
    "InvalidTransition",
    "JobInUse",
    "JobNotFound",
    "PostgresJobStore",
    "SQLJobStore",
    "SQLiteJobStore",
    "open_job_store",
]


class SQLJobStore(JobQueriesMixin, MonitorMixin, AssetRefsMixin, ReviewsMixin, OutboxMixin, LeaseMixin):
    """Every query and state transition of the job store, for any dialect.

    A concrete store puts a dialect (``SQLiteDialect`` / ``PostgresDialect``: ``_conn``,
    ``_write``, ``_x``, ``_read``, ``_FOR_UPDATE`` / ``_SKIP_LOCKED``) and its lease before this
    class: ``SQLiteJobStore``, ``PostgresJobStore``.
    """

    # -- create ------------------------------------------------------------------------------

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
                    return row_to_job(row), False
            cached = cached_from is not None
            status = JobStatus.SUCCEEDED if cached else JobStatus.QUEUED
            outputs = cached_from.outputs if cached_from else {}
            cur = self._x(
                db,
                """INSERT INTO jobs(id, kind, status, lane, lane_rank, priority, tenant, campaign_id,
                   idempotency_key, params, inputs, outputs, result, fingerprint, cache_hit,
                   cached_from, depends_on, pool, max_attempts, timeout_s, created_at, updated_at, finished_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
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
                    dumps(spec.params),
                    dumps(spec.inputs),
                    dumps(outputs),
                    dumps(cached_from.result if cached_from else {}),
                    fingerprint,
                    int(cached),
                    cached_from.id if cached_from else None,
                    dumps(list(depends_on)),
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
                    return row_to_job(row), False
            for dep in depends_on:
                self._x(db, "INSERT INTO job_deps(job_id, dep_id) VALUES (?,?) ON CONFLICT DO NOTHING", (job_id, dep))
            self._index_assets(db, job_id, spec.tenant, spec.inputs, outputs)
            if cached_from is not None:
                self._event(db, job_id, "cache_hit", 1.0, f"same fingerprint as {cached_from.id}")
                self._event(db, job_id, "succeeded", 1.0, "")
            else:
                self._event(db, job_id, "queued", 0.0, f"lane {spec.lane}")
            return self._get(db, job_id), True

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
                (dumps(outputs), dumps(result), now, now, job_id),
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
                WHERE d.dep_id = ? AND j.status IN ({marks(len(ACTIVE))})""",
            (job_id, *ACTIVE),
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
                WHERE d.dep_id = ? AND j.cancel_requested = 0 AND j.status IN ({marks(len(ACTIVE))})""",
            (job_id, *ACTIVE),
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
                rec = row_to_job(row)
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


class SQLiteJobStore(SQLiteDialect, SQLiteLease, SQLJobStore):
    """SQLite job store (WAL). Safe to share between threads (one connection per thread) and processes.

    ``path``: the database file (its folder is created); the schema is created on first open.
    """


class PostgresJobStore(PostgresDialect, PostgresLease, SQLJobStore):
    """PostgreSQL job store (psycopg 3): pooled autocommit connections shared by all threads; writes
    in explicit transactions with row locks; claims with ``FOR UPDATE SKIP LOCKED``; the dispatcher
    lease is a session advisory lock on a dedicated connection. ``url``:
    ``postgresql://user:pw@host:port/db``. Raises ``RuntimeError`` naming the (password-masked)
    URL when psycopg is missing or the server cannot be reached."""

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout_s: float = 10.0) -> None:
        self._init_lease()
        PostgresDialect.__init__(self, url, pool_size=pool_size, connect_timeout_s=connect_timeout_s)

    def close(self) -> None:
        self._close_lease()
        PostgresDialect.close(self)


def open_job_store(settings: object) -> SQLJobStore:
    """The job store ``jobs.database_url`` names (default: SQLite ``<data_dir>/jobs.sqlite3``)."""
    from workers.settings import Settings

    assert isinstance(settings, Settings)
    url = settings.job_database_url
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresJobStore(url, pool_size=settings.jobs.pool_size)
    return SQLiteJobStore(settings.job_db_path)
