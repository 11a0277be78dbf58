"""Issue #12 on a real server on loopback: no server paths from callers, tenants isolated,
served files inert, limits enforced on real submits. Two tenants: acme and globex."""

from __future__ import annotations

import io
import json
import struct
import threading
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image

from pipelines._common.data import ASSETS_DIR
from tests.workers.api.conftest import Server, upload
from workers.jobs.models import JobSpec

CONFIG = Path(ASSETS_DIR).parent / "configs" / "default.yaml"
BUMPER = yaml.safe_load((Path(ASSETS_DIR) / "templates" / "bumper_6s.yaml").read_text(encoding="utf-8"))
SERVER_PATHS = ["/etc/passwd", "../../../../etc/passwd", str(CONFIG), "media/../../../configs/default.yaml"]


def _png(w: int = 32, h: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h (never decoded: limits are read from the header)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _template(**changes: Any) -> bytes:
    raw = json.loads(json.dumps(BUMPER))
    raw["audio"]["music"]["src"] = "music/bed_upbeat.wav"
    for key, value in changes.items():
        if key == "video_src":
            raw["scenes"][0]["layers"][0]["src"] = value
        elif key == "music_src":
            raw["audio"]["music"]["src"] = value
        elif key == "sfx_src":
            raw["audio"]["sfx"] = [{"src": value, "scene": "sting", "at": 0.0}]
        else:
            raw[key] = value
    return yaml.safe_dump(raw).encode()


def _error(resp: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["field"] == field, err
    return dict(err)


def _count(server: Server) -> int:
    return len(server.runtime.list(limit=100_000))


# -- 1. no server paths: jobs ------------------------------------------------------------------


@pytest.mark.parametrize("path", SERVER_PATHS)
@pytest.mark.parametrize("dry_run", [False, True])
def test_job_template_server_paths_are_refused_unread(server: Server, path: str, dry_run: bool) -> None:
    with server.client("acme-creator") as c:
        before = _count(server)
        resp = c.post("/v1/jobs", json={"kind": "ad", "params": {"template": path}, "dry_run": dry_run})
        err = _error(resp, 422, "params.template")
        # Nothing was opened: no file content (passwd entries, config keys) in the answer.
        assert "root:" not in err["message"] and "max_image_pixels" not in err["message"]
        assert _count(server) == before


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("ad", {"template": "bumper_6s", "product_image": "/etc/passwd"}, "params.product_image"),
        ("ad", {"template": "bumper_6s", "music": "/etc/passwd"}, "params.music"),
        ("ad", {"template": "bumper_6s", "music": "../music/bed_upbeat.wav"}, "params.music"),
        ("ad", {"template": "bumper_6s", "basename": "../../../tmp/evil"}, "params.basename"),
        ("ad", {"template": "bumper_6s", "recolor": {"to_colors": ["#fff"], "mask": "/etc/passwd"}},
         "params.recolor.mask"),
        ("ad", {"template": "bumper_6s", "voice": {"text": "hi", "accent": "en-us", "speaker_wav": "/etc/x.wav"}},
         "params.voice.speaker_wav"),
        ("recolor", {"to_colors": ["#fff"], "mask": "/etc/passwd"}, "params.mask"),
        ("recolor", {"to_colors": ["#fff"], "onnx_model": "/root/model.onnx"}, "params.onnx_model"),
        ("voice", {"text": "hi", "accent": "en-us", "speaker_wav": "../../x.wav"}, "params.speaker_wav"),
    ],
)
def test_path_like_job_params_are_refused(server: Server, kind: str, params: dict[str, Any], field: str) -> None:
    with server.client("acme-creator") as c:
        before = _count(server)
        _error(c.post("/v1/jobs", json={"kind": kind, "params": params}), 422, field)
        assert _count(server) == before


def test_out_dir_is_never_a_parameter(server: Server, tmp_path: Path) -> None:
    target = tmp_path / f"out-{uuid.uuid4().hex}"
    with server.client("acme-creator") as c:
        for dry in (False, True):
            resp = c.post("/v1/jobs", json={"kind": "ad", "dry_run": dry,
                                            "params": {"template": "bumper_6s", "out_dir": str(target)}})
            assert "out_dir" in _error(resp, 422, "params.out_dir")["message"]
    assert not target.exists()


def test_other_tenants_assets_are_refused_in_every_input(server: Server) -> None:
    with server.client("globex-creator") as g, server.client("acme-creator") as c:
        theirs = upload(g, _png(), "theirs.png", "image/png")["id"]
        their_tpl = upload(g, _template(), "t.yaml", "application/yaml")["id"]
        for body, field in (
            ({"kind": "recolor", "inputs": {"image": theirs}, "params": {"to_colors": ["#fff"]}}, "inputs.image"),
            ({"kind": "ad", "inputs": {"product_image": theirs}, "params": {"template": "bumper_6s"}},
             "inputs.product_image"),
            ({"kind": "ad", "inputs": {"template": their_tpl}, "params": {}}, "inputs.template"),
            ({"kind": "ad", "params": {"template": "bumper_6s", "music": their_tpl}}, "params.music"),
        ):
            for dry in (False, True):
                err = _error(c.post("/v1/jobs", json={**body, "dry_run": dry}), 422, field)
                assert "this tenant" in err["message"]


# -- 1b. uploaded templates ---------------------------------------------------------------------


def test_uploaded_template_media_must_be_names_or_own_assets(server: Server) -> None:
    with server.client("globex-creator") as g, server.client("acme-creator") as c:
        theirs = upload(g, _png(40, 40), "g.png", "image/png")["id"]
        mine = upload(c, _png(41, 41), "a.png", "image/png")["id"]
        cases = [
            ({"video_src": "/etc/passwd"}, "scenes[0].layers[0].src", {}),
            ({"video_src": "../../../../etc/hostname"}, "scenes[0].layers[0].src", {}),
            ({"music_src": "../music/bed_upbeat.wav"}, "audio.music.src", {}),
            ({"music_src": f"../{theirs[:2]}/{theirs}"}, "audio.music.src", {}),  # the asset store's layout
            ({"sfx_src": str(CONFIG)}, "audio.sfx[0].src", {}),
            ({"video_src": theirs}, "scenes[0].layers[0].src", {}),
            ({"video_src": "{{bg}}"}, "scenes[0].layers[0].src", {"bg": "/etc/passwd"}),
            ({"video_src": "{{bg}}"}, "scenes[0].layers[0].src", {"bg": theirs}),
        ]
        for change, where, data in cases:
            tid = upload(c, _template(**change), "t.yaml", "application/yaml")["id"]
            for dry in (False, True):
                before = _count(server)
                resp = c.post("/v1/jobs", json={"kind": "ad", "inputs": {"template": tid}, "dry_run": dry,
                                                "params": {"data": {"product": {"name": "X", "price": 1}, **data}}})
                _error(resp, 422, f"inputs.template: {where}")
                assert _count(server) == before, change
        # The same template with registry names and the tenant's own asset is accepted; the asset
        # it uses travels with the job as an input (so the worker may open it, and only it).
        tid = upload(c, _template(video_src="{{bg}}"), "ok.yaml", "application/yaml")["id"]
        ok = c.post("/v1/jobs", json={"kind": "ad", "inputs": {"template": tid},
                                      "params": {"data": {"product": {"name": "X", "price": 1}, "bg": mine}}})
        assert ok.status_code == 201, ok.text
        assert mine in ok.json()["inputs"].values()
        server.runtime.cancel(ok.json()["id"])


# -- 1c. campaign specs -------------------------------------------------------------------------

SPEC = {"campaign_id": "sec-1", "catalogue": "demo/catalogue.yaml", "copy": "demo/copy.yaml",
        "audience": "ignored.csv", "template": "product_promo", "size": "tiny"}
AUDIENCE = b"\n".join((Path(ASSETS_DIR) / "demo" / "audience.csv").read_bytes().splitlines()[:3]) + b"\n"


def _campaign(client: httpx.Client, spec: dict[str, Any], dry_run: bool = False) -> httpx.Response:
    data = {"dry_run": "true"} if dry_run else {}
    return client.post("/v1/campaigns", data=data, files={
        "spec": ("c.yaml", yaml.safe_dump(spec).encode()), "audience": ("a.csv", AUDIENCE, "text/csv")})


@pytest.mark.parametrize("path", SERVER_PATHS)
def test_campaign_spec_server_paths_are_refused(server: Server, path: str) -> None:
    with server.client("acme-creator") as c:
        for key, field in (("template", "spec.template"), ("music", "spec.music"), ("catalogue", "spec.catalogue"),
                           ("copy", "spec.copy")):
            for dry in (True, False):
                before = _count(server)
                err = _error(_campaign(c, {**SPEC, key: path}, dry), 422, field)
                assert "root:" not in err["message"]
                assert _count(server) == before
        _error(_campaign(c, {**SPEC, "templates": {"sale": path}}, True), 422, "spec.templates.sale")


def test_campaign_spec_other_tenants_template_is_refused(server: Server) -> None:
    with server.client("globex-creator") as g, server.client("acme-creator") as c:
        their_tpl = upload(g, _template(), "t.yaml", "application/yaml")["id"]
        assert "this tenant" in _error(_campaign(c, {**SPEC, "template": their_tpl}, True), 422,
                                       "spec.template")["message"]


# -- 2. tenant isolation ------------------------------------------------------------------------


def _finish(server: Server, job_id: str, outputs: dict[str, str]) -> None:
    """What the dispatcher does when a job succeeds (no voice pool runs in these tests)."""
    store = server.runtime.store
    with store._write() as db:
        db.execute("UPDATE jobs SET status='running', fence=fence+1 WHERE id=?", (job_id,))
    assert store.finish_success(job_id, store.get(job_id).fence, outputs, {"duration_s": 1.0})


def test_result_cache_is_no_cross_tenant_oracle(server: Server) -> None:
    script = {"kind": "voice", "params": {"text": f"Secret launch {uuid.uuid4().hex}", "accent": "en-us"}}
    with server.client("globex-creator") as g, server.client("acme-creator") as c:
        first = g.post("/v1/jobs", json=script).json()
        _finish(server, first["id"], {"audio": server.ctx.assets.put(b"RIFF fake", "audio/wav").id})
        again = g.post("/v1/jobs", json=script).json()
        assert again["cache_hit"] is True  # the cache still works inside a tenant
        other = c.post("/v1/jobs", json=script).json()
        assert other["cache_hit"] is False and other["status"] == "queued" and other["outputs"] == {}
        c.post(f"/v1/jobs/{other['id']}/cancel")


def test_child_jobs_are_not_shared_across_tenants_and_cancel_is_refcounted(server: Server) -> None:
    ad = {"kind": "ad", "params": {"template": "bumper_6s", "data": {"product": {"name": "X", "price": 1}},
                                   "voice": {"text": f"Hello {uuid.uuid4().hex}", "accent": "en-us"}}}
    with server.client("globex-creator") as g, server.client("acme-creator") as c:
        theirs = g.post("/v1/jobs", json=ad).json()
        a1 = c.post("/v1/jobs", json=ad).json()
        assert set(theirs["depends_on"]).isdisjoint(a1["depends_on"])  # no shared child across tenants
        ad2 = json.loads(json.dumps(ad))
        ad2["params"]["data"]["product"]["name"] = "Y"
        a2 = c.post("/v1/jobs", json=ad2).json()
        [child] = a1["depends_on"]
        assert a2["depends_on"] == [child]  # inside a tenant, equal work is shared
        # Canceling the shared child would cancel work other jobs depend on: refused, nothing changes.
        resp = c.post(f"/v1/jobs/{child}/cancel")
        assert resp.status_code == 409 and resp.json()["error"]["field"] == "job_id"
        assert {c.get(f"/v1/jobs/{j}").json()["status"] for j in (child, a1["id"], a2["id"])} == {"queued"}
        # Canceling one ad keeps the child its sibling still needs; the last one releases it.
        assert c.post(f"/v1/jobs/{a1['id']}/cancel").json()["status"] == "canceled"
        assert c.get(f"/v1/jobs/{child}").json()["status"] == "queued"
        assert c.get(f"/v1/jobs/{a2['id']}").json()["status"] == "queued"
        assert c.post(f"/v1/jobs/{a2['id']}/cancel").json()["status"] == "canceled"
        assert c.get(f"/v1/jobs/{child}").json()["status"] == "canceled"
        # globex's ad never noticed any of it; and acme cannot even see globex's jobs.
        assert g.get(f"/v1/jobs/{theirs['id']}").json()["status"] == "queued"
        assert c.post(f"/v1/jobs/{theirs['id']}/cancel").status_code == 404
        g.post(f"/v1/jobs/{theirs['id']}/cancel")


def test_upload_metadata_is_per_tenant(server: Server) -> None:
    data = _png(33, 35)
    with server.client("globex-creator") as g, server.client("acme-creator") as c:
        first = upload(g, data, "globex-q3-launch-secret.png", "image/png")
        mine = upload(c, data, "mine.png", "image/png")
        assert mine["id"] == first["id"] and mine["filename"] == "mine.png"
        assert c.get(f"/v1/assets/{mine['id']}/meta").json()["filename"] == "mine.png"
        got = c.get(f"/v1/assets/{mine['id']}")
        assert "globex" not in got.headers["content-disposition"] and "mine.png" in got.headers["content-disposition"]
        signed = c.get(f"/v1/assets/{mine['id']}/url").json()["url"]
        with httpx.Client(trust_env=False) as anon:
            assert "mine.png" in anon.get(signed).headers["content-disposition"]
        assert g.get(f"/v1/assets/{mine['id']}/meta").json()["filename"] == "globex-q3-launch-secret.png"


def test_campaign_ids_are_per_tenant_with_one_winner(server: Server) -> None:
    spec = {**SPEC, "campaign_id": f"race-{uuid.uuid4().hex[:8]}"}
    results: dict[str, list[httpx.Response]] = {"acme-creator": [], "globex-creator": []}

    def create(who: str) -> None:
        with server.client(who) as cl:
            results[who].append(_campaign(cl, spec))

    threads = [threading.Thread(target=create, args=(w,)) for w in ("acme-creator", "globex-creator", "acme-creator")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Different tenants never collide; inside one tenant exactly one concurrent creator wins.
    assert [r.status_code for r in results["globex-creator"]] == [202]
    assert sorted(r.status_code for r in results["acme-creator"]) == [202, 409]
    cid = spec["campaign_id"]
    with server.client("acme-creator") as c, server.client("globex-creator") as g:
        mine, theirs = c.get(f"/v1/campaigns/{cid}").json(), g.get(f"/v1/campaigns/{cid}").json()
        assert mine["tenant"] == "acme" and theirs["tenant"] == "globex" and mine["id"] == theirs["id"] == cid
        ma, mg = c.get(f"/v1/campaigns/{cid}/manifest").json(), g.get(f"/v1/campaigns/{cid}/manifest").json()
        jobs_a = {a.get("job_id") for a in ma.get("ads", ma.get("rows", []))} - {None}
        jobs_g = {a.get("job_id") for a in mg.get("ads", mg.get("rows", []))} - {None}
        assert jobs_a and jobs_g and jobs_a.isdisjoint(jobs_g)
        assert all(server.runtime.get(j).tenant == "acme" for j in jobs_a)
        # A campaign id only another tenant has answers exactly like one nobody has.
        only_theirs = {**SPEC, "campaign_id": f"g-only-{uuid.uuid4().hex[:6]}"}
        assert _campaign(g, only_theirs).status_code == 202
        for path in (f"/v1/campaigns/{only_theirs['campaign_id']}", "/v1/campaigns/nobody-has-this"):
            assert c.get(path).status_code == 404
        assert c.get(f"/v1/campaigns/{only_theirs['campaign_id']}").json() == c.get(
            "/v1/campaigns/nobody-has-this").json()
    for rec in server.runtime.list(status=["queued", "retrying"], kind="render_ad", limit=10_000):
        server.runtime.cancel(rec.id)  # releases the recolor/voice children no other ad needs


# -- 3. served files ---------------------------------------------------------------------------


def test_served_files_are_inert_with_clean_headers(server: Server) -> None:
    with server.client("acme-creator") as c:
        page = upload(c, b"<html><script>alert(document.cookie)</script></html>", "x.html", "text/html")
        for q in ("", "?disposition=inline"):
            r = c.get(f"/v1/assets/{page['id']}{q}")
            assert r.status_code == 200
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in r.headers["content-security-policy"]
            assert "default-src 'none'" in r.headers["content-security-policy"]
            assert r.headers["content-type"].startswith("application/octet-stream")
            assert r.headers["content-disposition"].startswith("attachment;")
        svg = upload(c, b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "x.svg", "image/svg+xml")
        assert c.get(f"/v1/assets/{svg['id']}?disposition=inline").headers["content-disposition"].startswith(
            "attachment;")
        img = upload(c, _png(34, 34), "ok.png", "image/png")
        r = c.get(f"/v1/assets/{img['id']}?disposition=inline")
        assert r.headers["content-disposition"].startswith("inline;") and r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff"
        missing = c.get("/v1/assets/" + "0" * 64)  # JSON errors too
        assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"
        # Control characters in a filename never reach a header (the download used to drop).
        evil = upload(c, _png(35, 33), "a\r\nSet-Cookie: x=1\x07;b\u00e9.png", "image/png")
        assert evil["filename"] is not None and not any(ord(ch) < 32 for ch in evil["filename"])
        r = c.get(f"/v1/assets/{evil['id']}")
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
        cd = r.headers["content-disposition"]
        assert "set-cookie" not in {k.lower() for k in r.headers} and all(32 <= ord(ch) < 127 for ch in cd)
        assert "filename*=UTF-8''" in cd and "%C3%A9" in cd
        # Metadata stored before names were cleaned (or by another writer) is cleaned on the way out.
        data = _png(37, 31)
        ref = server.ctx.assets.put(data, "image/png", filename="old\r\nX-Evil: 1\x00.png")
        server.ctx.store.add_asset_owner(ref.id, "acme", "old\r\nX-Evil: 1\x00.png", "image/png")
        r = c.get(f"/v1/assets/{ref.id}")
        assert r.status_code == 200 and r.content == data and "x-evil" not in {k.lower() for k in r.headers}
        assert all(32 <= ord(ch) < 127 for ch in r.headers["content-disposition"])


# -- 5. limits on real submits -----------------------------------------------------------------


def test_limits_refuse_real_jobs_naming_the_setting(server: Server) -> None:
    lim = server.settings.limits
    with server.client("acme-creator") as c:
        huge = upload(c, _png_header_only(7000, 7000), "huge.png", "image/png")["id"]
        cases = [
            ({"kind": "recolor", "inputs": {"image": huge}, "params": {"to_colors": ["#fff"]}},
             "inputs.image", "limits.max_image_pixels"),
            ({"kind": "voice", "params": {"text": "x" * (lim.max_script_chars + 1), "accent": "en-us"}},
             "params.text", "limits.max_script_chars"),
            ({"kind": "recolor", "inputs": {"image": upload(c, _png(36, 36), "s.png", "image/png")["id"]},
              "params": {"to_colors": ["#ffffff"] * (lim.max_recolor_targets + 1)}},
             "params.to_colors", "limits.max_recolor_targets"),
            ({"kind": "ad", "params": {"template": "bumper_6s", "scale": 4.0, "formats": ["9:16"]}},
             "params.scale", "limits.max_canvas_pixels"),
            ({"kind": "ad", "inputs": {"product_image": huge}, "params": {"template": "bumper_6s"}},
             "inputs.product_image", "limits.max_image_pixels"),
        ]
        many = {"scenes": [{"id": f"s{i}", "duration": 300, "layers": []} for i in range(2000)]}
        long = {"scenes": [{"id": f"s{i}", "duration": 300, "layers": []} for i in range(2)]}
        for tpl, setting in ((many, "limits.max_scenes"), (long, "limits.max_template_seconds")):
            tid = upload(c, _template(**tpl), "big.yaml", "application/yaml")["id"]
            cases.append(({"kind": "ad", "inputs": {"template": tid}, "params": {}}, "inputs.template", setting))
        for body, field, setting in cases:
            before = _count(server)
            err = _error(c.post("/v1/jobs", json=body), 422, field)
            assert setting in err["message"], err
            assert _count(server) == before
            dry = c.post("/v1/jobs?dry_run=true", json=body).json()
            assert dry["valid"] is False and any(setting in e["message"] for e in dry["errors"]), dry


def test_runtime_refuses_server_paths_from_any_caller(server: Server) -> None:
    """The runtime refuses a server path from any caller, not only the HTTP API."""
    from pipelines._common.errors import PipelineInputError

    with pytest.raises(PipelineInputError) as err:
        server.runtime.submit(JobSpec(kind="render_ad", params={"template": "/etc/passwd"}, tenant="acme"))
    assert err.value.field == "params.template"
