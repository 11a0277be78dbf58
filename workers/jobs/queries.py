"""Reading jobs from the store: by id, idempotency key, fingerprint, filters and pages.

``row_to_job`` maps a ``jobs`` row to a ``JobRecord``; every read and transition goes through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from workers.jobs.errors import JobNotFound
from workers.jobs.models import JobRecord, JobStatus
from workers.jobs.sql import ACTIVE, SQLBase, marks


def row_to_job(row: Any) -> JobRecord:
    """One ``jobs`` row (any dialect's row mapping) as a ``JobRecord``; JSON columns decoded."""
    return JobRecord(
        id=row["id"],
        kind=row["kind"],
        status=JobStatus(row["status"]),
        lane=row["lane"],
        priority=row["priority"],
        tenant=row["tenant"],
        campaign_id=row["campaign_id"],
        idempotency_key=row["idempotency_key"],
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


class JobQueriesMixin(SQLBase):
    """Job reads; ``_get`` reads inside a transaction (``lock``: the dialect's row lock)."""

    def _get(self, db: Any, job_id: str, *, lock: bool = False) -> JobRecord:
        sql = "SELECT * FROM jobs WHERE id = ?" + (self._FOR_UPDATE if lock else "")
        row = self._x(db, sql, (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return row_to_job(row)

    def get(self, job_id: str) -> JobRecord:
        row = self._read("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return row_to_job(row)

    def find_by_key(self, tenant: str, idempotency_key: str) -> JobRecord | None:
        """The job a tenant submitted with this idempotency key, if any."""
        row = self._read("SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?", (tenant, idempotency_key))
        found = row.fetchone()
        return row_to_job(found) if found else None

    def list_jobs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        kind: str | None = None,
        lane: str | None = None,
        tenant: str | None = None,
        campaign_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        created_after: float | None = None,
        created_before: float | None = None,
        before: tuple[float, str] | None = None,
        top_level: bool = False,
    ) -> list[JobRecord]:
        """Newest first. ``created_after``/``created_before``: unix seconds, inclusive/exclusive;
        ``before``: keyset cursor ``(created_at, id)`` of the last job of the previous page;
        ``top_level``: only jobs no other job depends on (what a user submitted, not child jobs)."""
        where: list[str] = []
        args: list[Any] = []
        if created_after is not None:
            where.append("created_at >= ?")
            args.append(float(created_after))
        if created_before is not None:
            where.append("created_at < ?")
            args.append(float(created_before))
        if before is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args.extend([float(before[0]), float(before[0]), str(before[1])])
        if top_level:
            where.append("NOT EXISTS (SELECT 1 FROM job_deps d WHERE d.dep_id = jobs.id)")
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({marks(len(statuses))})")
            args.extend(str(s) for s in statuses)
        for col, val in (("kind", kind), ("lane", lane), ("tenant", tenant), ("campaign_id", campaign_id)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        args.extend([int(limit), int(offset)])
        return [row_to_job(r) for r in self._read(sql, args).fetchall()]

    def find_by_fingerprint(self, fingerprint: str, *, active: bool = False) -> JobRecord | None:
        """The newest succeeded job with this fingerprint (``active=True``: a queued/running one)."""
        if active:
            # A job being canceled is not shared any more: a new dependent must not attach to it.
            sql = (f"SELECT * FROM jobs WHERE fingerprint = ? AND cancel_requested = 0"
                   f" AND status IN ({marks(len(ACTIVE))})")
            args: list[Any] = [fingerprint, *ACTIVE]
        else:
            sql = "SELECT * FROM jobs WHERE fingerprint = ? AND status = 'succeeded'"
            args = [fingerprint]
        row = self._read(sql + " ORDER BY created_at DESC LIMIT 1", args).fetchone()
        return row_to_job(row) if row else None

    def children(self, job_id: str) -> list[JobRecord]:
        """Jobs this one depends on, in dependency order."""
        rec = self.get(job_id)
        return [self.get(d) for d in rec.depends_on]

    def cancel_requested(self, job_ids: Sequence[str]) -> list[str]:
        """Which of these (running) jobs have a pending cancel request."""
        if not job_ids:
            return []
        rows = self._read(
            f"SELECT id FROM jobs WHERE cancel_requested = 1 AND id IN ({marks(len(job_ids))})", list(job_ids)
        ).fetchall()
        return [r["id"] for r in rows]
