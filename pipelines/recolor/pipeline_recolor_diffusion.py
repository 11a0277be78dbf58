"""Diffusion recolor: regenerate a product's texture (or its scene) with a local Stable Diffusion
inpainting model, then lock the colour back onto the exact target with the exact engine's colour
science and composite so everything outside the edited region stays pixel-identical.

Steps: check_inputs -> preprocess (mask, region weights, working size, prompts, Canny edges)
-> model (batched inpaint / ControlNet-inpaint, one ``torch.Generator`` per item) -> postprocess
(resize back, composite, hue-lock, quality report). torch and diffusers are imported lazily.

The mask chain and the colour science are the exact engine's: ``masks.product_mask`` (same
``mask``/``onnx_model``/``onnx_preprocess`` params) and ``colour_shift.py`` (main-colour region,
hue lock). Config and params: ``config.py`` (:class:`DiffusionRecolorConfig`,
:class:`DiffusionRecolorParams`). Model: Stable Diffusion inpainting (Rombach et al. 2022, "High-
Resolution Image Synthesis with Latent Diffusion Models") through diffusers; ControlNet (Zhang et
al. 2023) on Canny edges (Canny 1986, OpenCV).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipelines._common.colors import NamedColor, parse_color
from pipelines._common.errors import PipelineInputError
from pipelines._common.images import ImageSource, load_image
from pipelines.recolor import DIFFUSION_VERSION
from pipelines.recolor.colour_shift import apply_target_color, main_color_weights
from pipelines.recolor.config import DiffusionRecolorConfig, DiffusionRecolorParams, MaskSpec
from pipelines.recolor.diffusion_image import (
    build_prompt,
    canny_edges,
    color_words,
    composite,
    flatten_chroma,
    inpaint_mask,
    resize_mask,
    resize_rgb,
    working_size,
)
from pipelines.recolor.diffusion_loading import (
    check_controlnet_dir,
    check_model_dir,
    make_scheduler,
    resolve_device,
    resolve_dtype,
    set_offline,
    weights_variant,
)
from pipelines.recolor.masks import MaskResult, masks_per_image, product_mask
from pipelines.recolor.pipeline_output import RecolorEntry, RecolorOutput, build_output, quality_report, result_image

PIPELINE_VERSION = DIFFUSION_VERSION


@dataclass
class _Item:
    """One (image, colourway) unit of work."""

    image_index: int
    color_index: int
    prompt: str
    size: tuple[int, int]  # working (w, h)
    seed: int


@dataclass
class _Prepared:
    """Per-image data computed once and shared by all its colourways."""

    rgb: np.ndarray  # uint8 HxWx3 original
    mask: MaskResult  # the product mask and where it came from
    alpha: np.ndarray  # float32 HxW product mask
    weights: np.ndarray  # float32 HxW region the model may change (texture: main colour; scene: background)
    size: tuple[int, int]
    work_rgb: np.ndarray
    work_mask: np.ndarray
    control: np.ndarray | None
    alpha_u8: np.ndarray | None = None
    preprocess_ms: float = 0.0
    model_ms: dict[int, float] = field(default_factory=dict)  # colour index -> share of its batch time


class DiffusionRecolorPipeline:
    """Stable-Diffusion-family inpainting (optionally with a ControlNet) wrapped as a maydo recolor engine.

    Load once with :meth:`from_pretrained` (or :meth:`from_config`), move with :meth:`to`, call
    many times: ``pipe(images, DiffusionRecolorParams(to_colors=[...]))`` -> ``RecolorOutput``.
    """

    def __init__(
        self,
        sd_pipe: Any,
        *,
        model_dir: Path,
        controlnet_dir: Path | None = None,
        max_batch_size: int = 4,
        models_dir: str | Path | None = None,
    ) -> None:
        """Wrap a loaded diffusers inpainting pipeline; use :meth:`from_pretrained` to load one.

        ``models_dir``: where ``maydo models install`` put U²-Net-p for the mask chain (default
        ``masks.default_models_dir()``), as ``RecolorPipeline``.
        """
        self.sd_pipe = sd_pipe
        self.models_dir = models_dir
        self.model_dir = model_dir
        self.controlnet_dir = controlnet_dir
        self.max_batch_size = max_batch_size
        self.offloaded = False
        sd_pipe.set_progress_bar_config(disable=True)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | os.PathLike[str],
        *,
        torch_dtype: Any = None,
        controlnet_dir: str | os.PathLike[str] | None = None,
        scheduler: str | None = None,
        max_batch_size: int = 4,
        models_dir: str | Path | None = None,
    ) -> DiffusionRecolorPipeline:
        """Load an inpainting model (and optional ControlNet) from local directories, no network.

        ``torch_dtype``: a ``torch.dtype`` or ``'fp16'|'bf16'|'fp32'|'auto'`` (auto = fp32 here;
        :meth:`from_config` picks fp16 for CUDA). ``scheduler``: a name from ``SCHEDULERS`` or
        None for the model's own. ``max_batch_size``: images x colourways per UNet call.
        ``models_dir``: U²-Net-p for the mask chain. The model stays on CPU (move with :meth:`to`).
        Raises ``ModelDirError`` (a ``PipelineInputError``) naming the missing files or folders,
        ``PipelineInputError`` for an unknown dtype or scheduler name.
        """
        set_offline()
        root = check_model_dir(model_dir)
        cn_root = check_controlnet_dir(controlnet_dir) if controlnet_dir is not None else None
        dtype = resolve_dtype(torch_dtype, None)

        from diffusers import StableDiffusionInpaintPipeline

        kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
        variant = weights_variant(root / "unet")
        if variant:
            kwargs["variant"] = variant
        if (root / "safety_checker").is_dir():
            # Product photos are not the safety checker's domain, but the operator ships it: keep it.
            pass
        else:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        pipe = StableDiffusionInpaintPipeline.from_pretrained(str(root), **kwargs)
        if cn_root is not None:
            from diffusers import ControlNetModel, StableDiffusionControlNetInpaintPipeline

            cn_kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
            cn_variant = weights_variant(cn_root)
            if cn_variant:
                cn_kwargs["variant"] = cn_variant
            controlnet = ControlNetModel.from_pretrained(str(cn_root), **cn_kwargs)
            components = dict(pipe.components)
            components.pop("image_encoder", None)
            pipe = StableDiffusionControlNetInpaintPipeline(**components, controlnet=controlnet)
        new_sched = make_scheduler(scheduler, pipe.scheduler.config)
        if new_sched is not None:
            pipe.scheduler = new_sched
        return cls(pipe, model_dir=root, controlnet_dir=cn_root, max_batch_size=max_batch_size, models_dir=models_dir)

    @classmethod
    def from_config(cls, config: DiffusionRecolorConfig) -> DiffusionRecolorPipeline:
        """Load per a :class:`DiffusionRecolorConfig`: device + dtype resolved, memory options applied."""
        device = resolve_device(config.device)
        dtype = resolve_dtype(config.dtype, device)
        pipe = cls.from_pretrained(
            config.model_dir,
            torch_dtype=dtype,
            controlnet_dir=config.controlnet_dir,
            scheduler=config.scheduler,
            max_batch_size=config.max_batch_size,
            models_dir=config.models_dir,
        )
        pipe.enable_memory_options(
            attention_slicing=config.attention_slicing, vae_tiling=config.vae_tiling, cpu_offload=config.cpu_offload,
            device=device,
        )
        if not pipe.offloaded:
            pipe.to(device)
        return pipe

    def to(self, device: str | Any, dtype: Any = None) -> DiffusionRecolorPipeline:
        """Move the model to ``device`` (``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'auto'``), optionally casting."""
        import torch

        dev = resolve_device(str(device))
        target_dtype = resolve_dtype(dtype, dev) if dtype is not None else self.dtype
        if target_dtype == torch.float16 and not dev.startswith("cuda"):
            raise PipelineInputError(
                f"model is loaded as fp16, which needs a CUDA device; load with torch_dtype='fp32' for {dev}",
                field="dtype",
            )
        if dtype is not None:
            self.sd_pipe.to(dev, target_dtype)
        else:
            self.sd_pipe.to(dev)
        return self

    def enable_memory_options(
        self,
        *,
        attention_slicing: bool = False,
        vae_tiling: bool = False,
        cpu_offload: bool = False,
        device: str = "cuda",
    ) -> DiffusionRecolorPipeline:
        """Trade speed for memory: sliced attention, tiled VAE, model CPU offload (CUDA only)."""
        if attention_slicing:
            self.sd_pipe.enable_attention_slicing()
        if vae_tiling:
            self.sd_pipe.vae.enable_tiling()
        if cpu_offload and device.startswith("cuda"):
            self.sd_pipe.enable_model_cpu_offload(device=device)
            self.offloaded = True
        return self

    @property
    def device(self) -> str:
        """Device the model executes on."""
        return str(getattr(self.sd_pipe, "_execution_device", self.sd_pipe.device))

    @property
    def dtype(self) -> Any:
        """The UNet's torch dtype."""
        return self.sd_pipe.unet.dtype

    @property
    def has_controlnet(self) -> bool:
        """True when a ControlNet (Canny edges) guides generation."""
        return self.controlnet_dir is not None

    @property
    def size_multiple(self) -> int:
        """Working sizes must be multiples of this (VAE factor x UNet downsampling)."""
        vae_factor = 2 ** (len(self.sd_pipe.vae.config.block_out_channels) - 1)
        unet_factor = 2 ** (len(self.sd_pipe.unet.config.block_out_channels) - 1)
        return max(8, vae_factor * unet_factor)

    # ------------------------------------------------------------------ call
    def __call__(self, images: ImageSource | Sequence[ImageSource], params: DiffusionRecolorParams) -> RecolorOutput:
        """Recolor every image into every colourway of ``params.to_colors``.

        ``images``: one product photo or several (path, bytes, PIL image, or uint8 HxWx3/HxWx4
        array; sRGB). The product mask comes from ``params.mask`` or the mask chain, as in the
        exact engine. Returns a ``RecolorOutput`` (image-major; ``images[k]`` PIL RGB, RGBA when
        the input had alpha in texture mode; ``masks[k]`` float32 HxW weights in [0, 1] of the
        regenerated region; ``reports[k]`` ΔE00 (CIEDE2000, CIELAB D65) to the target at matched
        L*, L* SSIM, 8-bit change outside the edited region; timings in ms). Raises
        ``PipelineInputError`` for bad input (see :meth:`check_inputs`), an empty region to
        regenerate, or an image the model's safety checker blanked.
        """
        image_list, targets, from_color, mask_list = self.check_inputs(images, params)
        prepared = [self.preprocess(img, params, from_color, m) for img, m in zip(image_list, mask_list, strict=True)]
        items = self._items(prepared, targets, params)
        generated = self.run_model(items, prepared, params)
        return self.postprocess(prepared, items, generated, targets, params)

    def check_inputs(
        self,
        images: ImageSource | Sequence[ImageSource],
        params: DiffusionRecolorParams,
    ) -> tuple[list[ImageSource], list[NamedColor], NamedColor | None, list[MaskSpec | None]]:
        """Normalise inputs to lists, parse colours and pair each image with its mask spec.

        Returns (image sources, targets, from colour or None, one mask spec or None per image).
        Raises ``PipelineInputError`` naming the field: params of the wrong type (``params``),
        no images (``images``), an unknown colour (``params.to_colors``/``params.from_color``),
        a mask count mismatch (``mask``).
        """
        if not isinstance(params, DiffusionRecolorParams):
            raise PipelineInputError(
                f"params must be DiffusionRecolorParams, got {type(params).__name__}", field="params"
            )
        if isinstance(images, str | bytes | Path | Image.Image | np.ndarray):
            image_list: list[ImageSource] = [images]  # type: ignore[list-item]
        else:
            image_list = list(images)
        if not image_list:
            raise PipelineInputError("images is empty; give at least one product image", field="images")

        def _color(spec: Any, name: str) -> NamedColor:
            if isinstance(spec, NamedColor):
                return spec
            if not isinstance(spec, str):
                raise PipelineInputError(f"{name}: expected a colour string, got {type(spec).__name__}", field=name)
            return parse_color(spec)

        targets = [_color(c, "params.to_colors") for c in params.to_colors]
        from_color = _color(params.from_color, "params.from_color") if params.from_color is not None else None
        return image_list, targets, from_color, masks_per_image(params.mask, len(image_list))

    def preprocess(
        self, image: ImageSource, params: DiffusionRecolorParams, from_color: NamedColor | None, mask: MaskSpec | None
    ) -> _Prepared:
        """Load the image, find the product mask and the editable region, and size it for the model."""
        t0 = time.perf_counter()
        pil = load_image(image, keep_alpha=True)
        arr = np.asarray(pil)
        rgb = np.ascontiguousarray(arr[..., :3])
        mres = product_mask(pil, mask=mask, onnx_model=params.onnx_model, onnx_preprocess=params.onnx_preprocess,
                            models_dir=self.models_dir)
        alpha = np.clip(np.asarray(mres.alpha, dtype=np.float32), 0.0, 1.0)
        if params.mode == "scene":
            weights = (1.0 - alpha).astype(np.float32)
        else:
            weights = np.asarray(main_color_weights(rgb, alpha, from_color), dtype=np.float32)
        if not np.any(weights > 0.02):
            what = "background" if params.mode == "scene" else "product main-colour region"
            raise PipelineInputError(f"image: the {what} is empty; nothing to regenerate", field="image")
        h, w = rgb.shape[:2]
        size = working_size(w, h, params.resolution, self.size_multiple)
        work_rgb = resize_rgb(rgb, size)
        work_mask = inpaint_mask(resize_mask(weights, size), params.mask_dilate)
        control = canny_edges(work_rgb) if self.has_controlnet else None
        return _Prepared(
            rgb,
            mres,
            alpha,
            weights,
            size,
            work_rgb,
            work_mask,
            control,
            alpha_u8=np.ascontiguousarray(arr[..., 3]) if pil.mode == "RGBA" else None,
            preprocess_ms=(time.perf_counter() - t0) * 1000.0,
        )

    def _items(self, prepared: list[_Prepared], targets: list[Any], params: DiffusionRecolorParams) -> list[_Item]:
        items = []
        for i, prep in enumerate(prepared):
            for j, target in enumerate(targets):
                prompt = build_prompt(
                    color_words(target.name, target.lab),
                    mode=params.mode,
                    material=params.material,
                    taste_keywords=params.taste_keywords,
                    prompt_extra=params.prompt_extra,
                    scene_prompt=params.scene_prompt,
                )
                # Same seed for every colourway of an image: colourways differ by colour, not layout.
                items.append(_Item(i, j, prompt, prep.size, (params.seed + i) % 2**63))
        return items

    def run_model(
        self, items: list[_Item], prepared: list[_Prepared], params: DiffusionRecolorParams
    ) -> list[np.ndarray]:
        """Run the inpainting model in batches of at most ``max_batch_size`` same-size items."""
        import torch

        out: list[np.ndarray | None] = [None] * len(items)
        by_size: dict[tuple[int, int], list[int]] = {}
        for k, item in enumerate(items):
            by_size.setdefault(item.size, []).append(k)
        for size, idxs in by_size.items():
            for start in range(0, len(idxs), self.max_batch_size):
                chunk = idxs[start : start + self.max_batch_size]
                batch = [items[k] for k in chunk]
                preps = [prepared[it.image_index] for it in batch]
                kwargs: dict[str, Any] = {
                    "prompt": [it.prompt for it in batch],
                    "negative_prompt": [params.negative_prompt or ""] * len(batch),
                    "image": np.stack([p.work_rgb.astype(np.float32) / 255.0 for p in preps]),
                    "mask_image": np.stack([p.work_mask[:, :, None] for p in preps]),
                    "width": size[0],
                    "height": size[1],
                    "strength": float(params.strength),
                    "num_inference_steps": int(params.steps),
                    "guidance_scale": float(params.guidance),
                    # CPU generators: the same seed gives the same noise on any device.
                    "generator": [torch.Generator("cpu").manual_seed(it.seed) for it in batch],
                    "output_type": "np",
                }
                if self.has_controlnet:
                    kwargs["control_image"] = np.stack([p.control.astype(np.float32) / 255.0 for p in preps])  # type: ignore[union-attr]
                    kwargs["controlnet_conditioning_scale"] = float(params.controlnet_scale)
                t0 = time.perf_counter()
                with torch.inference_mode():
                    result = self.sd_pipe(**kwargs)
                share = (time.perf_counter() - t0) * 1000.0 / len(batch)
                for it in batch:
                    prepared[it.image_index].model_ms[it.color_index] = share
                images = np.asarray(result.images, dtype=np.float32)
                nsfw = getattr(result, "nsfw_content_detected", None)
                if nsfw and any(nsfw):
                    raise PipelineInputError(
                        "the model's safety checker blanked a generated image; change the prompt or seed",
                        field="params",
                    )
                for k, img in zip(chunk, images, strict=True):
                    out[k] = np.clip(np.rint(np.nan_to_num(img) * 255.0), 0, 255).astype(np.uint8)
        return [o for o in out if o is not None]

    def postprocess(
        self,
        prepared: list[_Prepared],
        items: list[_Item],
        generated: list[np.ndarray],
        targets: list[NamedColor],
        params: DiffusionRecolorParams,
    ) -> RecolorOutput:
        """Resize back, composite outside-region pixels from the input, hue-lock and report."""
        entries: list[RecolorEntry] = []
        # items are image-major (image i, colour j) already, as RecolorOutput expects
        for item, gen in zip(items, generated, strict=True):
            t0 = time.perf_counter()
            prep = prepared[item.image_index]
            target = targets[item.color_index]
            h, w = prep.rgb.shape[:2]
            full = resize_rgb(gen, (w, h))
            result = composite(prep.rgb, full, prep.weights)
            if params.hue_lock and params.mode == "texture":
                flat = flatten_chroma(result, prep.weights, params.hue_lock_chroma_keep)
                locked = np.asarray(apply_target_color(flat, prep.weights, target), dtype=np.uint8)
                result = composite(prep.rgb, locked[..., :3], prep.weights)
            if params.mode == "scene":
                # the edited area is the background: "outside" (must be untouched) is the product
                report = quality_report(prep.rgb, result, prep.weights, prep.weights, target)
            else:
                report = quality_report(prep.rgb, result, prep.alpha, prep.weights, target)
            keep_alpha = prep.alpha_u8 if params.mode == "texture" else None  # a new scene is opaque
            timings = {
                "preprocess": round(prep.preprocess_ms, 3),
                "model": round(prep.model_ms.get(item.color_index, 0.0), 3),
                "postprocess": round((time.perf_counter() - t0) * 1000.0, 3),
            }
            entries.append(RecolorEntry(result_image(result, keep_alpha), prep.weights, report, target, timings))
        return build_output(entries, [p.mask for p in prepared], len(targets))
