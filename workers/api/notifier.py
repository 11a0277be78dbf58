"""Background webhook notifier: durable, at-least-once delivery through the job store's outbox.

Two duties per pass (every ``poll_s``; ``poke()`` wakes it early):

1. **Enqueue.** For each subscription whose job (or campaign) has finished, write its events
   (``job.assets_stored`` then ``job.<terminal state>``; ``campaign.completed``) to the outbox and
   retire the subscription in one transaction. Unique per object and event, so any number of API
   processes enqueue each event once.
2. **Deliver.** Claim due outbox rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; per object in
   order), POST each on a small thread pool, and settle it: delivered only after a 2xx, else
   rescheduled with backoff (``api.webhooks``: ``backoff_s`` doubling to ``backoff_max_s``, up to
   ``max_attempts``) or failed for good (refused target, 4xx other than 408/429).

A sender killed mid-delivery leaves a claim: rows claimed by a dead process on this host are
released at start-up and every 2 s by any live sender here, others when the claim expires; the event then goes out again with the same
``X-Maydo-Delivery`` id, so a receiver that dedupes on it sees every event exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from workers.api.signing import tenant_webhook_secret
from workers.api.webhooks import WebhookSender, next_retry
from workers.jobs.lease import holder_dead, process_start

if TYPE_CHECKING:
    from workers.api.context import ApiContext

log = logging.getLogger(__name__)


def _sender_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}|{pid}|{process_start(pid) or ''}|{uuid.uuid4().hex[:8]}"


def _sender_dead(owner: str) -> bool:
    parts = owner.split("|")
    if len(parts) != 4 or not parts[1].isdigit():
        return False
    from workers.jobs.lease import host_boot

    row = {"host": parts[0], "pid": int(parts[1]), "pid_start": parts[2] or None, "boot_id": host_boot()}
    return holder_dead(row)


class WebhookNotifier:
    def __init__(self, ctx: ApiContext, poll_s: float = 0.25, workers: int = 4) -> None:
        self.ctx = ctx
        self.poll_s = poll_s
        self.owner = _sender_id()
        self.sender = WebhookSender(ctx.settings.api.webhooks)
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="maydo-webhook")
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> Any:
        return self.ctx.runtime.store

    def release_dead_claims(self) -> int:
        """Make events claimed by senders that died on this host due again now (not at claim expiry)."""
        dead = [o for o in self.store.webhook_claimants() if _sender_dead(o)]
        if not dead:
            return 0
        n = int(self.store.release_webhook_claims(dead))
        log.info("released %d webhook delivery claim(s) of %d dead sender(s)", n, len(dead))
        return n

    def start(self) -> None:
        self.release_dead_claims()
        self._thread = threading.Thread(target=self._run, name="maydo-webhook-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.sender.close()

    def poke(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        last_release = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_release > 2.0:  # a peer API process on this host died
                    last_release = time.monotonic()
                    self.release_dead_claims()
                self.scan()
                self.deliver_due()
            except Exception:  # keep the notifier alive; the failure is logged with its traceback
                log.exception("webhook pass failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # -- enqueue -------------------------------------------------------------------------------

    def scan(self) -> None:
        """Enqueue the events of every subscription whose object has finished."""
        for hook in self.store.pending_webhooks():
            if hook["kind"] == "job":
                self._job(hook)
            elif hook["kind"] == "campaign":
                self._campaign(hook)

    def _job(self, hook: dict[str, Any]) -> None:
        from workers.api.routes_jobs import job_view
        from workers.runtime import JobNotFound

        try:
            rec = self.ctx.runtime.get(hook["object_id"])
        except JobNotFound:
            self.store.mark_webhook_done(hook["object_id"])
            return
        if not rec.terminal:
            return
        view = job_view(self.ctx, rec, include_deliveries=False)
        payload = {"job_id": rec.id, "status": view["status"], "metadata": view.get("metadata"), "job": view,
                   "created_at": time.time()}
        events: list[tuple[str, dict[str, Any]]] = []
        if rec.outputs:
            events.append(("job.assets_stored", payload))
        events.append((f"job.{view['status']}", payload))
        if self.store.enqueue_webhook_events(hook["object_id"], events):
            self._wake.set()

    def _campaign(self, hook: dict[str, Any]) -> None:
        from workers.api.routes_campaigns import campaign_summary

        summary = campaign_summary(self.ctx, hook["object_id"])
        if summary is None:
            self.store.mark_webhook_done(hook["object_id"])
            return
        if not summary.get("done"):
            return
        payload = {"campaign_id": summary["id"], "metadata": self.ctx.store.metadata(hook["object_id"]),
                   "campaign": summary, "created_at": time.time()}
        if self.store.enqueue_webhook_events(hook["object_id"], [("campaign.completed", payload)]):
            self._wake.set()

    # -- deliver -------------------------------------------------------------------------------

    def deliver_due(self) -> int:
        """Claim due events (as many as there are idle sender threads) and start sending them."""
        with self._busy_lock:
            free = self._workers - len(self._busy)
        if free <= 0:
            return 0
        cfg = self.ctx.settings.api.webhooks
        rows = self.store.claim_webhook_deliveries(self.owner, free, claim_s=cfg.timeout_s * 2 + 5)
        for row in rows:
            with self._busy_lock:
                self._busy.add(row["id"])
            self._pool.submit(self._deliver, row)
        return len(rows)

    def _deliver(self, row: dict[str, Any]) -> None:
        try:
            cfg = self.ctx.settings.api.webhooks
            secret = tenant_webhook_secret(self.ctx.secret, row["tenant"])
            res = self.sender.attempt(row["url"], row["event"], row["body"].encode(), secret, row["id"])
            retry_at = next_retry(int(row["attempts"]), cfg) if res.retryable else None
            self.store.finish_webhook_attempt(
                row,
                self.owner,
                status_code=res.status_code,
                ok=res.ok,
                error=res.error,
                duration_ms=res.duration_ms,
                retry_at=retry_at,
            )
        except Exception:
            log.exception("webhook delivery %s failed", row.get("id"))
        finally:
            with self._busy_lock:
                self._busy.discard(row["id"])
            self._wake.set()  # the object's next event may be due now
