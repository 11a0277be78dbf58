"""Durable webhooks on SQLite and PostgreSQL, against a real HTTP receiver on loopback: events are
delivered only after a 2xx, retried with backoff, in order per object, and a sender killed with
kill -9 in the middle of a POST is replaced by a new process that sends the same delivery id again,
so every event reaches the receiver, deduplicated by delivery id, exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from workers.api.context import ApiContext
from workers.api.notifier import WebhookNotifier
from workers.api.signing import tenant_webhook_secret, verify_webhook
from workers.api.webhooks import next_retry
from workers.cli import app
from workers.jobs.models import JobSpec
from workers.runtime import Runtime
from workers.settings import Settings, WebhookSettings, load_settings

REPO = Path(__file__).resolve().parents[3]


class Receiver:
    """A loopback HTTP receiver: answers ``plan`` status codes in order (then 200); ``hold`` makes
    the first request wait until released (to kill the sender mid-delivery)."""

    def __init__(self, plan: list[int] | None = None, hold: bool = False) -> None:
        self.plan = list(plan or [])
        self.calls: list[dict[str, Any]] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.hold = hold
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                if outer.hold and len(outer.calls) == 1:
                    outer.held.set()
                    outer.release.wait(30)
                status = outer.plan.pop(0) if outer.plan else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender died while we held its request

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivery_ids(self) -> list[str]:
        return [c["headers"]["x-maydo-delivery"] for c in self.calls]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def _settings(tmp_path: Path, db_url: str, **hooks: Any) -> Settings:
    return load_settings(env={}, overrides={
        "data_dir": str(tmp_path / "data"),
        "jobs": {"database_url": db_url},
        "dispatcher": {"test_kinds": True},
        "pools": {"noop": {"enabled": True}},
        "api": {"webhooks": {"allow_private_targets": True, "timeout_s": 5.0, "max_attempts": 6,
                             "backoff_s": 0.05, "backoff_max_s": 0.2, **hooks}},
    })


def _finished_job(rt: Runtime, url: str, tenant: str = "acme", payload: str = "x") -> str:
    """A noop job with a webhook, run to success by hand (claim + finish; no Ray needed)."""
    rec = rt.submit(JobSpec(kind="noop", params={"payload": payload}, tenant=tenant))
    rt.store.set_webhook(rec.id, "job", tenant, url)
    [claimed] = rt.store.claim("noop", 1, owner="t")
    assert rt.store.finish_success(claimed.id, claimed.fence, {"out": "ab" * 32}, {"n": 1})
    return rec.id


def _wait(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_backoff_schedule_spans_hours_by_default() -> None:
    cfg = WebhookSettings()
    now = 1000.0
    waits = []
    for attempt in range(1, cfg.max_attempts):
        at = next_retry(attempt, cfg, now)
        assert at is not None
        waits.append(at - now)
    assert next_retry(cfg.max_attempts, cfg, now) is None
    assert waits[0] >= 1.0 and waits[1] >= 2.0 and max(waits) <= cfg.backoff_max_s * 1.1
    assert sum(waits) > 4 * 3600  # retries keep going for hours


def test_outbox_retries_until_2xx_in_order(tmp_path: Path, job_db_url: str) -> None:
    settings = _settings(tmp_path, job_db_url)
    rt = Runtime(settings)
    rx = Receiver(plan=[503, 500])
    ctx = ApiContext(settings, rt)
    notifier = WebhookNotifier(ctx, poll_s=0.05)
    try:
        job_id = _finished_job(rt, rx.url)
        notifier.start()
        _wait(lambda: rt.store.webhook_outbox_counts().get("delivered", 0) == 2)
        log = rt.store.webhook_log(job_id)
        assert [(e["event"], e["status"], e["attempts"]) for e in log["events"]] == [
            ("job.assets_stored", "delivered", 3), ("job.succeeded", "delivered", 1)]
        assert [(d["event"], d["attempt"], d["status_code"], d["ok"]) for d in log["deliveries"]] == [
            ("job.assets_stored", 1, 503, False), ("job.assets_stored", 2, 500, False),
            ("job.assets_stored", 3, 200, True), ("job.succeeded", 1, 200, True)]
        first, second = (e["delivery_id"] for e in log["events"])
        assert rx.delivery_ids() == [first, first, first, second]  # same id on every retry
        secret = tenant_webhook_secret(ctx.secret, "acme")
        for call in rx.calls:
            h = call["headers"]
            assert verify_webhook(secret, h["x-maydo-timestamp"], call["body"], h["x-maydo-signature"])
            assert json.loads(call["body"])["delivery_id"] == h["x-maydo-delivery"]
        # a 4xx (not 408/429) is final: failed, never retried
        rx.plan = [410]
        other = _finished_job(rt, rx.url, payload="y")
        _wait(lambda: rt.store.webhook_outbox_counts().get("failed", 0) == 1)
        events = rt.store.webhook_log(other)["events"]
        assert events[0]["status"] == "failed" and events[0]["last_status"] == 410 and events[0]["attempts"] == 1
        # the CLI read path shows the same log
        env = {"MAYDO_DATA_DIR": str(settings.data_dir), "MAYDO_JOBS__DATABASE_URL": settings.job_database_url}
        res = CliRunner().invoke(app, ["webhooks", "log", job_id, "--json"], env=env)
        assert res.exit_code == 0, res.output
        shown = json.loads(res.output)
        assert shown["url"] == rx.url and [d["status_code"] for d in shown["deliveries"]] == [503, 500, 200, 200]
        bad = CliRunner().invoke(app, ["webhooks", "log", "j_nope"], env=env)
        assert bad.exit_code == 2 and "no webhook" in bad.output
    finally:
        notifier.stop()
        rx.close()
        rt.close()


_SENDER = textwrap.dedent(
    """
    import sys, time
    from workers.api.context import ApiContext
    from workers.api.notifier import WebhookNotifier
    from workers.runtime import Runtime
    from workers.settings import load_settings
    s = load_settings(env={}, overrides={
        "data_dir": sys.argv[1], "jobs": {"database_url": sys.argv[2]},
        "dispatcher": {"test_kinds": True}, "pools": {"noop": {"enabled": True}},
        "api": {"webhooks": {"allow_private_targets": True, "timeout_s": 20.0, "max_attempts": 6,
                             "backoff_s": 0.05, "backoff_max_s": 0.2}}})
    n = WebhookNotifier(ApiContext(s, Runtime(s)), poll_s=0.05)
    n.start()
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _sender(settings: Settings) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _SENDER, str(settings.data_dir), settings.job_database_url],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_sender_killed_mid_delivery_restarts_and_delivers_each_event_once(tmp_path: Path, job_db_url: str) -> None:
    settings = _settings(tmp_path, job_db_url, timeout_s=20.0)
    rt = Runtime(settings)
    rx = Receiver(hold=True)
    first = second = None
    try:
        jobs = [_finished_job(rt, rx.url, payload=str(i)) for i in range(3)]
        first = _sender(settings)
        assert rx.held.wait(30)  # the first POST is in flight, its response held back
        first.kill()  # kill -9 in the middle of a delivery
        first.wait(10)
        in_flight = set(rx.delivery_ids())  # POSTs the dead sender had started (it saw no reply)
        rx.release.set()
        # the held event (its reply never reached the dead sender) is not marked delivered
        held_id = rx.delivery_ids()[0]
        statuses = {e["delivery_id"]: e["status"] for j in jobs for e in rt.store.webhook_log(j)["events"]}
        assert statuses[held_id] == "pending"
        t0 = time.monotonic()
        second = _sender(settings)  # immediate restart: releases the dead sender's claims at once
        _wait(lambda: rt.store.webhook_outbox_counts().get("delivered", 0) == 6, timeout=60)
        assert time.monotonic() - t0 < 15  # did not wait for the 45 s claim to expire
        expected = {e["delivery_id"] for j in jobs for e in rt.store.webhook_log(j)["events"]}
        got = rx.delivery_ids()
        assert len(expected) == 6 and set(got) == expected  # every event arrived...
        # ...and only events in flight at the kill were sent again (same delivery id, for dedupe)
        assert {d for d in got if got.count(d) > 1} <= in_flight and all(got.count(d) <= 2 for d in got)
        assert len(got) == 6 + len({d for d in got if got.count(d) > 1})
        for j in jobs:
            log = rt.store.webhook_log(j)
            assert [e["status"] for e in log["events"]] == ["delivered", "delivered"]
            assert sum(d["ok"] for d in log["deliveries"]) == 2  # one logged 2xx per event
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
        rx.close()
        rt.close()
