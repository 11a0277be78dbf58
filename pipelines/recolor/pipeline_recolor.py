"""Exact-colour product recolor on CPU (maydo's default engine and colour authority).

Steps per call: check_inputs (parse targets, load images, one mask per image) -> product mask
(``masks.product_mask``; hard masks get an outward feather) -> main-colour region, one colour model
shared by every view of the SKU -> recolor per target (``colour_shift.py``: the formulas and their
sources) -> quality report (``pipeline_output.py``).

Several images of one SKU share one colour model (same region picked in every view) and each
view's region is mapped to the same target, so the output colour is consistent across views.
Config and params: ``config.py`` (:class:`RecolorConfig`, :class:`RecolorParams`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines._common.colors import NamedColor, parse_color
from pipelines._common.errors import PipelineInputError
from pipelines._common.images import DEFAULT_MAX_PIXELS, ImageSource, animation_warning, load_image
from pipelines.recolor import EXACT_VERSION
from pipelines.recolor.colour_shift import (
    apply_target_color,
    color_weights,
    drop_enclosed_islands,
    feather_mask,
    fit_color_model,
    region_note,
    source_stats,
)
from pipelines.recolor.config import MaskSpec, RecolorConfig, RecolorParams
from pipelines.recolor.masks import MaskResult, masks_per_image, product_mask
from pipelines.recolor.pipeline_output import (
    QualityReport,
    RecolorEntry,
    RecolorOutput,
    build_output,
    quality_report,
    result_image,
)

PIPELINE_VERSION = EXACT_VERSION


@dataclass
class _Prepared:
    image: Image.Image
    rgb: np.ndarray
    mask: MaskResult
    alpha: np.ndarray  # feathered (or soft) weights' mask
    ring: np.ndarray
    mask_ms: float


class RecolorPipeline:
    """Exact-colour recolor: ``RecolorPipeline()(image_or_images, RecolorParams(to_colors=...))``.

    Load once (nothing heavy to load: U²-Net-p is opened lazily on first use and cached), call many
    times. Thread-compatible: a call keeps no state on the instance.
    """

    version = PIPELINE_VERSION

    def __init__(self, *, max_pixels: int | None = None, models_dir: str | Path | None = None) -> None:
        """``max_pixels``: the largest image accepted (default ``DEFAULT_MAX_PIXELS``); ``models_dir``:
        where ``maydo models install`` put U²-Net-p (default ``masks.default_models_dir()``)."""
        self.max_pixels = max_pixels
        self.models_dir = models_dir

    @classmethod
    def from_config(cls, config: RecolorConfig) -> RecolorPipeline:
        """Set up per a :class:`RecolorConfig` (the same fields as ``__init__``)."""
        return cls(max_pixels=config.max_pixels, models_dir=config.models_dir)

    def check_inputs(
        self, images: ImageSource | Sequence[ImageSource], params: RecolorParams
    ) -> tuple[list[Image.Image], list[NamedColor], NamedColor | None, list[MaskSpec | None]]:
        """Parse the colours, load the images and pair each image with its mask spec.

        ``images``: one source or a list (path, bytes, PIL image or uint8 HxWx3/HxWx4 array).
        Returns (PIL images, targets, from colour or None, one mask spec or None per image).
        Raises ``PipelineInputError`` naming the field: unknown colour (``to_colors``/``from_color``),
        no or unreadable/oversized image (``image``/``image[i]``), mask count mismatch (``mask``),
        ``feather_px`` outside 0..50.
        """
        targets = [parse_color(s, palettes=params.palettes) for s in params.target_specs()]
        from_c = parse_color(params.from_color, palettes=params.palettes) if params.from_color else None
        srcs: list[ImageSource] = list(images) if isinstance(images, (list, tuple)) else [images]  # type: ignore[list-item]
        if not srcs:
            raise PipelineInputError("no images given", field="image")
        limit = self.max_pixels or DEFAULT_MAX_PIXELS
        imgs = [load_image(s, max_pixels=limit, field=f"image[{i}]" if len(srcs) > 1 else "image")
                for i, s in enumerate(srcs)]
        masks = masks_per_image(params.mask, len(imgs))
        if not 0.0 <= params.feather_px <= 50.0:
            raise PipelineInputError(f"feather_px must be in 0..50, got {params.feather_px}", field="feather_px")
        return imgs, targets, from_c, masks

    def prepare(self, image: Image.Image, mask: MaskSpec | None, params: RecolorParams) -> _Prepared:
        """Resolve one image's product mask (``masks.product_mask``) and feather it when hard."""
        t0 = time.perf_counter()
        mres = product_mask(image, mask=mask, onnx_model=params.onnx_model, onnx_preprocess=params.onnx_preprocess,
                            models_dir=self.models_dir)
        if mres.is_hard:
            alpha, ring = feather_mask(mres.alpha, params.feather_px)
        else:
            alpha, ring = mres.alpha, np.zeros(mres.alpha.shape, bool)
        rgb = np.ascontiguousarray(np.asarray(image)[..., :3])
        return _Prepared(image, rgb, mres, alpha, ring, (time.perf_counter() - t0) * 1000.0)

    def __call__(self, images: ImageSource | Sequence[ImageSource], params: RecolorParams) -> RecolorOutput:
        """Recolor every image into every colour of ``params.to_colors``.

        ``images``: one product photo or several views of one SKU (sRGB, 8-bit; RGBA keeps its
        alpha). Returns a :class:`RecolorOutput`, image-major: ``images[k]`` PIL RGB/RGBA like the
        input, ``masks[k]`` float32 HxW weights in [0, 1] (0 = pixel bit-identical), ``reports[k]``
        ΔE00 (CIEDE2000, CIELAB D65) to the target at matched L*, L* SSIM, 8-bit change outside the
        mask; timings in ms. Formulas and their sources: ``colour_shift.py``. Raises
        ``PipelineInputError`` for bad input (see :meth:`check_inputs`), a mask covering ~0 %/~100 %,
        a missing U²-Net-p (naming ``maydo models install``) or a ``from_color`` not on the product.
        """
        imgs, targets, from_c, mask_specs = self.check_inputs(images, params)
        preps = [self.prepare(img, m, params) for img, m in zip(imgs, mask_specs, strict=True)]
        t0 = time.perf_counter()
        model = fit_color_model([p.rgb for p in preps], [p.alpha for p in preps], from_c,
                                clusters=params.clusters, sample_size=params.sample_size, seed=params.seed)
        model_ms = (time.perf_counter() - t0) * 1000.0
        entries: list[RecolorEntry] = []
        for p in preps:
            t1 = time.perf_counter()
            weights, _ = drop_enclosed_islands(color_weights(p.rgb, p.alpha, model), p.mask.alpha)
            src_mean = source_stats(p.rgb, weights)
            weights_ms = (time.perf_counter() - t1) * 1000.0
            alpha_u8 = np.asarray(p.image.getchannel("A")) if p.image.mode == "RGBA" else None
            for tgt in targets:
                t2 = time.perf_counter()
                res = apply_target_color(p.rgb, weights, tgt, source_lab_mean=src_mean)
                recolor_ms = (time.perf_counter() - t2) * 1000.0
                if params.compute_report:
                    rep = quality_report(p.rgb, res, p.mask.alpha, weights, tgt, edge_ring=p.ring)
                else:
                    rep = QualityReport(float("nan"), float("nan"), float("nan"), 0, p.mask.coverage, 0.0,
                                        target_hex=tgt.hex)
                timings = {"mask": round(p.mask_ms, 2), "model": round(model_ms, 2),
                           "weights": round(weights_ms, 2), "recolor": round(recolor_ms, 2)}
                entries.append(RecolorEntry(result_image(res, alpha_u8), weights, rep, tgt, timings))
        return build_output(
            entries,
            [p.mask for p in preps],
            len(targets),
            mask_warnings=[tuple(w for w in (animation_warning(p.image),) if w) + p.mask.warnings for p in preps],
            region_notes=[region_note(model)] * len(preps),
        )
