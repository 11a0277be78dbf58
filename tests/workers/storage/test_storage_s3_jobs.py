"""Jobs and a campaign with ``storage.backend: s3`` (moto's server on loopback): Ray actors read
their inputs through verified local copies and upload their outputs; nothing lands in a local
asset directory."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workers.jobs.models import JobSpec, JobStatus
from workers.runtime import Runtime
from workers.storage import open_store
from workers.storage.s3 import S3AssetStore


def _with(settings, **overrides):  # type: ignore[no-untyped-def]
    from workers.settings import Settings

    data = json.loads(settings.model_dump_json())
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value}
    return Settings.model_validate(data)


def test_actor_jobs_read_and_write_through_s3(ray_session, s3_settings) -> None:
    from maydo_testing.synthetic import render_product

    settings = _with(
        s3_settings,
        dispatcher={"test_kinds": True, "lease_s": 1.0, "poll_s": 0.02},
        pools={"noop": {"enabled": True, "num_cpus": 0.1, "size": 1, "max_in_flight": 2},
               "recolor": {"enabled": True, "num_cpus": 0.5, "size": 1}},
    )
    store = open_store(settings)
    assert isinstance(store, S3AssetStore)
    buf = io.BytesIO()
    Image.fromarray(render_product(size=64).image).save(buf, format="PNG")
    image = store.put(buf.getvalue(), "image/png", filename="product.png").id
    rt = Runtime(settings)
    try:
        rt.start(pools=["recolor", "noop"])
        rc = rt.submit(JobSpec(kind="recolor", inputs={"image": image}, params={"to_colors": ["#1f6feb"]}))
        nop = rt.submit(JobSpec(kind="noop", params={"payload": "from a Ray worker"}))
        rc_r, nop_r = rt.wait([rc.id, nop.id], timeout=120)
    finally:
        rt.close()
    assert rc_r.status == JobStatus.SUCCEEDED, rc_r.error_message
    assert nop_r.status == JobStatus.SUCCEEDED, nop_r.error_message
    with store.open(nop_r.outputs["out"]) as fh:
        assert fh.read() == b"from a Ray worker"
    out_id = rc_r.outputs["image"]
    assert store.get(out_id).media_type == "image/png"
    with store.local_copy(out_id) as path, Image.open(path) as im:
        out = np.asarray(im.convert("RGB"))
    assert out.shape == (64, 64, 3) and rc_r.result["reports"][0]["median_de00"] < 5.0
    assert not np.array_equal(out, np.asarray(Image.open(buf).convert("RGB")))
    # Every output is an object in the bucket; the local asset directory was never created.
    assert set(rc_r.outputs.values()) | {nop_r.outputs["out"], image} <= set(store.iter_ids())
    assert not settings.assets_dir.exists()
    # The actor read its input from the verified cache (same host here: one shared cache dir).
    assert (settings.asset_cache_dir / image[:2] / image).is_file()


@pytest.mark.slow
def test_campaign_on_s3_exports_every_ad(ray_session, s3_settings, tmp_path: Path) -> None:
    from workers.campaigns import load_spec, run_campaign

    demo = Path(__file__).resolve().parents[3] / "assets" / "demo"
    aud = tmp_path / "audience.csv"
    aud.write_text(
        "customer_id,first_name,age,location,viewed,favourite_colors,channel,intent,message\n"
        "a1,An,24,Hà Nội,TEE-LOTUS:Jade,,tiktok,browsing,Áo đẹp quá!\n"
        'b3,Ben,45,"London, England",MUG-CAPHE:Cobalt,,youtube,comparing,not bad\n',
        encoding="utf-8",
    )
    spec = load_spec(demo / "campaign.yaml", audience=str(aud), size="tiny", campaign_id="s3-run")
    result = run_campaign(spec, s3_settings, timeout_s=300)
    store = open_store(s3_settings)
    ids = set(store.iter_ids())
    done = [a for a in result.ads if a.status == "done"]
    assert len(done) == 2, [(a.customer_id, a.status, a.error) for a in result.ads]
    for ad in done:
        video = result.out_dir / ad.files["9:16.video"]
        asset = ad.assets["9:16.video"]
        assert asset in ids and video.stat().st_size == store.get(asset).size
        with store.open(asset) as fh:
            assert fh.read(64) == video.read_bytes()[:64]
    assert not s3_settings.assets_dir.exists()
