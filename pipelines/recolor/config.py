"""Load-time config and per-call params of every recolor engine (plain dataclasses).

One rule for every pipeline package (as ``pipelines/voice/config.py``): ``config.py`` holds each
engine's load-time ``*Config`` (what to load, where: model dirs, device, dtype, limits) and its
per-call ``*Params`` (target colours, mask, seed...). Here: :class:`RecolorConfig` /
:class:`RecolorParams` for the exact engine (``pipeline_recolor.py``) and
:class:`DiffusionRecolorConfig` / :class:`DiffusionRecolorParams` for the diffusion engine
(``pipeline_recolor_diffusion.py``). Both engines take the product mask the same way: a
``mask`` param (one mask, or a list with one per image) resolved by ``masks.product_mask``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipelines._common.errors import PipelineInputError, unknown_choice

# A product mask: HxW array (bool, 0..1 float or 0..255 integer), a PIL image (L, or RGBA/LA alpha)
# or a local file; white/1 = product. ``MaskInput``: one mask, or one per image (None = find it).
MaskSpec = np.ndarray | Image.Image | str | Path
MaskInput = MaskSpec | Sequence[MaskSpec | None] | None


# ----------------------------------------------------------------------------- exact engine


@dataclass(frozen=True)
class RecolorConfig:
    """How to set up the exact engine (once per worker).

    ``max_pixels``: the largest input image accepted (default ``images.DEFAULT_MAX_PIXELS``);
    ``models_dir``: where ``maydo models install`` put U²-Net-p (default
    ``masks.default_models_dir()``).
    """

    max_pixels: int | None = None
    models_dir: str | Path | None = None


@dataclass(frozen=True)
class RecolorParams:
    """Per-call parameters of the exact recolor engine.

    ``to_colors``: one or more target specs (see ``colors.parse_color``); ``from_color``: the
    source colour to replace on a multi-colour product (default: the dominant colour); ``mask``:
    a product mask (or one per image); ``onnx_model``: local segmentation model and
    ``onnx_preprocess`` its preprocessing (overrides its JSON sidecar, see ``masks.OnnxPreprocess``); ``feather_px``:
    outward feather of hard mask edges (0 = none); ``palettes``: brand palettes overriding
    ``configs/palettes``; ``clusters``/``sample_size``/``seed``: colour-model controls (k-means
    clusters, pixels sampled for the model, its random seed); ``compute_report``: False skips the
    ΔE00/SSIM quality report (NaNs in its place). Units: ``feather_px`` pixels (0..50).
    """

    to_colors: Sequence[str] | str
    from_color: str | None = None
    mask: MaskInput = None
    onnx_model: str | Path | None = None
    onnx_preprocess: Mapping[str, Any] | None = None
    feather_px: float = 1.5
    palettes: Mapping[str, Mapping[str, str]] | None = None
    clusters: int = 6
    sample_size: int = 12_000
    seed: int = 0
    compute_report: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def target_specs(self) -> list[str]:
        """The target colour specs as a list; raises ``PipelineInputError`` when there are none."""
        specs = [self.to_colors] if isinstance(self.to_colors, str) else list(self.to_colors)
        if not specs:
            raise PipelineInputError("to_colors is empty; give at least one target colour", field="to_colors")
        return specs


# ----------------------------------------------------------------------------- diffusion engine

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp16", "bf16", "fp32")
MODES = ("texture", "scene")

# Scheduler name -> diffusers class name; built with `Cls.from_config(pipe.scheduler.config)` so the
# model's trained beta schedule is kept.
SCHEDULERS: dict[str, str] = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
    "lms": "LMSDiscreteScheduler",
}

DEFAULT_NEGATIVE_PROMPT = (
    "blurry, low quality, distorted, deformed, extra objects, text, watermark, logo change, "
    "oversaturated, noisy, jpeg artifacts"
)

MIN_RESOLUTION = 64
MAX_RESOLUTION = 2048


def check_scheduler_name(name: str | None, *, field_name: str = "scheduler") -> str | None:
    """Return the normalised scheduler name (or None for the model's own), else raise."""
    if name is None or name == "" or name == "default":
        return None
    key = name.strip().lower().replace("-", "_").replace("+", "p")
    aliases = {"dpm": "dpmpp_2m", "dpmpp": "dpmpp_2m", "euler_ancestral": "euler_a", "dpmpp2m": "dpmpp_2m"}
    key = aliases.get(key, key)
    if key not in SCHEDULERS:
        raise unknown_choice("scheduler", name, [*SCHEDULERS, "default"], field=field_name)
    return key


@dataclass(frozen=True)
class DiffusionRecolorConfig:
    """How to load the diffusion engine (once per worker): model dir, device, dtype, memory options.

    ``dtype='auto'`` means fp16 on CUDA and fp32 on CPU. ``cpu_offload`` (model CPU offload via
    accelerate) only applies on CUDA. ``max_batch_size`` bounds images x colourways per UNet call.
    ``models_dir``: where ``maydo models install`` put U²-Net-p, as :class:`RecolorConfig`.
    """

    model_dir: str
    controlnet_dir: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    max_batch_size: int = 4
    scheduler: str | None = None
    models_dir: str | None = None  # U²-Net-p for the mask chain (default: masks.default_models_dir)

    def __post_init__(self) -> None:
        if not str(self.model_dir).strip():
            raise PipelineInputError("model_dir is empty; give the local diffusers model directory", field="model_dir")
        if self.device not in DEVICES:
            raise unknown_choice("device", self.device, DEVICES, field="device")
        if self.dtype not in DTYPES:
            raise unknown_choice("dtype", self.dtype, DTYPES, field="dtype")
        if not isinstance(self.max_batch_size, int) or not 1 <= self.max_batch_size <= 64:
            raise PipelineInputError(
                f"max_batch_size must be an integer 1..64, got {self.max_batch_size!r}", field="max_batch_size"
            )
        check_scheduler_name(self.scheduler)


@dataclass(frozen=True)
class DiffusionRecolorParams:
    """Per-call parameters: target colourways, what to regenerate and how hard.

    ``mode='texture'`` regenerates the product's main-colour region (new material / finish /
    pattern) and ``mode='scene'`` regenerates the background around the product, leaving the
    product's pixels untouched. ``hue_lock`` (texture mode) moves the generated region onto the
    exact target colour with the exact engine's colour science, keeping the diffusion texture
    (its L* detail; ``hue_lock_chroma_keep`` keeps that share of its colour variation too).
    Each colourway of an image uses the same seed, so colourways differ by colour, not layout.
    ``mask``/``onnx_model``/``onnx_preprocess``: the product mask, exactly as in
    :class:`RecolorParams` (same names, types and mask chain, ``masks.product_mask``).
    Units: ``strength`` (0, 1] share of the diffusion schedule; ``guidance`` classifier-free
    guidance scale; ``resolution`` pixels of the working image's long side; ``mask_dilate`` pixels.
    Raises ``PipelineInputError`` naming the field for a value out of range.
    """

    to_colors: Sequence[Any]
    from_color: Any | None = None
    mask: MaskInput = None
    onnx_model: str | Path | None = None
    onnx_preprocess: Mapping[str, Any] | None = None
    mode: str = "texture"
    material: str | None = None
    taste_keywords: Sequence[str] = ()
    prompt_extra: str | None = None
    negative_prompt: str | None = DEFAULT_NEGATIVE_PROMPT
    strength: float = 0.85
    steps: int = 30
    guidance: float = 7.5
    seed: int = 0
    hue_lock: bool = True
    hue_lock_chroma_keep: float = 0.0
    resolution: int = 512
    controlnet_scale: float = 0.8
    mask_dilate: int = 3
    scene_prompt: str | None = None

    def __post_init__(self) -> None:
        to_colors = self.to_colors
        if isinstance(to_colors, str) or not isinstance(to_colors, Sequence):
            to_colors = (to_colors,)
        object.__setattr__(self, "to_colors", tuple(to_colors))
        if not self.to_colors:
            raise PipelineInputError("to_colors is empty; give at least one target colour", field="params.to_colors")
        if isinstance(self.taste_keywords, str):
            object.__setattr__(self, "taste_keywords", (self.taste_keywords,))
        else:
            object.__setattr__(self, "taste_keywords", tuple(str(k) for k in self.taste_keywords))
        if self.mode not in MODES:
            raise unknown_choice("mode", str(self.mode), MODES, field="params.mode")
        _check_range("strength", self.strength, 0.0, 1.0, low_open=True)
        _check_range("guidance", self.guidance, 0.0, 30.0)
        _check_range("controlnet_scale", self.controlnet_scale, 0.0, 3.0)
        _check_range("hue_lock_chroma_keep", self.hue_lock_chroma_keep, 0.0, 1.0)
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= 200:
            raise PipelineInputError(f"steps must be an integer 1..200, got {self.steps!r}", field="params.steps")
        if int(self.steps * self.strength) < 1:
            raise PipelineInputError(
                f"steps x strength must be >= 1 denoising step, got {self.steps} x {self.strength}; "
                "raise steps or strength",
                field="params.strength",
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise PipelineInputError(f"seed must be an integer 0..2^63-1, got {self.seed!r}", field="params.seed")
        if (
            isinstance(self.resolution, bool)
            or not isinstance(self.resolution, int)
            or not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION
        ):
            raise PipelineInputError(
                f"resolution must be an integer {MIN_RESOLUTION}..{MAX_RESOLUTION}, got {self.resolution!r}",
                field="params.resolution",
            )
        if not isinstance(self.mask_dilate, int) or not 0 <= self.mask_dilate <= 64:
            raise PipelineInputError(
                f"mask_dilate must be an integer 0..64 pixels, got {self.mask_dilate!r}", field="params.mask_dilate"
            )
        for name in ("material", "prompt_extra", "scene_prompt"):
            value = getattr(self, name)
            if value is not None and len(str(value)) > 300:
                raise PipelineInputError(f"{name} is too long ({len(str(value))} chars; max 300)", field=f"params.{name}")


def _check_range(name: str, value: Any, lo: float, hi: float, *, low_open: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        ok = (lo < value <= hi) if low_open else (lo <= value <= hi)
    if not ok:
        bound = f"({lo}, {hi}]" if low_open else f"[{lo}, {hi}]"
        raise PipelineInputError(f"{name} must be a number in {bound}, got {value!r}", field=f"params.{name}")


__all__ = [
    "DEFAULT_NEGATIVE_PROMPT",
    "DEVICES",
    "DTYPES",
    "MODES",
    "SCHEDULERS",
    "DiffusionRecolorConfig",
    "DiffusionRecolorParams",
    "MaskInput",
    "MaskSpec",
    "RecolorConfig",
    "RecolorParams",
    "check_scheduler_name",
]
