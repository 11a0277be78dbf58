"""Background webhook notifier: watches jobs (and campaigns) that have a webhook and delivers
``job.assets_stored`` then ``job.<terminal state>`` (``campaign.completed`` for campaigns) once each.

Events are claimed in the API database before delivery, so several API processes never send the
same event twice; deliveries run on a small thread pool so one slow receiver's retries do not hold
up the others.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from workers.api.signing import tenant_webhook_secret
from workers.api.webhooks import WebhookSender

if TYPE_CHECKING:
    from workers.api.context import ApiContext

log = logging.getLogger(__name__)


class WebhookNotifier:
    def __init__(self, ctx: ApiContext, poll_s: float = 0.25) -> None:
        self.ctx = ctx
        self.poll_s = poll_s
        self.sender = WebhookSender(ctx.settings.api.webhooks, ctx.store)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="maydo-webhook")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
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
        while not self._stop.is_set():
            try:
                self.scan()
            except Exception:  # keep the notifier alive; the failure is logged with its traceback
                log.exception("webhook scan failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def scan(self) -> None:
        """One pass over pending webhooks: queue deliveries for new events, retire finished objects."""
        for hook in self.ctx.store.pending_webhooks():
            if hook["kind"] == "job":
                self._job(hook)
            elif hook["kind"] == "campaign":
                self._campaign(hook)

    def _send(self, hook: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        todo = [(e, p) for e, p in events if self.ctx.store.claim_event(hook["object_id"], e)]
        if todo:
            self._pool.submit(self._deliver_all, hook, todo)

    def _deliver_all(self, hook: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        secret = tenant_webhook_secret(self.ctx.secret, hook["tenant"])
        for event, payload in events:
            self.sender.deliver(hook["object_id"], hook["url"], event, payload, secret)

    def _job(self, hook: dict[str, Any]) -> None:
        from workers.api.routes_jobs import job_view
        from workers.runtime import JobNotFound

        try:
            rec = self.ctx.runtime.get(hook["object_id"])
        except JobNotFound:
            self.ctx.store.mark_webhook_done(hook["object_id"])
            return
        if not rec.terminal:
            return
        view = job_view(self.ctx, rec, include_deliveries=False)
        payload = {"job_id": rec.id, "status": view["status"], "metadata": view.get("metadata"), "job": view,
                   "sent_at": time.time()}
        events: list[tuple[str, dict[str, Any]]] = []
        if rec.outputs:
            events.append(("job.assets_stored", payload))
        events.append((f"job.{view['status']}", payload))
        self._send(hook, events)
        self.ctx.store.mark_webhook_done(hook["object_id"])

    def _campaign(self, hook: dict[str, Any]) -> None:
        from workers.api.routes_campaigns import campaign_summary

        summary = campaign_summary(self.ctx, hook["object_id"])
        if summary is None:
            self.ctx.store.mark_webhook_done(hook["object_id"])
            return
        self._ads_ready(hook, summary)
        if not summary.get("done"):
            return
        payload = {"campaign_id": summary["id"], "metadata": self.ctx.store.metadata(hook["object_id"]),
                   "campaign": summary, "sent_at": time.time()}
        self._send(hook, [("campaign.completed", payload)])
        self.ctx.store.mark_webhook_done(hook["object_id"])

    def _ads_ready(self, hook: dict[str, Any], summary: dict[str, Any]) -> None:
        """``campaign.ad_ready`` once per rendered ad, as soon as its assets are stored."""
        from workers.api.public import base_url
        from workers.api.routes_campaigns import campaign_jobs

        root = base_url(self.ctx.settings)
        metadata = self.ctx.store.metadata(hook["object_id"])
        ready: list[tuple[str, dict[str, Any]]] = []
        for job in campaign_jobs(self.ctx, hook["object_id"], summary["tenant"]):
            if job.kind != "render_ad" or job.status.value != "succeeded" or not job.outputs:
                continue
            if not self.ctx.store.claim_event(hook["object_id"], f"ad_ready:{job.id}"):
                continue
            customer = ((job.params.get("data") or {}).get("customer") or {}).get("id")
            ready.append(("campaign.ad_ready", {
                "campaign_id": summary["id"], "customer_id": customer, "job_id": job.id, "metadata": metadata,
                "assets": {name: {"asset_id": aid, "url": f"{root}/v1/assets/{aid}"}
                           for name, aid in sorted(job.outputs.items())},
                "sent_at": time.time(),
            }))
        if ready:
            self._pool.submit(self._deliver_all, hook, ready)
