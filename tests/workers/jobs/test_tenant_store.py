"""Tenant isolation in the runtime itself (no HTTP): the fingerprint cache and child sharing are
per tenant, and cancel is reference-counted. Any job store (SQLite today) must keep these."""

from __future__ import annotations

import pytest

from workers.jobs.models import JobSpec, JobStatus
from workers.runtime import JobInUse, Runtime
from workers.settings import load_settings


@pytest.fixture
def rt(tmp_path):  # type: ignore[no-untyped-def]
    with Runtime(load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})) as runtime:
        yield runtime


def _ad(tenant: str, name: str) -> JobSpec:
    return JobSpec(kind="render_ad", tenant=tenant, params={
        "template": "bumper_6s", "data": {"product": {"name": name, "price": 1}},
        "voice": {"text": "Hello there", "accent": "en-us"}})


def test_children_and_cache_are_per_tenant(rt: Runtime) -> None:
    a1, a2, b1 = rt.submit(_ad("acme", "X")), rt.submit(_ad("acme", "Y")), rt.submit(_ad("globex", "X"))
    assert a1.depends_on == a2.depends_on and set(a1.depends_on).isdisjoint(b1.depends_on)
    voice = JobSpec(kind="voice", tenant="acme", params={"text": "Only acme said this", "accent": "en-us"})
    first = rt.submit(voice)
    [claimed] = [j for j in rt.store.claim("voice", 10, owner="t") if j.id == first.id]
    assert rt.store.finish_success(claimed.id, claimed.fence, {"audio": "a" * 64}, {})
    assert rt.submit(voice).cache_hit is True
    other = rt.submit(JobSpec(kind="voice", tenant="globex", params=voice.params))
    assert other.cache_hit is False and other.status == JobStatus.QUEUED


def test_cancel_never_cancels_work_another_job_needs(rt: Runtime) -> None:
    a1, a2 = rt.submit(_ad("acme", "X")), rt.submit(_ad("acme", "Y"))
    [child] = a1.depends_on
    with pytest.raises(JobInUse) as err:
        rt.cancel(child)
    assert set(err.value.dependents) == {a1.id, a2.id}
    assert rt.get(child).status == JobStatus.QUEUED
    assert rt.cancel(a1.id).status == JobStatus.CANCELED
    assert rt.get(child).status == JobStatus.QUEUED and rt.get(a2.id).status == JobStatus.QUEUED
    # A new ad that needs the same work attaches to the child while it is still wanted...
    a3 = rt.submit(_ad("acme", "Z"))
    assert a3.depends_on == [child]
    rt.cancel(a2.id)
    assert rt.get(child).status == JobStatus.QUEUED  # a3 still needs it
    rt.cancel(a3.id)
    assert rt.get(child).status == JobStatus.CANCELED  # the last dependent released it
    # ...and work being canceled is never shared again: a new ad gets a fresh child.
    a4 = rt.submit(_ad("acme", "W"))
    assert a4.depends_on != [child]
