"""Real dispatcher on the session Ray with the ``noop`` actor: order, retries, cancel, crashes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from workers.jobs.models import JobSpec, JobStatus
from workers.runtime import Runtime
from workers.storage import LocalAssetStore

Factory = Callable[..., Runtime]


def _wait_stage(rt: Runtime, job_id: str, stage: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in rt.events(job_id):
            if ev.stage == stage:
                return ev
        time.sleep(0.02)
    raise AssertionError(f"no {stage!r} event for {job_id}: {[e.stage for e in rt.events(job_id)]}")


def _asset_files(rt: Runtime) -> list[str]:
    root = rt.settings.assets_dir
    return sorted(p.name for p in root.glob("*/*") if p.suffix != ".json") if root.exists() else []


def test_interactive_lane_runs_before_batch_and_progress_is_stored(runtime_factory: Factory) -> None:
    rt = runtime_factory(start=False)
    batch = [rt.submit(JobSpec(kind="noop", params={"i": i})) for i in range(4)]
    high = rt.submit(JobSpec(kind="noop", params={"i": 9}, priority=10))
    inter = rt.submit(JobSpec(kind="noop", params={"i": 10, "payload": "hi"}, lane="interactive"))
    rt.start(pools=["noop"])
    recs = rt.wait([j.id for j in [*batch, high, inter]], timeout=30)
    assert all(r.status == JobStatus.SUCCEEDED for r in recs)
    started = sorted(recs, key=lambda r: r.started_at or 0)
    assert [r.id for r in started[:2]] == [inter.id, high.id]
    assert [r.id for r in started[2:]] == [j.id for j in batch]
    evs = rt.events(inter.id)
    stages = [e.stage for e in evs]
    assert stages[:2] == ["queued", "running"] and stages[-2:] == ["store", "succeeded"]
    fractions = [e.fraction for e in evs if e.stage == "work"]
    assert fractions == sorted(fractions) and fractions[-1] > 0.9
    done = rt.get(inter.id)
    store = LocalAssetStore(rt.settings.assets_dir)
    assert store.open(done.outputs["out"]).read() == b"hi"
    # same work again: cache hit, nothing runs
    again = rt.submit(JobSpec(kind="noop", params={"i": 10, "payload": "hi"}))
    assert again.status == JobStatus.SUCCEEDED and again.cache_hit and again.outputs == done.outputs


def test_transient_failures_retry_with_backoff_input_errors_do_not(runtime_factory: Factory) -> None:
    rt = runtime_factory()
    flaky = rt.submit(JobSpec(kind="noop", params={"fail_times": 2, "payload": "ok"}))
    hopeless = rt.submit(JobSpec(kind="noop", params={"fail_times": 5}, max_attempts=2))
    bad = rt.submit(JobSpec(kind="noop", params={"input_error": True}))
    flaky_r, hopeless_r, bad_r = rt.wait([flaky.id, hopeless.id, bad.id], timeout=30)
    assert flaky_r.status == JobStatus.SUCCEEDED and flaky_r.attempts == 3
    assert [a.outcome for a in rt.attempts(flaky.id)] == ["retrying", "retrying", "succeeded"]
    assert [e.stage for e in rt.events(flaky.id)].count("retrying") == 2
    assert hopeless_r.status == JobStatus.FAILED and hopeless_r.attempts == 2
    assert hopeless_r.error_class == "TransientJobError" and "Traceback" in (hopeless_r.error_traceback or "")
    assert bad_r.status == JobStatus.FAILED and bad_r.attempts == 1
    assert bad_r.error_class == "PipelineInputError" and bad_r.error_field == "params.input_error"


def test_cancel_running_cooperative_and_after_grace(runtime_factory: Factory) -> None:
    rt = runtime_factory()
    slow = rt.submit(JobSpec(kind="noop", params={"sleep_s": 20, "stages": 200, "payload": "never"}))
    _wait_stage(rt, slow.id, "work")
    t0 = time.monotonic()
    rt.cancel(slow.id)
    [rec] = rt.wait([slow.id], timeout=10)
    assert rec.status == JobStatus.CANCELED and rec.outputs == {}
    assert time.monotonic() - t0 < 3
    assert _asset_files(rt) == []  # partial outputs dropped
    # a job that ignores the flag: the actor is killed after the grace period and replaced
    hung = rt.submit(JobSpec(kind="noop", params={"hang_s": 30}))
    _wait_stage(rt, hung.id, "running")
    time.sleep(0.3)
    rt.cancel(hung.id)
    [rec] = rt.wait([hung.id], timeout=15)
    assert rec.status == JobStatus.CANCELED
    after = rt.submit(JobSpec(kind="noop", params={"payload": "after"}))
    [rec] = rt.wait([after.id], timeout=30)
    assert rec.status == JobStatus.SUCCEEDED  # the pool came back with a fresh actor


def test_timeout_is_retried_then_fails(runtime_factory: Factory) -> None:
    rt = runtime_factory()
    job = rt.submit(JobSpec(kind="noop", params={"sleep_s": 10, "stages": 100}, timeout_s=0.3, max_attempts=2))
    [rec] = rt.wait([job.id], timeout=20)
    assert rec.status == JobStatus.FAILED and rec.error_class == "JobTimeout" and rec.attempts == 2


def test_kill_9_worker_mid_job_retries_once_without_duplicate_assets(runtime_factory: Factory) -> None:
    rt = runtime_factory()
    job = rt.submit(JobSpec(kind="noop", params={"sleep_s": 1.5, "stages": 30, "payload": "unique"}))
    ev = _wait_stage(rt, job.id, "work")
    pid = int(ev.message.split()[1])
    os.kill(pid, signal.SIGKILL)
    [rec] = rt.wait([job.id], timeout=60)
    assert rec.status == JobStatus.SUCCEEDED and rec.attempts == 2
    attempts = rt.attempts(job.id)
    assert attempts[0].outcome == "retrying" and "Actor" in (attempts[0].error_class or "")
    assert attempts[1].outcome == "succeeded"
    assert _asset_files(rt) == [rec.outputs["out"]]
    assert rec.result["pid"] != pid


def test_dispatcher_restart_requeues_stale_and_keeps_finished(runtime_factory: Factory) -> None:
    rt = runtime_factory()
    done = rt.submit(JobSpec(kind="noop", params={"payload": "done"}))
    rt.wait([done.id], timeout=30)
    slow = rt.submit(JobSpec(kind="noop", params={"sleep_s": 1.0, "stages": 20, "payload": "slow"}))
    _wait_stage(rt, slow.id, "work")
    rt.stop(graceful=False)  # like a kill -9 of the dispatcher: the store still says "running"
    assert rt.get(slow.id).status == JobStatus.RUNNING
    rt2 = runtime_factory(start=False)
    deadline = time.monotonic() + 10
    while True:
        try:
            rt2.start(pools=["noop"])
            break
        except RuntimeError:  # the dead dispatcher's lease has not expired yet
            assert time.monotonic() < deadline
            time.sleep(0.2)
    slow_r, done_r = rt2.wait([slow.id, done.id], timeout=30)
    assert slow_r.status == JobStatus.SUCCEEDED and slow_r.attempts == 2
    assert [a.outcome for a in rt2.attempts(slow.id)] == ["abandoned", "succeeded"]
    assert done_r.attempts == 1 and [a.outcome for a in rt2.attempts(done.id)] == ["succeeded"]


def test_backpressure_bounds_in_flight(runtime_factory: Factory) -> None:
    rt = runtime_factory(noop={"size": 1, "max_in_flight": 3})
    ids = [rt.submit(JobSpec(kind="noop", params={"i": i, "sleep_s": 0.01, "stages": 1})).id for i in range(60)]
    disp = rt._dispatcher
    assert disp is not None
    peak = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        peak = max(peak, len(disp.in_flight))
        if all(r.terminal for r in rt.wait(ids, timeout=0)):
            break
        time.sleep(0.005)
    assert all(r.status == JobStatus.SUCCEEDED for r in rt.wait(ids, timeout=0))
    assert 1 <= peak <= 3
    lanes = rt.status()["lanes"]
    assert lanes["batch"]["queued"] == 0 and lanes["batch"]["running"] == 0


def test_unhealthy_pool_reports_error_and_is_not_restarted(runtime_factory: Factory) -> None:
    # The diffusion pool with no model directory: its actor cannot load the model.
    rt = runtime_factory(pools=["recolor_diffusion"])
    store = LocalAssetStore(rt.settings.assets_dir)
    image = store.put(b"\x89PNG not really", "image/png")
    job = rt.submit(
        JobSpec(kind="recolor", inputs={"image": image.id}, params={"engine": "diffusion", "to_colors": ["red"]})
    )
    [rec] = rt.wait([job.id], timeout=30)
    assert rec.status == JobStatus.FAILED and rec.error_class == "PoolUnhealthy" and rec.attempts == 1
    assert "model_dir" in (rec.error_message or "")
    pool = rt.status()["pools"]["recolor_diffusion"]
    assert pool["healthy"] is False and "model_dir" in pool["error"] and pool["actors"] == 0
    disp = rt._dispatcher
    assert disp is not None and disp.pools["recolor_diffusion"].slots == []
    assert disp.pools["recolor_diffusion"].deaths == []
