"""Job store and Runtime submit semantics without Ray: idempotency, fingerprints, fences, order."""

from __future__ import annotations

import pytest

from pipelines._common.errors import PipelineInputError
from workers.jobs.models import JobError, JobSpec, JobStatus
from workers.runtime import InvalidTransition, JobNotFound, Runtime
from workers.settings import Settings

A = "a" * 64
B = "b" * 64


def test_idempotency_key_returns_same_job_per_tenant(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    one = rt.submit(JobSpec(kind="noop", params={"sleep_s": 0}, idempotency_key="req-1"))
    two = rt.submit(JobSpec(kind="noop", params={"sleep_s": 9}, idempotency_key="req-1"))
    other = rt.submit(JobSpec(kind="noop", params={"sleep_s": 0}, idempotency_key="req-1", tenant="acme"))
    assert one.id == two.id and two.params == {"sleep_s": 0}
    assert other.id != one.id
    assert len(rt.list()) == 2


def test_fingerprint_cache_hit_reuses_outputs(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    first = rt.submit(JobSpec(kind="noop", params={"payload": "x"}, inputs={"a": A}))
    [claimed] = rt.store.claim("noop", 1, owner="t")
    assert rt.store.finish_success(claimed.id, claimed.fence, {"out": B}, {"n": 1})
    again = rt.submit(JobSpec(kind="noop", params={"payload": "x"}, inputs={"a": A}, lane="interactive"))
    assert again.id != first.id
    assert again.status == JobStatus.SUCCEEDED and again.cache_hit and again.cached_from == first.id
    assert again.outputs == {"out": B} and again.attempts == 0
    assert [e.stage for e in rt.events(again.id)] == ["cache_hit", "succeeded"]
    different = rt.submit(JobSpec(kind="noop", params={"payload": "y"}, inputs={"a": A}))
    assert different.status == JobStatus.QUEUED and not different.cache_hit
    # key order does not change the fingerprint
    assert rt.fingerprint(JobSpec(kind="noop", params={"a": 1, "b": 2})) == rt.fingerprint(
        JobSpec(kind="noop", params={"b": 2, "a": 1})
    )


def test_claim_order_lane_then_priority_then_age(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    b1 = rt.submit(JobSpec(kind="noop", params={"i": 1}))
    b2 = rt.submit(JobSpec(kind="noop", params={"i": 2}, priority=5))
    i1 = rt.submit(JobSpec(kind="noop", params={"i": 3}, lane="interactive"))
    b3 = rt.submit(JobSpec(kind="noop", params={"i": 4}))
    order = [j.id for j in rt.store.claim("noop", 10, owner="t")]
    assert order == [i1.id, b2.id, b1.id, b3.id]


def test_stale_fence_cannot_overwrite(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    job = rt.submit(JobSpec(kind="noop"))
    [first] = rt.store.claim("noop", 1, owner="old")
    assert rt.store.requeue_stale(owner="new") == [job.id]
    [second] = rt.store.claim("noop", 1, owner="new")
    assert second.fence == first.fence + 1 and second.attempts == 2
    assert not rt.store.finish_success(job.id, first.fence, {"out": A}, {})
    assert rt.store.finish_failure(job.id, first.fence, JobError("X", "late"), retry_at=None) is None
    assert rt.store.finish_success(job.id, second.fence, {"out": B}, {})
    rec = rt.get(job.id)
    assert rec.outputs == {"out": B} and rec.status == JobStatus.SUCCEEDED
    assert [a.outcome for a in rt.attempts(job.id)] == ["abandoned", "succeeded"]


def test_events_cursor_and_retry_transitions(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    job = rt.submit(JobSpec(kind="noop"))
    [claimed] = rt.store.claim("noop", 1, owner="t")
    evs = rt.events(job.id)
    assert [e.stage for e in evs] == ["queued", "running"]
    assert rt.events(job.id, after=evs[0].id) == evs[1:]
    with pytest.raises(InvalidTransition):
        rt.retry(job.id)
    failed = rt.store.finish_failure(job.id, claimed.fence, JobError("Boom", "bad", "tb"), retry_at=None)
    assert failed is not None and failed.status == JobStatus.FAILED and failed.error_traceback == "tb"
    again = rt.retry(job.id)
    assert again.status == JobStatus.QUEUED and again.attempts == 0 and again.error_class is None
    with pytest.raises(JobNotFound):
        rt.get("j_missing")


def test_cancel_queued_is_immediate_and_not_claimed(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    job = rt.submit(JobSpec(kind="noop"))
    assert rt.cancel(job.id).status == JobStatus.CANCELED
    assert rt.store.claim("noop", 5, owner="t") == []


def test_invalid_specs_name_the_field(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    with pytest.raises(PipelineInputError) as exc:
        rt.submit(JobSpec(kind="recolr"))
    assert exc.value.field == "kind" and "recolor" in str(exc.value)
    with pytest.raises(PipelineInputError) as exc:
        rt.submit(JobSpec(kind="recolor", inputs={"image": "../etc/passwd"}))
    assert exc.value.field == "inputs.image"
    with pytest.raises(PipelineInputError) as exc:
        rt.submit(JobSpec(kind="noop", lane="urgent"))
    assert exc.value.field == "lane"
    rt_off = Runtime(
        wsettings.model_copy(update={"dispatcher": wsettings.dispatcher.model_copy(update={"test_kinds": False})})
    )
    with pytest.raises(PipelineInputError):
        rt_off.submit(JobSpec(kind="noop"))


def test_render_ad_fans_out_and_dedupes_shared_children(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    recolor = {"to_colors": ["#c0392b"]}
    voice = {"text": "Xin chào", "accent": "vi-north"}
    ad1 = rt.submit(
        JobSpec(
            kind="render_ad",
            inputs={"product_image": A},
            params={"template": "product_promo", "data": {"name": "An"}, "recolor": recolor, "voice": voice},
            campaign_id="c1",
        )
    )
    ad2 = rt.submit(
        JobSpec(
            kind="render_ad",
            inputs={"product_image": A},
            params={"template": "product_promo", "data": {"name": "Bo"}, "recolor": recolor, "voice": voice},
            campaign_id="c1",
        )
    )
    assert ad1.pool == "video" and len(ad1.depends_on) == 2
    assert ad1.depends_on == ad2.depends_on  # recolor + voice shared, not re-run
    kinds = sorted(rt.get(j).kind for j in ad1.depends_on)
    assert kinds == ["recolor", "voice"]
    assert rt.store.claim("video", 5, owner="t") == []  # waits for its children
    # a failed child fails its ads; retrying the ad re-queues the child
    [rc] = rt.store.claim("recolor", 1, owner="t")
    rt.store.finish_failure(rc.id, rc.fence, JobError("PipelineInputError", "bad colour"), retry_at=None)
    assert rt.get(ad1.id).status == JobStatus.FAILED and rt.get(ad1.id).error_class == "DependencyFailed"
    assert rt.retry(ad1.id).status == JobStatus.QUEUED
    assert rt.get(rc.id).status == JobStatus.QUEUED


@pytest.mark.parametrize(
    ("module", "attr", "kind", "params"),
    [
        ("pipelines.voice", "VERSION", "voice", {"text": "Xin chào", "accent": "vi-north"}),
        ("pipelines.recolor", "EXACT_VERSION", "recolor", {"to_colors": ["#112233"]}),
        ("pipelines.recolor", "DIFFUSION_VERSION", "recolor", {"to_colors": ["#112233"], "engine": "diffusion"}),
        ("pipelines.video", "VERSION", "render_ad", {"template": "product_promo"}),
    ],
)
def test_bumping_a_pipeline_version_misses_the_cache_of_that_kind_only(
    monkeypatch: pytest.MonkeyPatch, module: str, attr: str, kind: str, params: dict[str, object]
) -> None:
    import importlib

    from workers.jobs.fingerprint import fingerprint
    from workers.runtime import pool_for

    jobs = {
        "voice": ("voice", {"text": "Xin chào", "accent": "vi-north"}),
        "recolor": ("recolor", {"to_colors": ["#112233"]}),
        "recolor_diffusion": ("recolor", {"to_colors": ["#112233"], "engine": "diffusion"}),
        "video": ("render_ad", {"template": "product_promo"}),
    }

    def fps() -> dict[str, str]:
        return {
            pool: fingerprint(k, {"image": A}, p, pool=pool_for(k, p), revision="r1") for pool, (k, p) in jobs.items()
        }

    before = fps()
    monkeypatch.setattr(importlib.import_module(module), attr, "bumped")
    after = fps()
    bumped = pool_for(kind, params)
    assert before[bumped] != after[bumped]
    assert {p: fp for p, fp in before.items() if p != bumped} == {p: fp for p, fp in after.items() if p != bumped}
