"""Both recolor engines take the product mask the same way, and neither imports the other."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import get_type_hints

import numpy as np
import pytest
from PIL import Image

import pipelines.recolor.pipeline_recolor_diffusion as diffusion_module
from maydo_testing.synthetic import render_product
from pipelines._common.errors import PipelineInputError
from pipelines.recolor import config
from pipelines.recolor.config import DiffusionRecolorParams, RecolorParams
from pipelines.recolor.pipeline_recolor import RecolorPipeline

MASK_FIELDS = ("mask", "onnx_model", "onnx_preprocess")


def test_params_declare_the_mask_identically():
    exact = get_type_hints(RecolorParams, vars(config))
    diffusion = get_type_hints(DiffusionRecolorParams, vars(config))
    for name in MASK_FIELDS:
        assert exact[name] == diffusion[name], name
    defaults = {f.name: f.default for f in dataclasses.fields(RecolorParams)}
    assert all(f.default == defaults[f.name] for f in dataclasses.fields(DiffusionRecolorParams) if f.name in MASK_FIELDS)


def test_diffusion_engine_imports_no_sibling_pipeline():
    tree = ast.parse(Path(diffusion_module.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "pipelines.recolor.pipeline_recolor" not in imported
    assert "pipelines.recolor.colour_shift" in imported


def test_same_mask_input_same_result_and_errors(pipe, tmp_path: Path):  # type: ignore[no-untyped-def]
    prod = render_product("sphere", 64, color=(200, 40, 40), seed=3)
    mask_file = tmp_path / "mask.png"
    Image.fromarray((prod.coverage * 255).astype(np.uint8), "L").save(mask_file)
    exact = RecolorPipeline()(prod.rgb, RecolorParams(to_colors=["navy"], mask=str(mask_file)))
    diff = pipe(prod.rgb, DiffusionRecolorParams(to_colors=["navy"], steps=2, resolution=64, mask=str(mask_file)))
    assert exact.mask_sources == diff.mask_sources == ["given"]
    assert exact.mask_reasons == diff.mask_reasons
    np.testing.assert_array_equal(exact.product_masks[0], diff.product_masks[0])  # one mask chain
    errors = []
    for run in (lambda m: RecolorPipeline()(prod.rgb, RecolorParams(to_colors=["navy"], mask=m)),
                lambda m: pipe(prod.rgb, DiffusionRecolorParams(to_colors=["navy"], steps=2, resolution=64, mask=m))):
        with pytest.raises(PipelineInputError) as info:
            run([prod.coverage, prod.coverage])
        errors.append((str(info.value), info.value.field))
    assert errors[0] == errors[1] == ("got 2 masks for 1 images; give one per image", "mask")


def test_diffusion_job_uses_the_jobs_mask_input(pipe, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A job's ``inputs.mask`` reaches the diffusion engine as it reaches the exact one."""
    from workers.actors.base import JobContext
    from workers.actors.recolor import _run_recolor

    prod = render_product("sphere", 64, color=(200, 40, 40), seed=3)
    image, mask = tmp_path / "p.png", tmp_path / "m.png"
    Image.fromarray(prod.rgb).save(image)
    Image.fromarray((prod.coverage * 255).astype(np.uint8), "L").save(mask)
    work = tmp_path / "work"
    work.mkdir()
    ctx = JobContext(job_id="j1", fence=1, kind="recolor", attempt=1,
                     params={"to_colors": ["navy"], "steps": 2, "resolution": 64},
                     inputs={"image": image, "mask": mask}, deps={}, workdir=work, progress=lambda *a, **k: None)
    _run_recolor(pipe, DiffusionRecolorParams, ctx)
    assert ctx.result["mask"]["sources"] == ["given"]
    assert {"image", "mask", "product_mask", "cutout"} <= set(ctx.outputs)
