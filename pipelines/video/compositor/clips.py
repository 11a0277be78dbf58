"""Per-frame layer content: Ken Burns zoom/pan over a still, and video clips decoded in step
with the frames. Each returns ``content(i) -> Sprite`` for local frame ``i`` (0-based, frames
asked for in increasing order) plus, for Ken Burns on the full canvas, ``into(i, frame)`` that
resizes straight into an (H, W, 3) uint8 frame buffer; video also returns its reader's closer."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import cv2
import numpy as np

from pipelines.video.compositor.cache import digest, file_id
from pipelines.video.compositor.context import RenderContext, load_media, media_path
from pipelines.video.compositor.raster import apply_mask, fit_image
from pipelines.video.compositor.sprite import Sprite
from pipelines.video.effects import KenBurns


def ken_burns_content(
    ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int], dur: float
) -> tuple[Callable[[int], Sprite], Callable[[int, np.ndarray], None] | None]:
    """Per-frame zoom/pan: one resize of a window of a pre-scaled source into the box per frame."""
    x, y, w, h = rect
    kb = layer.ken_burns
    path = media_path(ctx, layer)
    assert path is not None
    zmax = max(kb.zoom_from, kb.zoom_to)
    img = load_media(ctx, path, "image")
    big, _, _ = fit_image(img, int(math.ceil(w * zmax)), int(math.ceil(h * zmax)), "cover")
    big = np.ascontiguousarray(big if big[:, :, 3].min() < 255 else big[:, :, :3])
    BH, BW = big.shape[:2]
    n = max(1, int(round(dur * ctx.fps)))
    path_ = KenBurns(kb.zoom_from, kb.zoom_to, kb.pan_x, kb.pan_y, (w, h), (BW, BH), n)

    # An integer-origin crop + separable resize costs ~1/3 of a warpAffine; the window's origin
    # is rounded to the source pixel (<= 0.5 px, invisible at Ken Burns speeds).
    def frame(i: int) -> Sprite:
        x0, y0, vw, vh = path_.window(i)
        out = cv2.resize(big[y0 : y0 + vh, x0 : x0 + vw], (w, h), interpolation=cv2.INTER_LINEAR)
        return Sprite(out, x, y, crop=False)

    def into(i: int, dst: np.ndarray) -> None:
        # Full-canvas opaque zoom: resize straight into the frame buffer (no copy, no blend).
        x0, y0, vw, vh = path_.window(i)
        cv2.resize(big[y0 : y0 + vh, x0 : x0 + vw], (w, h), dst=dst, interpolation=cv2.INTER_LINEAR)

    W, H = ctx.size
    full = (x, y, w, h) == (0, 0, W, H) and big.shape[2] == 3
    return frame, (into if full else None)


def video_content(
    ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int]
) -> tuple[Callable[[int], Sprite], Callable[[], None]]:
    from pipelines.video.ffmpeg import ClipReader

    x, y, w, h = rect
    path = media_path(ctx, layer)
    assert path is not None
    fit = layer.fit
    if fit == "contain":
        # Letterbox with transparency, like image layers: decode at the fitted size and place
        # it centred in the box, so whatever is below shows through where bars would be.
        from pipelines.video.ffmpeg import probe

        meta = ctx.cache.get_or_make(
            digest("probe", file_id(path)), partial(probe, path, loudness=False), lambda m: 1024
        )
        sw, sh = int(meta.get("width") or w), int(meta.get("height") or h)
        s_ = min(w / sw, h / sh)
        nw, nh = max(2, int(round(sw * s_ / 2)) * 2), max(2, int(round(sh * s_ / 2)) * 2)
        x, y, w, h = x + (w - nw) // 2, y + (h - nh) // 2, min(w, nw), min(h, nh)
        fit = "cover"  # same aspect ratio now: scale (and a crop of at most a pixel)
    reader = ClipReader(path, w, h, ctx.fps, start=layer.trim_start, end=layer.trim_end, loop=layer.loop, fit=fit)
    mask = layer.mask
    last: dict[int, Sprite] = {}
    pos = [-1]

    def frame(i: int) -> Sprite:
        # Frames are asked for in increasing order; skipped ones (cached segments) are read past.
        if i not in last:
            rgb = None
            while pos[0] < i:
                rgb = reader.next()
                pos[0] += 1
            if rgb is None:
                rgb = reader.next()
            last.clear()
            if mask is not None:
                rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
                last[i] = Sprite(apply_mask(rgba, mask, ctx.k), x, y, crop=False)
            else:
                last[i] = Sprite(rgb, x, y)
        return last[i]

    return frame, reader.close
