"""Rasterising one static layer into a sprite: text, shapes (flat or gradient, rounded or
elliptical), colour swatches, and images/logos/products fitted into their box, masked and
shadowed. Boxes are canvas pixels (x, y, w, h)."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from pipelines.video.colors import parse_color
from pipelines.video.compositor.context import RenderContext, font_file, load_media, media_path
from pipelines.video.compositor.product import contact_shadow, drop_shadow, product_cutout
from pipelines.video.compositor.sprite import Sprite
from pipelines.video.template import TextLayer
from pipelines.video.text import render_text


def fit_image(img: Image.Image, w: int, h: int, fit: str) -> tuple[np.ndarray, int, int]:
    """Resize an image into a w x h box: RGBA array and its offset inside the box."""
    iw, ih = img.size
    if fit == "cover":
        s = max(w / iw, h / ih)
        nw, nh = max(w, int(math.ceil(iw * s))), max(h, int(math.ceil(ih * s)))
        im = img.convert("RGBA").resize((nw, nh), Image.Resampling.LANCZOS)
        left, top = (nw - w) // 2, (nh - h) // 2
        return np.asarray(im.crop((left, top, left + w, top + h))), 0, 0
    s = min(w / iw, h / ih)
    nw, nh = max(1, int(round(iw * s))), max(1, int(round(ih * s)))
    im = img.convert("RGBA").resize((nw, nh), Image.Resampling.LANCZOS)
    return np.asarray(im), (w - nw) // 2, (h - nh) // 2


def _shape_cover(w: int, h: int, ellipse: bool, radius: float, resample: Image.Resampling) -> Image.Image:
    """Coverage ("L") of an ellipse or a rounded rectangle (``radius`` canvas px) filling w x h:
    drawn at 4x and downsampled with ``resample``, so curved edges are anti-aliased."""
    ss = 4
    big = Image.new("L", (w * ss, h * ss), 0)
    d = ImageDraw.Draw(big)
    if ellipse:
        d.ellipse((0, 0, w * ss - 1, h * ss - 1), fill=255)
    else:
        d.rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=radius * ss, fill=255)
    return big.resize((w, h), resample)


def apply_mask(rgba: np.ndarray, mask: Any, k: float) -> np.ndarray:
    """Clip an RGBA image to a rounded rectangle or inscribed ellipse (anti-aliased, 4x supersampled)."""
    h, w = rgba.shape[:2]
    cover = _shape_cover(w, h, mask.shape == "circle", mask.radius * k, Image.Resampling.LANCZOS)
    mm = np.asarray(cover, dtype=np.uint16)
    out = np.array(rgba, copy=True)
    out[:, :, 3] = (out[:, :, 3].astype(np.uint16) * mm + 127) // 255
    return out


def _swatches(ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int]) -> Sprite:
    """A centred row of colour dots; the ``selected`` colour gets a ring."""
    x, y, w, h = rect
    k = ctx.k
    colors = [c.strip() for item in layer.colors for c in item.split(",") if c.strip()]
    n = len(colors)
    gap = layer.gap * k
    d = max(4.0, min(layer.size * k, (w - gap * (n - 1)) / n, h * 0.8))
    ss = 4
    img = Image.new("RGBA", (w * ss, h * ss), (0, 0, 0, 0))
    dr = ImageDraw.Draw(img)

    def dot(corner: float) -> Any:
        """Draws one dot: a circle, or a square with corners ``corner`` x its diameter."""
        return dr.ellipse if layer.shape == "circle" else partial(dr.rounded_rectangle, radius=d * corner * ss)

    total = n * d + (n - 1) * gap
    x0, cy = (w - total) / 2, h / 2
    sel = parse_color(layer.selected)[:3] if layer.selected else None
    ring = max(2.0, d * 0.09)
    for i, c in enumerate(colors):
        rgba = parse_color(c)
        bx = x0 + i * (d + gap)
        box = [v * ss for v in (bx, cy - d / 2, bx + d, cy + d / 2)]
        if sel is not None and rgba[:3] == sel:
            inset = ring * 1.6 * ss
            dot(0.25)(box, outline=parse_color(layer.ring_color), width=int(ring * ss))
            dot(0.18)([box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset], fill=rgba)
        else:
            dot(0.25)(box, fill=rgba, outline=(255, 255, 255, 90), width=max(1, int(ss * d * 0.03)))
    small = img.resize((w, h), Image.Resampling.LANCZOS)
    return Sprite.from_rgba(np.asarray(small), x, y)


def make_sprite(ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int]) -> Sprite:
    x, y, w, h = rect
    k = ctx.k
    if isinstance(layer, TextLayer):
        ts = render_text(layer, w, h, scale=k, font_file=font_file(ctx, layer))
        return Sprite.from_rgba(ts.rgba, x + ts.dx, y + ts.dy)
    if layer.type == "swatches":
        return _swatches(ctx, layer, rect)
    if layer.type == "shape":
        color = parse_color(layer.color)
        ellipse = layer.shape == "ellipse"
        if layer.gradient is not None:
            from pipelines.video.text import gradient_image

            img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
            shape = _shape_cover(w, h, ellipse, layer.radius * k, Image.Resampling.BOX)
            img.paste(gradient_image(layer.gradient, w, h), (0, 0), shape)
            return Sprite.from_rgba(np.asarray(img), x, y)
        if ellipse or layer.radius > 0:
            cover = np.asarray(_shape_cover(w, h, ellipse, layer.radius * k, Image.Resampling.BOX), dtype=np.uint16)
            px = np.empty((h, w, 4), np.uint8)
            px[:, :, :3] = color[:3]
            px[:, :, 3] = (cover * color[3] + 127) // 255
            return Sprite.from_rgba(px, x, y)
        img = Image.new("RGBA", (w, h), color)
        return Sprite.from_rgba(np.asarray(img), x, y)
    path = media_path(ctx, layer)
    assert path is not None
    if layer.type == "product":
        img = product_cutout(ctx, layer, path)
    else:
        img = load_media(ctx, path, f"layer {layer.id or layer.type}")
    rgba, ox, oy = fit_image(img, w, h, layer.fit)
    if getattr(layer, "mask", None) is not None:
        rgba = apply_mask(rgba, layer.mask, k)
    if layer.type == "product" and layer.shadow and rgba[:, :, 3].min() < 255:
        if layer.shadow == "contact":
            rgba, pad = contact_shadow(rgba, k)
        else:
            rgba, pad = drop_shadow(rgba, k)
        ox, oy = ox - pad, oy - pad
    return Sprite.from_rgba(rgba, x + ox, y + oy)
