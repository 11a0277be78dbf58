"""The recolor actor's job outputs (called in-process, no Ray): image, weights mask, product mask, cut-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.recolor.config import RecolorParams
from pipelines.recolor.pipeline_recolor import RecolorPipeline
from tests.pipelines.recolor.photos import coffee, models_dir
from workers.actors.base import JobContext
from workers.actors.recolor import _run_recolor


def _ctx(tmp_path: Path, image: Path, params: dict[str, object]) -> JobContext:
    work = tmp_path / "work"
    work.mkdir()
    return JobContext(job_id="j1", fence=1, kind="recolor", attempt=1, params=dict(params), inputs={"image": image},
                      deps={}, workdir=work, progress=lambda *a, **k: None)


def test_recolor_job_stores_cutout_and_product_mask(tmp_path: Path) -> None:
    src = tmp_path / "coffee.png"
    Image.fromarray(coffee()).save(src)
    ctx = _ctx(tmp_path, src, {"to_colors": ["#1F3A5F", "#7FA38A"]})
    _run_recolor(RecolorPipeline(models_dir=models_dir()), RecolorParams, ctx)
    assert {"image", "image.0", "image.1", "mask", "product_mask", "cutout", "cutout.0", "cutout.1"} <= set(ctx.outputs)
    cut = Image.open(ctx.outputs["cutout.1"])
    pm = np.asarray(Image.open(ctx.outputs["product_mask"]))
    assert cut.mode == "RGBA" and cut.size == (600, 400) and pm.shape == (400, 600)
    assert np.array_equal(np.asarray(cut)[..., 3], pm)  # the cut-out's alpha is the product mask
    img1 = np.asarray(Image.open(ctx.outputs["image.1"]).convert("RGB"))
    opaque = pm == 255
    assert np.array_equal(np.asarray(cut)[..., :3][opaque], img1[opaque])  # second colourway's pixels
    assert 0.38 < (pm > 127).mean() < 0.58
    meta = ctx.result["mask"]
    assert meta["sources"] == ["u2netp"] and "studio backdrop" in meta["reasons"][0] and meta["warnings"] == [[]]
    assert "main colour" in meta["region"][0]
    assert len(ctx.result["reports"]) == 2
