"""Recolor actors: exact (colour science, CPU) and diffusion (GPU, local model dir)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipelines._common.errors import PipelineInputError
from workers.actors.base import JobContext, PipelineActor
from workers.jsonable import jsonable


def make_params(cls: Any, params: dict[str, Any], *, skip: tuple[str, ...] = (), field: str = "params") -> Any:
    """Build a pipeline ``*Params`` dataclass, turning unknown keys into a PipelineInputError."""
    allowed = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in params.items() if k not in skip}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise PipelineInputError(
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
            field=f"{field}.{unknown[0]}",
        )
    if "to_colors" in kwargs and isinstance(kwargs["to_colors"], list):
        kwargs["to_colors"] = tuple(kwargs["to_colors"])
    return cls(**kwargs)


def _run_recolor(pipe: Any, params_cls: Any, ctx: JobContext) -> None:
    from pipelines._common.images import load_image

    if "image" not in ctx.inputs:
        raise PipelineInputError("recolor needs inputs.image (an asset id)", field="inputs.image")
    from workers.resolver import check_job_params

    check_job_params("recolor", ctx.params)  # a worker never takes a path from a request
    ctx.limits.job("recolor", ctx.params, ctx.inputs)
    ctx.progress("load", 0.05)
    image = load_image(ctx.inputs["image"], max_pixels=ctx.limits.max_image_pixels, field="inputs.image")
    params = make_params(params_cls, ctx.params, skip=("engine",))
    if "mask" in ctx.inputs and "mask" in {f.name for f in dataclasses.fields(params_cls)}:
        params = dataclasses.replace(params, mask=ctx.inputs["mask"])
    ctx.progress("recolor", 0.2)
    out = pipe(image, params)
    ctx.progress("save", 0.9)
    for i, img in enumerate(out.images):
        path = ctx.workdir / f"recolor-{i}.png"
        img.save(path, format="PNG")
        ctx.outputs[f"image.{i}"] = path
        if i == 0:
            ctx.outputs["image"] = path
    masks = out.masks
    if masks:
        from PIL import Image

        mask = masks[0]
        mask_img = mask if isinstance(mask, Image.Image) else Image.fromarray(_mask_u8(mask))
        path = ctx.workdir / "mask.png"
        mask_img.save(path, format="PNG")
        ctx.outputs["mask"] = path  # the recolor weights actually applied (0 = pixel untouched)
    product_masks = out.product_masks
    if product_masks:
        from PIL import Image

        path = ctx.workdir / "product-mask.png"
        Image.fromarray(_mask_u8(product_masks[0])).save(path, format="PNG")
        ctx.outputs["product_mask"] = path  # the product's soft mask (alpha of the cut-outs)
        ctx.progress("cutout", 0.95)
        for i in range(len(out.images)):
            path = ctx.workdir / f"cutout-{i}.png"
            out.cutout(i).save(path, format="PNG")  # RGBA, straight alpha, decontaminated edge
            ctx.outputs[f"cutout.{i}"] = path
            if i == 0:
                ctx.outputs["cutout"] = path
    ctx.result["reports"] = jsonable(out.reports)
    ctx.result["targets"] = jsonable(out.targets)
    ctx.result["mask"] = {
        "sources": list(out.mask_sources),
        "reasons": list(out.mask_reasons),
        "warnings": [list(w) for w in out.mask_warnings],
        "region": list(out.region_notes),
    }


def _mask_u8(mask: Any) -> Any:
    import numpy as np

    arr = np.asarray(mask)
    if arr.dtype == bool or arr.max(initial=0) <= 1:
        arr = np.round(arr.astype(np.float32) * 255)  # rounded like the cut-out's alpha
    return arr.clip(0, 255).astype(np.uint8)


class RecolorActor(PipelineActor):
    family = "recolor"

    def load(self) -> None:
        from pipelines.recolor.config import RecolorParams
        from pipelines.recolor.pipeline_recolor import RecolorPipeline

        options = dict(self.options)
        if not options.get("models_dir"):
            # Pool option first; else the settings this worker process sees (env + config).
            from workers.settings import load_settings

            options["models_dir"] = str(load_settings().models_path)
        self.pipe = RecolorPipeline(**options)
        self.params_cls = RecolorParams

    def execute(self, ctx: JobContext) -> None:
        _run_recolor(self.pipe, self.params_cls, ctx)


class DiffusionRecolorActor(PipelineActor):
    family = "recolor_diffusion"

    def load(self) -> None:
        model_dir = self.options.get("model_dir")
        if not model_dir:
            raise RuntimeError(
                "no diffusion model directory: set pools.recolor_diffusion.model_dir "
                "(env MAYDO_POOLS__RECOLOR_DIFFUSION__MODEL_DIR) to a local diffusers model"
            )
        from pipelines.recolor.config import DiffusionRecolorConfig, DiffusionRecolorParams
        from pipelines.recolor.pipeline_recolor_diffusion import DiffusionRecolorPipeline

        # Pool options are DiffusionRecolorConfig fields (device, dtype, memory options, scheduler);
        # from_config resolves device/dtype so a GPU pool really runs fp16 on CUDA.
        extra = {k: v for k, v in self.options.items() if k != "model_dir"}
        if not extra.get("models_dir"):  # U²-Net-p for the mask chain, as the exact pool
            from workers.settings import load_settings

            extra["models_dir"] = str(load_settings().models_path)
        self.pipe = DiffusionRecolorPipeline.from_config(DiffusionRecolorConfig(model_dir=str(model_dir), **extra))
        self.params_cls = DiffusionRecolorParams

    def execute(self, ctx: JobContext) -> None:
        _run_recolor(self.pipe, self.params_cls, ctx)
