"""Campaign rows of the job store: review decisions per ad, and deleting a whole campaign.

``delete_campaign`` is the retention path: it removes the campaign's jobs with their events,
attempts, dependency and asset-reference rows, reviews and webhook outbox rows.
"""

from __future__ import annotations

import time
from typing import Any

from workers.jobs.sql import SQLBase, marks


class ReviewsMixin(SQLBase):
    """Ad reviews (campaign review page) and campaign deletion."""

    # -- ad reviews (campaign review page) ---------------------------------------------------

    def add_review(self, campaign_id: str, customer_id: str, job_id: str | None, state: str, comment: str,
                   reviewer: str) -> dict[str, Any]:
        """Record a review decision for one ad (history is kept; the newest row is the ad's state)."""
        now = time.time()
        with self._write() as db:
            row = self._x(
                db,
                "INSERT INTO ad_reviews(campaign_id, customer_id, job_id, state, comment, reviewer, ts)"
                " VALUES (?,?,?,?,?,?,?) RETURNING id",
                (campaign_id, customer_id, job_id, state, comment, reviewer, now),
            ).fetchone()
        return {"id": int(row["id"]), "campaign_id": campaign_id, "customer_id": customer_id, "job_id": job_id,
                "state": state, "comment": comment, "reviewer": reviewer, "ts": now}

    def reviews(self, campaign_id: str) -> dict[str, dict[str, Any]]:
        """customer id -> its newest review row, for one campaign."""
        rows = self._read("SELECT * FROM ad_reviews WHERE campaign_id = ? ORDER BY id", (campaign_id,)).fetchall()
        return {str(r["customer_id"]): dict(r) for r in rows}

    def delete_campaign(self, campaign_id: str) -> list[str]:
        """Delete every job of a campaign with its events, attempts, reviews and webhook outbox rows
        (their bodies carry job parameters: personal data); returns the deleted job ids. On SQLite
        deleted rows are overwritten on disk (``secure_delete``) and the WAL is checkpointed."""
        sqlite = self.dialect == "sqlite"
        if sqlite:
            self._conn().execute("PRAGMA secure_delete=ON")
        with self._write() as db:
            ids = [str(r["id"]) for r in self._x(db, "SELECT id FROM jobs WHERE campaign_id = ?", (campaign_id,))]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk:chunk + 500]
                in_list = marks(len(part))
                for table, col in (("events", "job_id"), ("attempts", "job_id"), ("job_deps", "job_id"),
                                   ("job_deps", "dep_id"), ("job_assets", "job_id"), ("webhook_attempts", "object_id"),
                                   ("webhook_outbox", "object_id"), ("webhooks", "object_id"), ("jobs", "id")):
                    self._x(db, f"DELETE FROM {table} WHERE {col} IN ({in_list})", part)
            for table in ("webhook_attempts", "webhook_outbox", "webhooks"):
                self._x(db, f"DELETE FROM {table} WHERE object_id = ?", (campaign_id,))
            self._x(db, "DELETE FROM ad_reviews WHERE campaign_id = ?", (campaign_id,))
        if sqlite:
            self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return ids
