"""Asset ownership derived from the job store (CLI/campaign jobs too), the zero-copy download path,
and a campaign started over HTTP that lives on as jobs."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from pipelines._common.data import ASSETS_DIR
from tests.workers.api.conftest import Server, upload
from workers.api.server import ZEROCOPY, sendfile_all, uvicorn_options
from workers.jobs.models import JobSpec
from workers.jobs.store import SQLiteJobStore

SPEC = b"""campaign_id: api-live-1
catalogue: demo/catalogue.yaml
copy: demo/copy.yaml
audience: ignored.csv
template: product_promo
size: tiny
"""


def test_tenants_for_asset_index_and_backfill(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    a_in, a_out = "a" * 64, "b" * 64
    rec, _ = store.create_job(JobSpec(kind="voice", params={}, inputs={"image": a_in}, tenant="acme"),
                              fingerprint="fp1", pool="voice", timeout_s=10, max_attempts=1)
    assert store.tenants_for_asset(a_in) == {"acme"} and store.tenants_for_asset(a_out) == set()
    [claimed] = store.claim("voice", 1, owner="t")
    assert store.finish_success(rec.id, claimed.fence, {"audio": a_out}, {})
    assert store.tenants_for_asset(a_out) == {"acme"}
    # The lookup is an index search, not a scan of the jobs table.
    plan = store._conn().execute("EXPLAIN QUERY PLAN SELECT DISTINCT tenant FROM job_assets WHERE asset_id = ?",
                                 (a_out,)).fetchall()
    assert any("USING PRIMARY KEY" in str(tuple(r)) or "USING COVERING INDEX" in str(tuple(r)) for r in plan)
    store.close()
    # A database from before the index gets it filled from its existing jobs on open.
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
        db.executescript("DROP TABLE job_assets;")
    reopened = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    assert reopened.tenants_for_asset(a_in) == reopened.tenants_for_asset(a_out) == {"acme"}
    reopened.close()


def test_outputs_of_non_api_jobs_are_readable_by_their_tenant(server: Server) -> None:
    # As the CLI / campaign runner do it: assets stored and jobs written without the API.
    data_in, data_out = os.urandom(2000), os.urandom(3000)
    ref_in = server.ctx.assets.put(data_in, "image/png", filename="in.png")
    ref_out = server.ctx.assets.put(data_out, "audio/wav", filename="out.wav")
    rec = server.runtime.submit(JobSpec(kind="voice", params={"text": "cli job", "accent": "en-us"},
                                        inputs={"ref": ref_in.id}, lane="batch", tenant="acme"))
    store = server.runtime.store
    with store._write() as db:  # the dispatcher's finish, without running a pool
        db.execute("UPDATE jobs SET status='running', fence=fence+1 WHERE id=?", (rec.id,))
    fence = store.get(rec.id).fence
    assert store.finish_success(rec.id, fence, {"audio": ref_out.id}, {})
    with server.client("acme-platform") as p, server.client("globex-creator") as g, server.client("admin") as a:
        for ref, data in ((ref_in, data_in), (ref_out, data_out)):
            resp = p.get(f"/v1/assets/{ref.id}")
            assert resp.status_code == 200 and resp.content == data
            assert g.get(f"/v1/assets/{ref.id}").status_code == 404
            assert a.get(f"/v1/assets/{ref.id}").status_code == 200
    # Never viewed through the API, and still nothing was written to the API's owner table.
    assert not server.ctx.store.owns_asset(ref_out.id, "acme")
    # globex can't use acme's output as an input either; acme can.
    with server.client("globex-creator") as g, server.client("acme-creator") as c:
        body = {"kind": "voice", "params": {"text": "x"}, "inputs": {"ref": ref_out.id}, "dry_run": True}
        assert g.post("/v1/jobs", json=body).status_code == 422
        assert c.post("/v1/jobs", json=body).status_code == 200


def test_zero_copy_full_and_range_downloads(server: Server) -> None:
    assert "http" in uvicorn_options()  # httptools is installed: the zero-copy protocol serves the tests
    data = os.urandom(1_900_000)  # larger than loopback socket buffers: several sendfile rounds
    with server.client("acme-creator") as c:
        ref = upload(c, data)
        full = c.get(f"/v1/assets/{ref['id']}")
        assert full.status_code == 200 and hashlib.sha256(full.content).hexdigest() == ref["id"]
        part = c.get(f"/v1/assets/{ref['id']}", headers={"Range": "bytes=1000-1799999"})
        assert part.status_code == 206 and part.content == data[1000:1800000]
        assert part.headers["content-range"] == f"bytes 1000-1799999/{len(data)}"
        # keep-alive: the next request on the same connection is answered correctly
        tail = c.get(f"/v1/assets/{ref['id']}", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == data[-10:]
    assert ZEROCOPY == "http.response.zerocopysend"


def test_sendfile_all_reports_a_short_file(tmp_path: Path) -> None:
    import socket

    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 100)
    a, b = socket.socketpair()
    with a, b, open(f, "rb") as fh:
        a.setblocking(False)
        assert sendfile_all(a.fileno(), fh.fileno(), 10, 50) == 50
        assert b.recv(100) == b"x" * 50
        try:
            sendfile_all(a.fileno(), fh.fileno(), 90, 50)
        except EOFError:
            pass
        else:
            raise AssertionError("a short file must raise EOFError")


def test_campaign_started_over_http_lives_on_as_jobs(server: Server) -> None:
    audience = b"\n".join((Path(ASSETS_DIR) / "demo" / "audience.csv").read_bytes().splitlines()[:3]) + b"\n"
    with server.client("acme-creator") as c, server.client("globex-creator") as g:
        resp = c.post("/v1/campaigns", files={"spec": ("c.yaml", SPEC), "audience": ("a.csv", audience, "text/csv")})
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert body["id"] == "api-live-1" and body["planned"] >= 1 and body["submitted"] == body["planned"]
        # The request returned with the ads queued as durable jobs of this tenant and campaign
        # (campaign ids are namespaced per tenant: the job store holds the internal id).
        from workers.api.routes_campaigns import internal_campaign_id

        internal = internal_campaign_id("acme", "api-live-1")
        jobs = server.runtime.list(campaign_id=internal, kind="render_ad", limit=100)
        assert len(jobs) == body["planned"]
        assert all(j.tenant == "acme" and j.kind == "render_ad" for j in jobs)
        status = c.get("/v1/campaigns/api-live-1").json()
        assert status["total"] == body["planned"] and status["done"] is False and status["progress"] == 0.0
        assert sum(status["counts"].values()) == status["total"]
        for j in jobs:
            server.runtime.cancel(j.id)
        status = c.get("/v1/campaigns/api-live-1").json()
        assert status["done"] is True and status["progress"] == 1.0 and status["counts"].get("canceled")
        manifest = c.get("/v1/campaigns/api-live-1/manifest")
        assert manifest.status_code == 200
        assert g.get("/v1/campaigns/api-live-1").status_code == 404
    for j in server.runtime.list(campaign_id=internal, limit=100):  # the recolor/voice jobs too
        server.runtime.cancel(j.id)
