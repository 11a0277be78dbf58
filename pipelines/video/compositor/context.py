"""The render context (template, canvas, fps, media roots, cache) and media resolution:
which file a layer draws, its mask and font, decoded images shared through the cache, and the
content key of a layer's sprite."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image

from pipelines._common.errors import PipelineInputError
from pipelines._common.images import load_image
from pipelines.video.compositor.cache import RenderCache, digest, file_id
from pipelines.video.layout import px_scale
from pipelines.video.specs import canvas_size
from pipelines.video.template import Template, TextLayer, resolve_asset, resolve_font


@dataclass
class RenderContext:
    """Everything layer construction needs besides the layer itself."""

    template: Template
    fmt: str
    scale: float
    fps: int
    product_image: Path | None
    assets_root: Path | None
    cache: RenderCache
    product_mask: Path | None = None  # mask of product_image when it has no alpha (white = product)

    @property
    def size(self) -> tuple[int, int]:
        return canvas_size(self.fmt, self.scale)

    @property
    def k(self) -> float:
        return px_scale(self.fmt, self.scale)


def media_path(ctx: RenderContext, layer: Any) -> Path | None:
    if layer.type == "product" and ctx.product_image is not None:
        return ctx.product_image
    src = getattr(layer, "src", None)
    if not src:
        return None
    path = resolve_asset(src, ctx.template, ctx.assets_root)
    if path is None:
        raise PipelineInputError(f"media file not found: {src}", field="template")
    return path


def font_file(ctx: RenderContext, layer: Any) -> str | None:
    """Path (str) of a text layer's brand font, None for the bundled family."""
    path = resolve_font(getattr(layer, "font", None), ctx.template, ctx.assets_root)
    return str(path) if path is not None else None


def mask_path(ctx: RenderContext, layer: Any, media: Path | None) -> Path | None:
    """Mask file for a product image without alpha: the render's, else ``<stem>.mask.png`` beside it."""
    if media is None:
        return None
    if ctx.product_image is not None and media == ctx.product_image and ctx.product_mask is not None:
        return ctx.product_mask
    side = media.with_name(media.stem + ".mask.png")
    return side if side.is_file() and side != media else None


def layer_key(ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int]) -> str:
    media = media_path(ctx, layer) if layer.type in ("image", "logo", "product", "video") else None
    extra = file_id(mask_path(ctx, layer, media)) if layer.type == "product" and media is not None else None
    font = font_file(ctx, layer) if isinstance(layer, TextLayer) else None
    return digest(
        "layer",
        layer.model_dump(mode="json"),
        ctx.fmt,
        ctx.scale,
        rect,
        file_id(media),
        extra,
        font and file_id(Path(font)),
    )


def load_media(ctx: RenderContext, path: Path, field: str) -> Image.Image:
    """Decoded image, shared by every layer using the same file (PIL ops used here never mutate it)."""
    return ctx.cache.get_or_make(
        digest("img", file_id(path)),
        partial(load_image, path, keep_alpha=True, field=field),
        lambda im: im.width * im.height * len(im.getbands()),
    )
