"""Progress and health of the job store: job events, attempt history, queue depth, pool health.

What the API (SSE progress streams, job detail), ``maydo status`` and the dispatcher's autoscaler
read; ``_event`` is also the one writer of event rows used by every state transition.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from workers.jobs.models import Attempt, JobEvent, Lane, PoolHealth
from workers.jobs.sql import ACTIVE, SQLBase, marks


class MonitorMixin(SQLBase):
    """Events, attempts, queue/pool depth and pool health."""

    def _event(self, db: Any, job_id: str, stage: str, fraction: float, message: str = "") -> int:
        row = self._x(
            db,
            "INSERT INTO events(job_id, stage, fraction, message, ts) VALUES (?,?,?,?,?) RETURNING id",
            (job_id, stage, max(0.0, min(1.0, float(fraction))), message, time.time()),
        ).fetchone()
        return int(row["id"])

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
        out: dict[str, dict[str, int]] = {lane.value: {s: 0 for s in ACTIVE} for lane in Lane}
        rows = self._read(
            f"SELECT lane, status, COUNT(*) AS n FROM jobs WHERE status IN ({marks(len(ACTIVE))}) "
            "GROUP BY lane, status",
            ACTIVE,
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
