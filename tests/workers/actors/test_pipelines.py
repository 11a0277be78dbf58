"""Real pipelines through the queue at tiny size: exact recolor (64×64) and an espeak voiceover."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from workers.jobs.models import JobSpec, JobStatus
from workers.runtime import Runtime
from workers.storage import LocalAssetStore

# The actors are what is tested here; the job store's backends are covered by test_dispatch/test_store.
pytestmark = pytest.mark.parametrize("job_db_url", ["sqlite"], indirect=True)


def test_recolor_and_voice_actors_store_real_outputs(runtime_factory: Callable[..., Runtime]) -> None:
    from maydo_testing.synthetic import render_product

    rt = runtime_factory(pools=["recolor", "voice"])
    store = LocalAssetStore(rt.settings.assets_dir)
    buf = io.BytesIO()
    Image.fromarray(render_product(size=64).image).save(buf, format="PNG")
    image = store.put(buf.getvalue(), "image/png").id
    rc = rt.submit(
        JobSpec(kind="recolor", inputs={"image": image}, params={"to_colors": ["#1f6feb"]}, lane="interactive")
    )
    bad = rt.submit(JobSpec(kind="recolor", inputs={"image": image}, params={"to_colors": ["notacolour"]}))
    vo = rt.submit(JobSpec(kind="voice", params={"text": "Xin chào các bạn.", "accent": "vi-north"}))
    rc_r, bad_r, vo_r = rt.wait([rc.id, bad.id, vo.id], timeout=120)

    assert rc_r.status == JobStatus.SUCCEEDED, rc_r.error_message
    out = Image.open(store.path(rc_r.outputs["image"]))
    assert out.size == (64, 64) and store.get(rc_r.outputs["image"]).media_type == "image/png"
    assert rc_r.result["reports"][0]["median_de00"] < 5.0  # the recolored region hit the target colour
    assert not np.array_equal(np.asarray(out.convert("RGB")), np.asarray(Image.open(buf).convert("RGB")))

    assert bad_r.status == JobStatus.FAILED and bad_r.attempts == 1
    assert bad_r.error_class == "PipelineInputError" and "notacolour" in (bad_r.error_message or "")

    assert vo_r.status == JobStatus.SUCCEEDED, vo_r.error_message
    audio, sr = sf.read(store.path(vo_r.outputs["audio"]))
    assert sr == 48000 and abs(len(audio) / sr - vo_r.result["duration_s"]) < 0.05
    words = [w["text"] for w in vo_r.result["words"]]
    assert words == ["Xin", "chào", "các", "bạn"]
    assert "tts" in [e.stage for e in rt.events(vo.id)]


def test_diffusion_pool_runs_tiny_model_through_queue(
    runtime_factory: Callable[..., Runtime], tmp_path_factory
) -> None:
    """The GPU pool (logical GPU here) loads a local model dir once and runs a hue-locked recolor."""
    from maydo_testing.diffusion_tiny import build_tiny_inpaint_model
    from maydo_testing.synthetic import render_product

    model_dir = build_tiny_inpaint_model(tmp_path_factory.mktemp("tiny-sd") / "model")
    rt = runtime_factory(start=False)
    pool = rt.settings.pools["recolor_diffusion"]
    pool.enabled, pool.model_dir, pool.options = True, model_dir, {"device": "auto"}
    rt.start(pools=["recolor_diffusion"])
    store = LocalAssetStore(rt.settings.assets_dir)
    buf = io.BytesIO()
    src = render_product(size=64).image
    Image.fromarray(src).save(buf, format="PNG")
    image = store.put(buf.getvalue(), "image/png").id
    params = {"engine": "diffusion", "to_colors": ["#2E8B57"], "steps": 2, "resolution": 64, "seed": 3}
    job = rt.submit(JobSpec(kind="recolor", inputs={"image": image}, params=params))
    [rec] = rt.wait([job.id], timeout=180)
    assert rec.status == JobStatus.SUCCEEDED, rec.error_message
    assert rt.status()["pools"]["recolor_diffusion"]["healthy"] is True
    out = np.asarray(Image.open(store.path(rec.outputs["image"])).convert("RGB"))
    outside = np.asarray(Image.open(store.path(rec.outputs["mask"]))) == 0
    assert out.shape == src.shape and outside.mean() > 0.3
    assert np.array_equal(out[outside], src[outside][:, :3])  # outside the (soft) mask: pixel-identical
    report = rec.result["reports"][0]
    assert report["median_de00"] <= 2.0  # hue-lock pins the tiny model's noise to the target
