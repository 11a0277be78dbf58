"""Issue #13's bad HTTP requests: each answers 4xx naming the field, never a 5xx or a dropped
connection; refused job requests write no job rows; ``?dry_run=true`` on campaigns renders nothing."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from pipelines._common.data import ASSETS_DIR
from tests.workers.api.conftest import Server, upload
from workers.jobs.models import JobSpec

DEMO = Path(ASSETS_DIR) / "demo"
SPEC = b"""campaign_id: api-bad-1
catalogue: demo/catalogue.yaml
copy: demo/copy.yaml
audience: ignored.csv
template: product_promo
size: tiny
"""
HEADER = b"customer_id,first_name,age,location,channel,intent,message\n"


def _job_count(server: Server) -> int:
    return len(server.runtime.list(limit=100_000))


@pytest.mark.parametrize("body", [
    b'{"kind": "voice", "params": {"text": "hi", "rate": NaN}}',
    b'{"kind": "voice", "params": {"text": "hi", "rate": Infinity}}',
    b'{"kind": "voice", "params": {"text": "hi", "rate": -Infinity}}',
    b'{"kind": "voice", "params": {"text": "hi", "rate": 1e999}}',
    b'{"kind": "voice", "params": {"text": "hi", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    b'{"kind": "voice", "params": {"text": "hi", "x": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}}",
    b'{"kind": "voice", "params": {"text": "caf\xe9"}}',
])
def test_bad_json_bodies_are_422_and_write_no_job(server: Server, body: bytes) -> None:
    before = _job_count(server)
    with server.client("acme-creator") as c:
        for query in ("", "?dry_run=true"):
            resp = c.post(f"/v1/jobs{query}", content=body, headers={"content-type": "application/json"})
            assert resp.status_code == 422, resp.text
            err = resp.json()["error"]
            assert err["field"] == "body" and ("JSON" in err["message"] or "UTF-8" in err["message"])
        if b"\xe9" not in body:  # a form field is text: only the JSON problems apply there
            multipart = c.post("/v1/jobs", data={"spec": body.decode()}, files={"inputs.image": ("a.png", b"x")})
            assert multipart.status_code == 422 and multipart.json()["error"]["field"] == "spec", multipart.text
    assert _job_count(server) == before


def test_binary_template_in_a_dry_run_is_reported(server: Server) -> None:
    with server.client("acme-creator") as c:
        tpl = upload(c, bytes(range(256)) * 8, "template.yaml")
        resp = c.post("/v1/jobs?dry_run=true", json={"kind": "ad", "params": {}, "inputs": {"template": tpl["id"]}})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["valid"] is False
        assert any("binary file" in e["message"] for e in body["errors"]), body
        bomb = upload(c, b"a: &a [*a]\n", "template.yaml")
        resp = c.post("/v1/jobs?dry_run=true", json={"kind": "ad", "params": {}, "inputs": {"template": bomb["id"]}})
        assert resp.status_code == 200 and any("recursive alias" in e["message"] for e in resp.json()["errors"])


def test_last_event_id_out_of_range_is_422_not_a_dropped_stream(server: Server) -> None:
    jid = server.runtime.submit(JobSpec(kind="voice", params={"text": "hi"}, lane="batch", tenant="acme")).id
    try:
        with server.client("acme-creator") as c:
            for value in (str(2**70), "-1", "1e5", "abc", "9" * 400):
                resp = c.get(f"/v1/jobs/{jid}/events", headers={"Last-Event-ID": value})
                assert resp.status_code == 422, (value, resp.text)
                assert resp.json()["error"]["field"] == "Last-Event-ID"
    finally:
        server.runtime.cancel(jid)


def _campaign(c, audience: bytes, name: str = "people.csv", spec: bytes = SPEC, query: str = "?dry_run=true"):
    return c.post(f"/v1/campaigns{query}", files={"spec": ("campaign.yaml", spec), "audience": (name, audience)})


def test_campaign_dry_run_query_parameter_renders_nothing(server: Server) -> None:
    before = _job_count(server)
    with server.client("acme-creator") as c:
        resp = _campaign(c, (DEMO / "audience.csv").read_bytes())
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["dry_run"] is True and body["rows"] == 14 and body["planned"] == 12
        assert {(r["row"], r["field"]) for r in body["invalid_rows"]} == {(14, "age"), (15, "channel")}
        bad_flag = _campaign(c, b"x", query="?dry_run=maybe")
        assert bad_flag.status_code == 422 and bad_flag.json()["error"]["field"] == "dry_run"
    assert _job_count(server) == before


def _parquet_bytes() -> bytes:
    return b"PAR1" + b"\x13\x37" * 64 + b"PAR1"


@pytest.mark.parametrize("name,audience,status,field", [
    ("a.csv", HEADER + b"c1,An,30,Hue,tiktok,browsing," + b"x" * (128 * 1024) + b"\n", 200, "message"),
    ("a.csv", HEADER + "c1,Hương,30,Huế,tiktok,browsing,\n".encode() + b"c2,L\xffnh,30,Hue,tiktok,browsing,\n",
     422, "audience"),
    ("a.jsonl", b'{"customer_id": "j1", "first_name": "L\xffn"}\n', 200, "row"),
    ("a.parquet", _parquet_bytes(), 422, "audience"),
    ("a.csv", b"PK\x03\x04 an xlsx renamed", 422, "audience"),
])
def test_bad_audience_files_are_answered(server: Server, name: str, audience: bytes, status: int, field: str) -> None:
    with server.client("acme-creator") as c:
        resp = _campaign(c, audience, name)
    assert resp.status_code == status, resp.text
    if status == 200:
        assert [r["field"] for r in resp.json()["invalid_rows"]] == [field]
    else:
        assert resp.json()["error"]["field"] == field


def test_yaml_alias_bomb_spec_is_a_small_fast_422(server: Server) -> None:
    bomb = b"campaign_id: bomb\n" + b"a: &a [" + b",".join([b'"lol"'] * 9) + b"]\n"
    prev = "a"
    for name in "bcdefghi":
        bomb += f"{name}: &{name} [".encode() + b",".join([f"*{prev}".encode()] * 9) + b"]\n"
        prev = name
    assert len(bomb) < 400
    with server.client("acme-creator") as c:
        t0 = time.monotonic()
        resp = _campaign(c, (DEMO / "audience.csv").read_bytes(), spec=bomb)
        elapsed = time.monotonic() - t0
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "spec"
    assert len(resp.content) < 2000 and elapsed < 3.0, (len(resp.content), elapsed)


def test_campaign_spec_with_nan_deep_nesting_or_binary_is_422(server: Server) -> None:
    audience = io.BytesIO((DEMO / "audience.csv").read_bytes()).getvalue()
    with server.client("acme-creator") as c:
        for spec in (SPEC + b"priority: .nan\n", b"a: " + b"[" * 5000, bytes(range(256)),
                     json.dumps({"campaign_id": "x", "catalogue": "demo/\x00catalogue.yaml"}).encode()):
            resp = _campaign(c, audience, spec=spec)
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["field"].startswith("spec")


def test_voice_dry_run_reports_characters_the_voice_cannot_speak(server: Server) -> None:
    with server.client("acme-creator") as c:
        emoji = c.post("/v1/jobs?dry_run=true", json={"kind": "voice", "params": {"text": "Sale 🔥 now", "accent": "en-us"}})
        assert emoji.status_code == 200 and emoji.json()["errors"] == []  # emoji are dropped, never spoken
        body = c.post("/v1/jobs?dry_run=true", json={"kind": "voice", "params": {"text": "Sale 中文 now", "accent": "en-us"}})
        assert body.status_code == 200
        (err,) = body.json()["errors"]
        assert err["field"] == "params.text" and "U+4E2D" in err["message"]


@pytest.mark.parametrize("body", [
    {"kind": "voice", "params": {"text": "", "accent": "en-gb"}},
    {"kind": "voice", "params": {"text": "hi", "accent": "zz"}},
    {"kind": "voice", "params": {"text": "hi\u0000", "accent": "en-gb"}},
    {"kind": "recolor", "inputs": {"../x": "IMAGE"}, "params": {"to_colors": ["jade"]}},
    {"kind": "recolor", "inputs": {"image": "IMAGE"}, "params": {"to_colors": []}},
    {"kind": "recolor", "inputs": {"image": "IMAGE"}, "params": {"to_colors": "jade"}},
    {"kind": "recolor", "inputs": {"image": "IMAGE"}, "params": {"to_colors": ["#c0392b", "../x"]}},
    {"kind": "recolor", "inputs": {"image": "IMAGE"}, "params": {"to_colors": ["#zzz"]}},
    {"kind": "ad", "inputs": {"product_image": "IMAGE"}, "params": {
        "template": "product_promo", "data": {"first_name": "L"}, "formats": ["9:16"],
        "recolor": {"to_colors": ["nope-colour"]}}},
    {"kind": "ad", "inputs": {"product_image": "IMAGE"}, "params": {
        "template": "product_promo", "data": {"first_name": "L"}, "formats": ["9:16"],
        "voice": {"text": "<>", "accent": "vi-north"}}},
])
def test_real_submit_refuses_what_the_dry_run_reports_invalid(server: Server, body: dict[str, object]) -> None:
    """A dry run and a real submit agree: what the dry run lists as an error is a 422 naming the same
    field on a real submit (not a queued job that can only fail in a worker)."""
    with server.client("acme-creator") as c:
        buf = io.BytesIO()
        Image.new("RGB", (24, 24), (17, 99, 201)).save(buf, "PNG")  # bytes no other test uploads
        image = upload(c, buf.getvalue(), "shirt.png", "image/png")["id"]
        body = json.loads(json.dumps(body).replace("IMAGE", image))
        dry = c.post("/v1/jobs?dry_run=true", json=body).json()
        assert dry["valid"] is False and dry["errors"], dry
        before = _job_count(server)
        real = c.post("/v1/jobs", json=body)
        assert real.status_code == 422, real.text
        assert real.json()["error"]["field"] == dry["errors"][0]["field"]
    assert _job_count(server) == before
