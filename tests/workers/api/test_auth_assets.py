"""Keys, roles, tenant isolation, asset download semantics, signed URLs, limits, error shape."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.workers.api.conftest import Server, upload
from workers.api.ratelimit import RateLimiter


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"]
    assert "field" in err
    return err


def test_keys_are_hashed_at_rest_and_checked(server: Server) -> None:
    key = server.keys["acme-creator"]
    rows = sqlite3.connect(server.ctx.store.path).execute("SELECT secret_hash FROM api_keys").fetchall()
    assert all(key not in r[0] and key.split("_", 2)[2] not in r[0] for r in rows)
    assert hashlib.sha256(key.split("_", 2)[2].encode()).hexdigest() in {r[0] for r in rows}
    with server.client() as c:
        assert_error(c.get("/v1/templates"), 401, "unauthorized")
        assert_error(c.get("/v1/templates", headers={"X-API-Key": key[:-2] + "xx"}), 401, "unauthorized")
        assert_error(c.get("/v1/templates", headers={"X-API-Key": "nonsense"}), 401, "unauthorized")
        assert c.get("/v1/templates", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_revoked_key_stops_working(server: Server) -> None:
    created = server.ctx.store.create_key("acme", "creator")
    with server.client() as c:
        assert c.get("/v1/voices", headers={"X-API-Key": created.key}).status_code == 200
        server.ctx.store.revoke_key(created.key_id)
        server.ctx._key_cache.clear()
        assert_error(c.get("/v1/voices", headers={"X-API-Key": created.key}), 401, "unauthorized")


def test_tenant_isolation_and_roles(server: Server) -> None:
    with server.client("acme-creator") as acme, server.client("globex-creator") as globex, \
            server.client("acme-platform") as platform, server.client("admin") as admin:
        ref = upload(acme, b"acme secret bytes " * 10, "a.txt", "text/plain")
        job = acme.post("/v1/jobs", json={"kind": "voice", "params": {"text": "hi", "accent": "en-us"}})
        assert job.status_code == 201, job.text
        job_id = job.json()["id"]
        # Another tenant: 404, same body as a missing object (no existence leak).
        missing = globex.get("/v1/assets/" + "0" * 64)
        other = globex.get(f"/v1/assets/{ref['id']}")
        assert_error(other, 404, "not_found")
        assert other.json() == missing.json()
        assert_error(globex.get(f"/v1/jobs/{job_id}"), 404, "not_found")
        assert globex.get(f"/v1/jobs/{job_id}").json() == globex.get("/v1/jobs/j_" + "0" * 24).json()
        assert_error(globex.post(f"/v1/jobs/{job_id}/cancel"), 404, "not_found")
        assert_error(globex.get(f"/v1/assets/{ref['id']}/url"), 404, "not_found")
        # Using another tenant's asset as a job input is refused the same way.
        bad = globex.post("/v1/jobs", json={"kind": "recolor", "inputs": {"image": ref["id"]},
                                            "params": {"to_colors": ["red"]}})
        assert assert_error(bad, 422, "invalid_input")["field"] == "inputs.image"
        # Platform: reads its tenant's assets and job status, may not submit, cancel or retry jobs.
        assert platform.get(f"/v1/assets/{ref['id']}").content == b"acme secret bytes " * 10
        assert_error(platform.post("/v1/jobs", json={"kind": "voice", "params": {"text": "x"}}), 403, "forbidden")
        assert platform.get(f"/v1/jobs/{job_id}").json()["tenant"] == "acme"
        assert_error(platform.post(f"/v1/jobs/{job_id}/cancel"), 403, "forbidden")
        assert_error(platform.post(f"/v1/jobs/{job_id}/retry"), 403, "forbidden")
        assert_error(platform.post("/v1/assets", files={"file": ("x", b"x")}), 403, "forbidden")
        # Admin sees every tenant.
        assert admin.get(f"/v1/jobs/{job_id}").json()["tenant"] == "acme"
        assert admin.get(f"/v1/assets/{ref['id']}").status_code == 200
        acme.post(f"/v1/jobs/{job_id}/cancel")


def test_download_etag_range_disposition(server: Server) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    with server.client("acme-creator") as c:
        ref = upload(c, data, "clip.wav", "audio/wav")
        url = f"/v1/assets/{ref['id']}"
        full = c.get(url)
        assert full.status_code == 200 and full.content == data
        assert full.headers["content-type"] == "audio/wav"
        assert full.headers["etag"] == f'"{ref["id"]}"'
        assert full.headers["accept-ranges"] == "bytes"
        assert 'attachment; filename="clip.wav"' in full.headers["content-disposition"]
        assert c.get(url, headers={"If-None-Match": full.headers["etag"]}).status_code == 304
        part = c.get(url, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == data[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
        assert part.headers["content-length"] == "1000"
        assert c.get(url, headers={"Range": "bytes=-10"}).content == data[-10:]
        assert c.get(url, headers={"Range": "bytes=10000-"}).content == data[10000:]
        stale = c.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        assert stale.status_code == 200 and stale.content == data
        err = assert_error(c.get(url, headers={"Range": "bytes=20000-"}), 416, "range_not_satisfiable")
        assert err["field"] == "range"
        meta = c.get(f"{url}/meta").json()
        assert meta["size"] == len(data) and meta["media_type"] == "audio/wav"
        head = c.head(url)  # ad platforms check size/type/ETag without downloading
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(data)) and head.headers["etag"] == full.headers["etag"]


def test_signed_url_expiry_and_tampering(server: Server) -> None:
    with server.client("acme-creator") as c, server.client() as anon:
        a = upload(c, b"first asset", "a.txt", "text/plain")
        b = upload(c, b"second asset", "b.txt", "text/plain")
        signed = c.get(f"/v1/assets/{a['id']}/url", params={"ttl": 60}).json()
        assert abs(signed["expires"] - (time.time() + 60)) < 5
        ok = anon.get(signed["url"])
        assert ok.status_code == 200 and ok.content == b"first asset"
        crafted = anon.get(f"/v1/assets/{a['id']}", params={"expires": signed["expires"], "signature": "ßignatür"})
        assert crafted.status_code == 403  # a non-ASCII signature is refused, not a 500
        assert anon.get(signed["url"], headers={"Range": "bytes=0-4"}).content == b"first"
        q = parse_qs(urlsplit(signed["url"]).query)
        exp, sig = q["expires"][0], q["signature"][0]
        # Scoped to one asset: the same signature does not open another asset.
        assert_error(anon.get(f"/v1/assets/{b['id']}", params={"expires": exp, "signature": sig}), 403, "forbidden")
        # Tampered expiry or signature.
        assert_error(anon.get(f"/v1/assets/{a['id']}", params={"expires": int(exp) + 1000, "signature": sig}),
                     403, "forbidden")
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        assert_error(anon.get(f"/v1/assets/{a['id']}", params={"expires": exp, "signature": flipped}),
                     403, "forbidden")
        # Expired.
        short = c.get(f"/v1/assets/{a['id']}/url", params={"ttl": 1}).json()
        time.sleep(1.1)
        assert_error(anon.get(short["url"]), 403, "forbidden")
        assert_error(c.get(f"/v1/assets/{a['id']}/url", params={"ttl": 10**9}), 422, "invalid_input")


def test_oversized_upload_is_413_json(server: Server) -> None:
    limit = server.settings.limits.max_upload_bytes
    with server.client("acme-creator") as c:
        err = assert_error(c.post("/v1/assets", files={"file": ("big.bin", b"\0" * (limit + 100_000))}),
                           413, "payload_too_large")
        assert str(limit) in err["message"]

        def chunks():  # no Content-Length: the streamed body is counted instead
            yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\n'
            for _ in range(40):
                yield b"\0" * 65536

        streamed = c.post("/v1/assets", content=chunks(),
                          headers={"Content-Type": "multipart/form-data; boundary=xyz"})
        assert_error(streamed, 413, "payload_too_large")
        # Just under the limit is accepted.
        assert c.post("/v1/assets", files={"file": ("ok.bin", b"\1" * (limit - 10))}).status_code == 201


def test_rate_limit_429_with_retry_after(server: Server) -> None:
    created = server.ctx.store.create_key("acme", "creator")
    saved = server.ctx.limiter
    server.ctx.limiter = RateLimiter(3)
    try:
        with server.client() as c:
            codes = [c.get("/v1/voices", headers={"X-API-Key": created.key}).status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            limited = c.get("/v1/voices", headers={"X-API-Key": created.key})
            assert_error(limited, 429, "rate_limited")
            assert int(limited.headers["retry-after"]) >= 1
            # Other keys are unaffected.
            assert c.get("/v1/voices", headers={"X-API-Key": server.keys["globex-creator"]}).status_code == 200
    finally:
        server.ctx.limiter = saved


def test_errors_are_json_everywhere(server: Server) -> None:
    with server.client("acme-creator") as c:
        assert_error(c.get("/v1/nope"), 404, "not_found")
        assert_error(c.delete("/v1/healthz"), 405, "method_not_allowed")
        err = assert_error(c.post("/v1/jobs", json={"kind": "paint"}), 422, "invalid_input")
        assert err["field"] == "kind"
        err = assert_error(c.post("/v1/jobs", json={"kind": "voice", "priority": 5000}), 422, "invalid_input")
        assert err["field"] == "priority"
        assert_error(c.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"}),
                     422, "invalid_input")


def test_healthz_metrics_voices_templates_docs(server: Server) -> None:
    with server.client() as anon, server.client("acme-platform") as c:
        health = anon.get("/v1/healthz").json()
        assert health["ok"] is True and health["checks"]["job_store"] is True
        metrics = anon.get("/v1/metrics")
        assert metrics.status_code == 200
        assert 'maydo_queue_depth{lane="interactive",state="queued"}' in metrics.text
        assert "maydo_jobs{" in metrics.text
        voices = c.get("/v1/voices")
        assert voices.status_code == 200 and isinstance(voices.json()["voices"], list)
        assert voices.json()["voices"], "the voice registry lists accents"
        templates = c.get("/v1/templates")
        assert templates.status_code == 200 and isinstance(templates.json()["templates"], list)
        assert anon.get("/docs").status_code == 200
        assert "/v1/jobs" in anon.get("/openapi.json").json()["paths"]
