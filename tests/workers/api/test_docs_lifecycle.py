"""Offline API docs, the server-path scrubber, cursors, and retention (purge) of campaigns."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.workers.api.conftest import Server, api_settings
from workers.api.context import ApiContext
from workers.api.public import decode_cursor, encode_cursor, scrub, scrub_text
from workers.jobs.models import JobSpec


def test_docs_and_redoc_need_no_network(server: Server) -> None:
    with server.client() as anon:
        for page in ("/docs", "/redoc"):
            html = anon.get(page)
            assert html.status_code == 200 and "text/html" in html.headers["content-type"]
            refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
            refs += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html.text)
            assert refs, html.text[:500]
            for ref in refs:
                # Only this server: relative URLs, never a CDN or any other host.
                assert not re.match(r"^(https?:)?//", ref), (page, ref)
            assert "cdn" not in html.text.lower() and "googleapis" not in html.text
            for ref in refs:
                body = anon.get(ref)
                assert body.status_code == 200, ref
                assert len(body.content) > (100_000 if ref.endswith(".js") else 10), ref
        assert anon.get("/openapi.json").json()["paths"]["/v1/campaigns/{campaign_id}/ads"]


def test_scrub_removes_server_paths_and_keeps_urls() -> None:
    body = {
        "template": "/srv/maydo-data/campaigns/c1/templates/product_promo.vi.VND.yaml",
        "dir": "/srv/maydo-data/campaigns/c1",
        "gallery": "/srv/maydo-data/campaigns/c1/index.html",
        "nested": [{"music": "C:\\data\\beds\\upbeat.wav"}, {"url": "https://ads.example.com/v1/assets/ab"}],
        "count": 3,
    }
    assert scrub(body) == {
        "template": "product_promo.vi.VND.yaml",
        "nested": [{"music": "upbeat.wav"}, {"url": "https://ads.example.com/v1/assets/ab"}],
        "count": 3,
    }
    assert scrub_text("see /v1/jobs/j_1/events") == "see /v1/jobs/j_1/events"
    assert scrub_text("missing /home/u/x.png") == "missing x.png"
    cur = encode_cursor(1795999269.5, "j_abc")
    assert decode_cursor(cur, float, str) == (1795999269.5, "j_abc")


def test_bad_cursor_and_filters_are_422_naming_the_field(server: Server) -> None:
    with server.client("acme-creator") as c:
        for url, params, field in (
            ("/v1/jobs", {"cursor": "%%%"}, "cursor"),
            ("/v1/jobs", {"status": "done"}, "status"),
            ("/v1/jobs", {"kind": "poster"}, "kind"),
            ("/v1/jobs", {"tenant": "globex"}, "tenant"),
            ("/v1/campaigns", {"status": "finished"}, "status"),
            ("/v1/campaigns", {"cursor": encode_cursor(1, 2, 3)}, "cursor"),
        ):
            resp = c.get(url, params=params)
            assert resp.status_code in (403, 422), (url, params, resp.text)
            assert resp.json()["error"]["field"] == field, resp.text


def test_jobs_list_is_keyset_paginated_and_tenant_scoped(server: Server) -> None:
    t0 = time.time()
    ids = {server.runtime.submit(JobSpec(kind="voice", params={"text": f"page {i}"}, lane="batch",
                                         tenant="acme")).id for i in range(7)}
    with server.client("acme-platform") as p, server.client("globex-creator") as g, server.client("admin") as a:
        seen: list[str] = []
        params: dict[str, object] = {"created_after": t0, "kind": "voice", "limit": 3}
        while True:
            page = p.get("/v1/jobs", params=params).json()
            seen += [j["id"] for j in page["items"]]
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        assert set(seen) == ids and len(seen) == 7  # no duplicates across pages
        assert not {j["id"] for j in g.get("/v1/jobs", params={"created_after": t0}).json()["items"]} & ids
        assert {j["id"] for j in a.get("/v1/jobs", params={"created_after": t0, "tenant": "acme",
                                                          "limit": 50}).json()["items"]} >= ids
        before = p.get("/v1/jobs", params={"created_before": t0, "created_after": t0 - 1e9}).json()["items"]
        assert not {j["id"] for j in before} & ids


def test_purge_deletes_campaigns_past_their_tenants_retention(tmp_path: Path) -> None:
    settings = api_settings(tmp_path / "data", retention={"default_days": 30, "tenants": {"keep": 365}})
    ctx = ApiContext(settings)
    try:
        from workers.api.routes_campaigns import internal_campaign_id, purge_expired

        ids = {}
        for cid, tenant in (("old", "acme"), ("new", "acme"), ("old", "keep")):
            ids[tenant, cid] = internal = internal_campaign_id(tenant, cid)
            assert ctx.store.claim_campaign(tenant, cid, internal)
            ctx.runtime.submit(JobSpec(kind="voice", params={"text": "hi"}, lane="batch", tenant=tenant,
                                       campaign_id=internal))
        with ctx.store._conn() as conn:
            conn.execute("UPDATE tenant_campaigns SET created = ? WHERE campaign_id = 'old'",
                         (time.time() - 40 * 86400,))

        assert purge_expired(ctx) == ["acme/old"]  # 40 days > acme's 30; 'keep' keeps a year
        assert ctx.store.tenant_campaign("acme", "old") is None
        assert ctx.store.tenant_campaign("keep", "old") == ids["keep", "old"]
        assert ctx.runtime.list(campaign_id=ids["acme", "old"]) == []
        assert len(ctx.runtime.list(campaign_id=ids["acme", "new"])) == 1
        assert len(ctx.runtime.list(campaign_id=ids["keep", "old"])) == 1
    finally:
        ctx.runtime.close()
