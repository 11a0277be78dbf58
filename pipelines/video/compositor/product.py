"""The product layer's cutout and shadows: alpha from the photo, a mask file or the
studio-backdrop auto mask (floor shadow removed), optional recolor, and the drop or contact
shadow drawn beneath it. Images are RGBA uint8; ``k`` is canvas px per template px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter

from pipelines._common.errors import PipelineInputError
from pipelines.video.compositor.cache import digest, file_id
from pipelines.video.compositor.context import RenderContext, load_media, mask_path


def product_cutout(ctx: RenderContext, layer: Any, path: Path) -> Image.Image:
    """The product as an RGBA cutout (cached): alpha channel, else mask file, else the
    studio-backdrop auto mask (pipelines.recolor.masks); recolored to ``layer.color`` and trimmed
    to the product's bounding box when asked. An image whose mask cannot be found stays opaque."""
    mask = mask_path(ctx, layer, path) if layer.cutout == "auto" else None
    key = digest("cutout", file_id(path), file_id(mask), layer.cutout, layer.color, layer.trim)

    def make() -> Image.Image:
        img = load_media(ctx, path, f"layer {layer.id or layer.type}")
        rgba = img.convert("RGBA")
        has_alpha = img.mode == "RGBA" and np.asarray(img.getchannel("A")).min() < 255
        if layer.cutout == "auto" and not has_alpha:
            alpha = cutout_alpha(img.convert("RGB"), mask)
            if alpha is not None:
                a = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
                # Pull the edge in by a pixel (its pixels mix in the backdrop: a grey fringe),
                # then soften it so the cutout has no jaggies when scaled.
                a = np.asarray(cv2.erode(a, np.ones((3, 3), np.uint8)), np.uint8)
                a = np.asarray(cv2.GaussianBlur(a, (0, 0), 0.6), np.uint8)
                rgba.putalpha(Image.fromarray(a, "L"))
                has_alpha = True
        if layer.color is not None and has_alpha:
            from pipelines.recolor.config import RecolorParams
            from pipelines.recolor.pipeline_recolor import RecolorPipeline

            out = RecolorPipeline()(rgba, RecolorParams(to_colors=[layer.color], compute_report=False))
            rec = out.images[0].convert("RGBA")
            rec.putalpha(rgba.getchannel("A"))
            rgba = rec
        if layer.trim and has_alpha and layer.cutout != "none":
            bbox = rgba.getchannel("A").point(lambda v: 255 if v > 8 else 0).getbbox()
            if bbox is not None:
                rgba = rgba.crop(bbox)
        return rgba

    return ctx.cache.get_or_make(key, make, lambda im: im.width * im.height * 4)


def cutout_alpha(rgb: Image.Image, mask: Path | None) -> np.ndarray | None:
    """Product alpha (float32 HxW, 0-1) of an opaque photo, None when no product is found.

    A mask file next to a catalogue photo is a *recolor* mask: it leaves logos and prints out.
    The studio-backdrop auto mask keeps them (it fills holes that differ from the backdrop), so
    the cutout is the union of both when they agree on where the product is (IoU >= 0.5)."""
    from pipelines.recolor.masks import auto_mask, check_coverage, product_mask

    given: np.ndarray | None = None
    if mask is not None:
        given = product_mask(rgb, mask=mask).alpha  # a bad mask file is the caller's error
    try:
        auto = _without_floor_shadow(np.asarray(rgb), auto_mask(np.asarray(rgb)))
        check_coverage(auto, "auto mask")
    except PipelineInputError:
        auto = None  # no product found against the backdrop
    if given is None:
        return auto
    if auto is None:
        return given
    a, g = auto > 0.5, given > 0.5
    iou = float((a & g).sum()) / max(1.0, float((a | g).sum()))
    if iou < 0.5:
        return given
    # Only the given mask's enclosed holes (a logo, a print) are taken from the auto mask, so the
    # photo's own floor shadow (which the auto mask may include) stays out of the cutout.
    outside = (~g).astype(np.uint8)
    n, labels = cv2.connectedComponents(outside, connectivity=4)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    holes = (outside > 0) & ~np.isin(labels, list(border))
    return np.maximum(given, np.where(holes, auto, 0.0)).astype(np.float32)


def _without_floor_shadow(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Drop a studio photo's floor shadow from an auto mask: pixels with the backdrop's chroma
    but darker, lying below the product's lowest non-shadow pixel in their column. Keeps the
    mask unchanged when that would remove most of it (a grey product on a grey backdrop)."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    bg = np.median(border, axis=0)
    chroma_d = np.hypot(lab[:, :, 1] - bg[1], lab[:, :, 2] - bg[2])
    shadowish = (mask > 0.5) & (chroma_d < 6.0) & (lab[:, :, 0] < bg[0] - 2.0)
    strong = (mask > 0.5) & ~shadowish
    if strong.sum() < 0.5 * (mask > 0.5).sum():
        return mask
    h = mask.shape[0]
    rows = np.arange(h)[:, None]
    last_strong = np.where(strong.any(axis=0), h - 1 - np.argmax(strong[::-1], axis=0), -1)
    drop = shadowish & (rows > last_strong[None, :])
    out = mask.copy()
    out[drop] = 0.0
    # Remove specks the cut leaves behind (keep components >= 1 % of the largest).
    n, labels, stats, _ = cv2.connectedComponentsWithStats((out > 0.5).astype(np.uint8), connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.isin(labels, np.nonzero(areas >= 0.01 * areas.max())[0] + 1)
        out = np.where(keep, out, 0.0).astype(np.float32)
    return out


def contact_shadow(rgba: np.ndarray, k: float) -> tuple[np.ndarray, int]:
    """A soft elliptical shadow where the product stands (its lowest rows), beneath it."""
    h, w = rgba.shape[:2]
    a = rgba[:, :, 3]
    cols = np.flatnonzero(a[max(0, int(h * 0.85)) :].max(axis=0) > 8)
    x0, x1 = (int(cols[0]), int(cols[-1])) if cols.size else (0, w - 1)
    span = max(8, x1 - x0)
    ew, eh = int(span * 0.55) + 4, max(4, int(span * 0.06))
    sigma = max(2.0, eh * 0.8)
    # Room for the whole blur (3 sigma) below and beside the ellipse: no cut-off edge.
    pad = int(eh + 3 * sigma) + 2
    shadow = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    cx, cy = pad + (x0 + x1) // 2, pad + h - max(2, eh // 3)
    cv2.ellipse(shadow, (cx, cy), (ew, eh), 0, 0, 360, 120, -1, cv2.LINE_AA)
    shadow = cv2.GaussianBlur(shadow, (0, 0), sigma)
    base = np.zeros((h + 2 * pad, w + 2 * pad, 4), np.uint8)
    base[:, :, 3] = shadow
    out = Image.fromarray(base, "RGBA")
    out.alpha_composite(Image.fromarray(np.ascontiguousarray(rgba), "RGBA"), (pad, pad))
    return np.asarray(out), pad


def drop_shadow(rgba: np.ndarray, k: float) -> tuple[np.ndarray, int]:
    """Soft shadow from an alpha channel, offset downwards, beneath the image; returns (rgba, pad)."""
    h, w = rgba.shape[:2]
    pad = int(40 * k) + 2
    base = Image.new("RGBA", (w + 2 * pad, h + 2 * pad), (0, 0, 0, 0))
    alpha = Image.fromarray(rgba[:, :, 3]).point(lambda v: int(v * 0.45))
    sh = Image.new("RGBA", (w, h), (0, 0, 0, 255))
    sh.putalpha(alpha)
    base.paste(sh, (pad, pad + int(18 * k)))
    base = base.filter(ImageFilter.GaussianBlur(max(1.0, 16 * k)))
    base.alpha_composite(Image.fromarray(np.ascontiguousarray(rgba), "RGBA"), (pad, pad))
    return np.asarray(base), pad
