"""Property-based run over the whole HTTP API (schemathesis, NOT derandomized: each run explores
new inputs), plus hostile bodies mutated by hypothesis: never a 5xx, every 4xx in the error shape.

Marked ``slow`` (``make test`` runs it; ``pytest -m 'not slow'`` skips it). About a minute on two
cores. The derandomized, smaller twin in test_campaigns_schema.py keeps CI's fast tier stable.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.workers.api.conftest import Server

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 60


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kw):  # type: ignore[no-untyped-def]
        try:
            ipaddress.ip_address(str(host).strip("[]"))
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "not resolved in tests") from None
        return real(host, *args, **kw)

    monkeypatch.setattr("workers.api.webhooks.socket.getaddrinfo", loopback_only)


def _check(resp, what: str, statuses: Counter) -> None:  # type: ignore[no-untyped-def]
    statuses[resp.status_code // 100 * 100] += 1
    assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:300]}"
    if resp.status_code >= 400 and resp.request.method != "HEAD":
        body = resp.json()
        assert set(body["error"]) == {"code", "message", "field"}, resp.text[:300]


def test_schemathesis_random_no_server_errors(server: Server, no_dns: None) -> None:
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"X-API-Key": server.keys["acme-creator"]}
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path.endswith("/events"):
            continue  # an open SSE stream per case; its header parsing is fuzzed below

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        @given(case=op.as_strategy())
        def check(case: schemathesis.Case) -> None:
            resp = case.call(base_url=server.url, headers=headers, timeout=20)
            _check(resp, f"{case.method} {case.formatted_path}", statuses)

        check()
        operations += 1
    print(f"\nschemathesis: {operations} operations, {sum(statuses.values())} requests, by class {dict(statuses)}")
    assert operations >= 14 and sum(statuses.values()) >= operations * 5


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


def test_hostile_job_bodies(server: Server) -> None:
    """Raw bodies: random bytes, JSON with NaN/Infinity, deep nesting; no 5xx and no job row."""
    import json

    statuses: Counter[int] = Counter()
    before = {r.id for r in server.runtime.list(limit=100_000)}

    def nan_json(v: object) -> bytes:
        return json.dumps({"kind": "voice", "params": {"text": "hi", "v": v}, "dry_run": True}).encode()

    bodies = (
        st.binary(max_size=300)
        | _JSONISH.map(nan_json)
        | st.integers(100, 20_000).map(lambda n: b'{"kind":"voice","params":' + b"[" * n + b"]" * n + b"}")
        | st.integers(100, 20_000).map(lambda n: b'{"a":' * n + b"0" + b"}" * n)
    )
    with server.client("acme-creator") as c:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(body=bodies, dry=st.booleans())
        def check(body: bytes, dry: bool) -> None:
            resp = c.post("/v1/jobs" + ("?dry_run=true" if dry else ""), content=body,
                          headers={"content-type": "application/json"})
            _check(resp, f"POST /v1/jobs {body[:60]!r}", statuses)

        check()
    print(f"\nhostile job bodies: {sum(statuses.values())} requests, by class {dict(statuses)}")
    # Valid bodies may queue (that is their right); a refused one never wrote a row: every new row is
    # plain finite JSON.
    for rec in server.runtime.list(limit=100_000):
        if rec.id not in before:
            json.dumps(rec.params, allow_nan=False)
            server.runtime.cancel(rec.id)


def test_hostile_last_event_ids(server: Server) -> None:
    from workers.jobs.models import JobSpec

    jid = server.runtime.submit(JobSpec(kind="voice", params={"text": "x"}, lane="batch", tenant="acme")).id
    server.runtime.cancel(jid)  # terminal: a valid cursor ends the stream at once
    statuses: Counter[int] = Counter()
    with server.client("acme-creator") as c:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(value=st.integers(min_value=-(2**80), max_value=2**80).map(str)
               | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40))
        def check(value: str) -> None:
            resp = c.get(f"/v1/jobs/{jid}/events", headers={"Last-Event-ID": value})
            _check(resp, f"Last-Event-ID {value!r}", statuses)

        check()
    print(f"\nLast-Event-ID: {sum(statuses.values())} requests, by class {dict(statuses)}")
