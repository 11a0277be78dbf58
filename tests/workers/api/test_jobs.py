"""Jobs over real HTTP with a real dispatcher: submit -> SSE -> Range download, idempotency,
dry run, cancel, webhooks (signed, retried after a 500), SSRF refusal."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.workers.api.conftest import Server
from workers.api.signing import verify_webhook
from workers.api.webhooks import WebhookTargetError, check_target


def read_sse(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """All events of one SSE stream until the server closes it (at the job's end)."""
    events: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    with client.stream("GET", url, headers=headers or {}, timeout=60) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if not line:
                if "event" in cur:
                    events.append(cur)
                cur = {}
            elif line.startswith("id: "):
                cur["id"] = int(line[4:])
            elif line.startswith("event: "):
                cur["event"] = line[7:]
            elif line.startswith("data: "):
                cur["data"] = json.loads(line[6:])
    return events


def test_full_flow_submit_sse_range_download(server: Server, dispatcher: Any) -> None:
    payload = "".join(f"{i:06d}" for i in range(20_000))  # 120 kB, position-checkable
    with server.client("acme-creator") as c:
        resp = c.post("/v1/jobs", json={"kind": "noop", "params": {"payload": payload, "sleep_s": 0.3,
                                                                    "stages": 3}})
        assert resp.status_code == 201, resp.text
        job = resp.json()
        assert resp.headers["location"] == f"{server.url}/v1/jobs/{job['id']}"  # absolute (public base URL)
        assert job["status"] in ("queued", "running")
        events = read_sse(c, f"/v1/jobs/{job['id']}/events")
        progress = [e for e in events if e["event"] == "progress"]
        stages = [e["data"]["stage"] for e in progress]
        assert stages[0] == "queued" and "work" in stages and stages[-1] == "succeeded"
        ids = [e["id"] for e in progress]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        fractions = [e["data"]["fraction"] for e in progress if e["data"]["stage"] == "work"]
        assert fractions == sorted(fractions) and fractions[-1] > 0.9
        end = events[-1]
        assert end["event"] == "end" and end["data"]["status"] == "succeeded"
        out_id = end["data"]["outputs"]["out"]
        # Resume from Last-Event-ID: only the later events come again.
        again = read_sse(c, f"/v1/jobs/{job['id']}/events", {"Last-Event-ID": str(ids[1])})
        assert [e["id"] for e in again if e["event"] == "progress"] == ids[2:]
        # Download the output, whole and by range.
        whole = c.get(f"/v1/assets/{out_id}")
        assert whole.status_code == 200 and whole.text == payload
        part = c.get(f"/v1/assets/{out_id}", headers={"Range": "bytes=60000-60011"})
        assert part.status_code == 206 and part.text == "010000010001"
        got = c.get(f"/v1/jobs/{job['id']}").json()
        assert got["status"] == "succeeded" and got["outputs"]["out"] == out_id
    # The platform key of the same tenant can pull the output; another tenant cannot.
    with server.client("acme-platform") as p, server.client("globex-creator") as g:
        assert p.get(f"/v1/assets/{out_id}", headers={"Range": "bytes=0-5"}).text == "000000"
        assert g.get(f"/v1/assets/{out_id}").status_code == 404


def test_idempotency_key(server: Server) -> None:
    body = {"kind": "voice", "params": {"text": "Xin chào", "accent": "vi-north"}, "lane": "batch"}
    with server.client("acme-creator") as c, server.client("globex-creator") as g:
        first = c.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
        second = c.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
        assert first.status_code == 201 and second.status_code == 200
        assert second.headers["idempotent-replayed"] == "true"
        assert first.json()["id"] == second.json()["id"]
        assert len(server.runtime.list(tenant="acme", kind="voice", limit=1000)) == len(
            {j.id for j in server.runtime.list(tenant="acme", kind="voice", limit=1000)})
        conflict = c.post("/v1/jobs", json={**body, "params": {"text": "other"}}, headers={"Idempotency-Key": "order-42"})
        assert conflict.status_code == 409 and conflict.json()["error"]["field"] == "Idempotency-Key"
        # Keys are per tenant: the same key elsewhere is a different job.
        other = g.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
        assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
        for jid in (first.json()["id"], other.json()["id"]):
            server.runtime.cancel(jid)


def test_dry_run_validates_without_queueing(server: Server) -> None:
    with server.client("acme-creator") as c:
        before = len(server.runtime.list(limit=10_000))
        ok = c.post("/v1/jobs?dry_run=true", json={"kind": "voice", "params": {
            "text": "Hello there. This is a short script for a test.", "accent": "en-us"}})
        assert ok.status_code == 200, ok.text
        assert ok.json()["valid"] is True and ok.json()["errors"] == []
        assert 2.0 < ok.json()["estimated_output_seconds"] < 8.0
        bad = c.post("/v1/jobs", json={"kind": "voice", "dry_run": True,
                                       "params": {"text": "x" * 5000, "accent": "en-usa"}}).json()
        assert bad["valid"] is False
        fields = {e["field"] for e in bad["errors"]}
        assert {"params.text", "params.accent"} <= fields
        assert "en-us" in next(e["message"] for e in bad["errors"] if e["field"] == "params.accent")
        rec = c.post("/v1/jobs", json={"kind": "recolor", "dry_run": True, "params": {}}).json()
        assert {"inputs.image", "params.to_colors"} <= {e["field"] for e in rec["errors"]}
        assert len(server.runtime.list(limit=10_000)) == before


def test_multipart_submit_and_cancel(server: Server) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (71, 13, 177)).save(buf, "PNG")
    png = buf.getvalue()  # a real image: a real submit refuses what a dry run reports (unreadable image)
    with server.client("acme-creator") as c:
        spec = {"kind": "recolor", "params": {"to_colors": ["#c0392b"]}, "lane": "batch"}
        resp = c.post("/v1/jobs", data={"spec": json.dumps(spec)},
                      files={"image": ("shirt.png", png, "image/png")})
        assert resp.status_code == 201, resp.text
        job = resp.json()
        image_id = job["inputs"]["image"]
        assert c.get(f"/v1/assets/{image_id}").content == png
        canceled = c.post(f"/v1/jobs/{job['id']}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"


class _Receiver(BaseHTTPRequestHandler):
    calls: list[dict[str, Any]] = []
    fail_first = 1

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.calls.append({"headers": dict(self.headers), "body": body, "path": self.path})
        status = 500 if len(_Receiver.calls) <= _Receiver.fail_first else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_signed_and_retried_after_500(server: Server, dispatcher: Any, allow_private: None) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    _Receiver.calls = []
    try:
        hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        with server.client("acme-creator") as c:
            secret = c.get("/v1/webhooks/secret").json()["secret"].encode()
            job = c.post("/v1/jobs", json={"kind": "noop", "params": {"payload": "hooked"},
                                           "webhook_url": hook}).json()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                got = c.get(f"/v1/jobs/{job['id']}").json()
                oks = [d for d in got["webhook"]["deliveries"] if d["ok"]]
                if len(oks) >= 2:
                    break
                time.sleep(0.1)
        deliveries = got["webhook"]["deliveries"]
        assert [(d["event"], d["attempt"], d["status_code"]) for d in deliveries] == [
            ("job.assets_stored", 1, 500), ("job.assets_stored", 2, 200), ("job.succeeded", 1, 200)]
        assert len(_Receiver.calls) == 3
        for call in _Receiver.calls:
            h = {k.lower(): v for k, v in call["headers"].items()}
            assert verify_webhook(secret, h["x-maydo-timestamp"], call["body"], h["x-maydo-signature"])
            assert not verify_webhook(secret, h["x-maydo-timestamp"], call["body"] + b" ", h["x-maydo-signature"])
            assert call["path"] == "/hook"
        last = json.loads(_Receiver.calls[-1]["body"])
        assert last["event"] == "job.succeeded" and last["job"]["outputs"]["out"]
        # Another tenant's secret does not verify these bodies.
        with server.client("globex-creator") as g:
            other = g.get("/v1/webhooks/secret").json()["secret"].encode()
        h = {k.lower(): v for k, v in _Receiver.calls[-1]["headers"].items()}
        assert not verify_webhook(other, h["x-maydo-timestamp"], _Receiver.calls[-1]["body"], h["x-maydo-signature"])
    finally:
        receiver.shutdown()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "http://user:pw@8.8.8.8/hook",
])
def test_ssrf_targets_refused(server: Server, url: str) -> None:
    with pytest.raises(WebhookTargetError):
        check_target(url, allow_private=False)
    with server.client("acme-creator") as c:
        resp = c.post("/v1/jobs", json={"kind": "voice", "params": {"text": "hi"}, "webhook_url": url})
        assert resp.status_code == 422
        assert resp.json()["error"]["field"] == "webhook_url"


def test_public_target_is_pinned_to_checked_address() -> None:
    target = check_target("https://8.8.8.8:8443/x?y=1", allow_private=False)
    assert target.connect_url == "https://8.8.8.8:8443/x?y=1" and target.host_header == "8.8.8.8:8443"
