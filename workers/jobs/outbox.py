"""Webhooks in the job store: subscriptions, the durable outbox and the delivery log.

An event is written to the outbox once (unique per object and event) in the same transaction that
retires the subscription; senders (``workers.api.notifier``) claim due rows (skipping rows another
sender holds), POST, and only a 2xx marks a row delivered. Failures reschedule the row
(``next_at``) with backoff; a sender that dies mid-delivery leaves a claim that expires, so the
event is sent again with the same delivery id (receivers dedupe on it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from workers.jobs.sql import SQLBase


class OutboxMixin(SQLBase):
    """Webhook subscriptions (``webhooks``), outbox (``webhook_outbox``), attempts (``webhook_attempts``)."""

    def rearm_webhook(self, object_id: str) -> None:
        """A retried job reports its new terminal state: its subscription is pending again (events
        already in the outbox are not sent twice)."""
        with self._write() as db:
            self._x(db, "UPDATE webhooks SET done = 0 WHERE object_id = ?", (object_id,))

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
