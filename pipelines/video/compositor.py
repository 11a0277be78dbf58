"""The frame compositor: flatten static layers once, composite only what moves, dedupe frames.

Per scene, every layer below the first animated one is flattened into an RGB background
(cached by content hash, so customers sharing a scene reuse it). Layers above are pre-rendered
sprites blended per frame within their own rectangles. Each frame gets a *state key* (every
layer's opacity/offset/scale/content frame, the caption and transition state); when it equals
the previous frame's key the previous yuv420p buffer is sent again, so a held shot costs only a
pipe write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter

from pipelines._common.errors import PipelineInputError
from pipelines._common.images import load_image
from pipelines.video.captions import Cue, caption_state
from pipelines.video.colors import parse_color
from pipelines.video.effects import TRANSITIONS, Enter, Exit, fold, keyframes_effect, motion_effect
from pipelines.video.layout import layer_rect, px_scale, region_rect
from pipelines.video.specs import canvas_size
from pipelines.video.template import Scene, Template, TextLayer, resolve_asset, resolve_font
from pipelines.video.text import render_text

# ---------------------------------------------------------------- sprites


class Sprite:
    """Pixels at a canvas position. RGB arrays are opaque; RGBA ones are cropped to their alpha's
    bounding box and get premultiplied float planes lazily, only when a blend needs them."""

    __slots__ = ("px", "x", "y", "opaque", "_rgb_p", "_alpha", "_p8", "_inv8")

    def __init__(self, px: np.ndarray, x: int, y: int, *, crop: bool = True) -> None:
        px = np.ascontiguousarray(px, dtype=np.uint8)
        opaque = px.shape[2] == 3
        if not opaque:
            a = px[:, :, 3]
            if crop:
                rows, cols = np.flatnonzero(a.max(axis=1)), np.flatnonzero(a.max(axis=0))
                if rows.size == 0:
                    px, rows, cols = px[:1, :1] * 0, np.array([0]), np.array([0])
                else:
                    px = px[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
                x, y = x + int(cols[0]), y + int(rows[0])
                a = px[:, :, 3]
            opaque = bool(a.min() == 255)
        self.px, self.x, self.y, self.opaque = px, x, y, opaque
        self._rgb_p: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._p8: np.ndarray | None = None
        self._inv8: np.ndarray | None = None

    def blend_planes(self) -> tuple[np.ndarray, np.ndarray]:
        """(premultiplied RGB, 255 - alpha per channel) as uint8, for cv2's SIMD arithmetic."""
        if self._p8 is None or self._inv8 is None:
            # round(c * a / 255) == (c * a + 127) // 255 for all uint8 pairs (c * a / 255 is never
            # exactly k + 0.5), computed by cv2 in ~half the time of the uint16 numpy version.
            a = np.ascontiguousarray(self.px[:, :, 3])
            a3 = cv2.merge([a, a, a])
            self._p8 = cv2.multiply(cv2.cvtColor(self.px, cv2.COLOR_RGBA2RGB), a3, scale=1.0 / 255.0)
            self._inv8 = cv2.bitwise_not(a3)
        return self._p8, self._inv8

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, x: int, y: int) -> Sprite:
        return cls(rgba, x, y)

    @property
    def alpha(self) -> np.ndarray:
        if self._alpha is None:
            if self.px.shape[2] == 4:
                self._alpha = self.px[:, :, 3:4].astype(np.float32) / 255.0
            else:
                self._alpha = np.ones((*self.px.shape[:2], 1), np.float32)
        return self._alpha

    @property
    def rgb_p(self) -> np.ndarray:
        if self._rgb_p is None:
            self._rgb_p = self.px[:, :, :3].astype(np.float32) * self.alpha
        return self._rgb_p

    @property
    def rgba(self) -> np.ndarray:
        if self.px.shape[2] == 4:
            return self.px
        return np.dstack([self.px, np.full(self.px.shape[:2], 255, np.uint8)])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.px.shape[0]), int(self.px.shape[1])

    @property
    def nbytes(self) -> int:
        n = self.px.nbytes
        # Blend planes (2 x RGB uint8) appear once the sprite is blended; count them up front.
        return n if self.opaque else n + self.px.shape[0] * self.px.shape[1] * 6


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def blend(frame: np.ndarray, sp: Sprite, dx: int = 0, dy: int = 0, opacity: float = 1.0) -> Rect | None:
    """Alpha-composite ``sp`` onto ``frame`` (uint8 RGB) in place, clipped to the frame.

    Returns the rectangle of ``frame`` that may have changed (None when nothing was drawn)."""
    H, W = frame.shape[:2]
    h, w = sp.shape
    x0, y0 = sp.x + dx, sp.y + dy
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0 or opacity <= 0.0:
        return None
    sx0, sy0 = cx0 - x0, cy0 - y0
    sx1, sy1 = sx0 + (cx1 - cx0), sy0 + (cy1 - cy0)
    dst = frame[cy0:cy1, cx0:cx1]
    if sp.opaque:
        src_u8 = sp.px[sy0:sy1, sx0:sx1, :3]
        if opacity >= 1.0:
            dst[...] = src_u8
        else:
            cv2.addWeighted(src_u8, opacity, dst, 1.0 - opacity, 0.0, dst=dst)
        return cx0, cy0, cx1, cy1
    p8, inv8 = sp.blend_planes()
    src = p8[sy0:sy1, sx0:sx1]
    inv = inv8[sy0:sy1, sx0:sx1]
    if opacity < 1.0:
        src = cv2.convertScaleAbs(src, alpha=opacity)
        inv = cv2.convertScaleAbs(inv, alpha=opacity, beta=255.0 * (1.0 - opacity))
    # out = src_premultiplied + dst * (1 - alpha), all in uint8 with rounding.
    cv2.add(cv2.multiply(dst, inv, scale=1.0 / 255.0), src, dst=dst)
    return cx0, cy0, cx1, cy1


def union_rect(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def to_i420(rgb: np.ndarray) -> np.ndarray:
    """Full-frame RGB -> yuv420p (BT.601 limited range, OpenCV), the encoder's input format."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def i420_update(base: np.ndarray, rgb: np.ndarray, rect: Rect | None) -> np.ndarray:
    """yuv420p of ``rgb`` given ``base`` = yuv420p of a frame that equals ``rgb`` outside ``rect``.

    Only the rectangle (widened to even coordinates, since chroma is per 2x2 block) is
    converted; OpenCV's I420 conversion is local to each 2x2 block, so the result is identical
    to ``to_i420(rgb)``. Returns a new buffer (``base`` is not modified).
    """
    out = base.copy()
    if rect is None:
        return out
    H, W = rgb.shape[:2]
    x0, y0 = rect[0] & ~1, rect[1] & ~1
    x1, y1 = min(W, (rect[2] + 1) & ~1), min(H, (rect[3] + 1) & ~1)
    if x1 <= x0 or y1 <= y0:
        return out
    h, w = y1 - y0, x1 - x0
    sub = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2YUV_I420)
    q = h * w // 4
    chroma = sub[h:].reshape(-1)
    Y = out[:H]
    U = out[H:].reshape(-1)[: H * W // 4].reshape(H // 2, W // 2)
    V = out[H:].reshape(-1)[H * W // 4 :].reshape(H // 2, W // 2)
    Y[y0:y1, x0:x1] = sub[:h]
    U[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = chroma[:q].reshape(h // 2, w // 2)
    V[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = chroma[q:].reshape(h // 2, w // 2)
    return out


def scaled(sp: Sprite, s: float) -> Sprite:
    """A copy of ``sp`` scaled by ``s`` about its centre (for 'pop')."""
    h, w = sp.shape
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    px = cv2.resize(sp.px, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return Sprite(px, sp.x + (w - nw) // 2, sp.y + (h - nh) // 2, crop=False)


# ---------------------------------------------------------------- cache


class RenderCache:
    """LRU of scene backgrounds and layer sprites, bounded in bytes, keyed by content hash."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.RLock()  # the next scene is planned in a worker thread

    def get_or_make(self, key: str, make: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        with self._lock:
            return self._get_or_make(key, make, size)

    def _get_or_make(self, key: str, make: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key][0]
        self.misses += 1
        value = make()
        n = size(value)
        self._items[key] = (value, n)
        self._bytes += n
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, (_, old) = self._items.popitem(last=False)
            self._bytes -= old
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _digest(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_id(path: Path | None) -> str | None:
    """Cheap identity of a media file for cache keys (path, size, mtime)."""
    if path is None:
        return None
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


# ---------------------------------------------------------------- media -> sprites


def _fit_image(img: Image.Image, w: int, h: int, fit: str) -> tuple[np.ndarray, int, int]:
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


def _drop_shadow(rgba: np.ndarray, k: float) -> tuple[np.ndarray, int]:
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


def layer_effects(layer: Any, start: float, end: float, duration: float, canvas: tuple[int, int], k: float) -> list[Any]:
    """The effect objects of a layer, in fold order: keyframes, motion, entrance, exit.

    ``start``/``end`` are scene seconds (``end`` >= 1e9: until the scene ends); effects see local
    time (seconds since the layer appeared)."""
    effs: list[Any] = []
    life = (min(end, duration) if end < 1e9 else duration) - start
    if layer.keyframes:
        effs.append(keyframes_effect(layer.keyframes, k))
    if layer.motion is not None:
        m = layer.motion
        effs.append(motion_effect(m.type, m.amount, m.distance, m.angle, m.period, max(0.1, life), k))
    if layer.enter is not None:
        an = layer.enter
        effs.append(Enter(an.type, an.duration, an.delay, canvas, an.ease))
    if layer.exit is not None and end < 1e9:
        an = layer.exit
        effs.append(Exit(an.type, an.duration, an.delay, end - start, canvas, an.ease))
    return effs


@dataclass
class LayerRT:
    """A layer ready to draw on one canvas: sprite or per-frame content, and its timing."""

    layer: Any
    sprite: Sprite | None
    start: float
    end: float
    canvas: tuple[int, int]
    content: Callable[[int], Sprite] | None = None  # per-frame (Ken Burns, video)
    into: Callable[[int, np.ndarray], None] | None = None  # draws a full opaque frame in place
    closers: list[Callable[[], None]] = field(default_factory=list)
    effects: list[Any] = field(default_factory=list)  # pipelines.video.effects layer effects
    _scaled: dict[float, Sprite] = field(default_factory=dict, repr=False)

    @property
    def static(self) -> bool:
        return self.content is None and not self.effects and self.start <= 0.0 and self.end >= 1e9

    def state(self, t: float, frame: int) -> tuple[float, int, int, float, int] | None:
        """(opacity, dx, dy, scale, content frame) at scene time ``t``; None when not drawn.
        Equal states draw equal pixels (offsets are whole pixels, scale is rounded to 1/1000)."""
        if t < self.start or t >= self.end:
            return None
        tr = fold(self.effects, t - self.start)
        if tr is None:
            return None
        op = self.layer.opacity * tr.opacity
        if op <= 0.004:
            return None
        sc = round(tr.scale, 3)
        return (round(op, 3), int(round(tr.dx)), int(round(tr.dy)), sc, frame if self.content is not None else 0)

    def draw(self, frame_rgb: np.ndarray, state: tuple[float, int, int, float, int]) -> Rect | None:
        op, dx, dy, sc, fi = state
        sp = self.content(fi) if self.content is not None else self.sprite
        assert sp is not None
        if sc != 1.0:
            if self.content is None:
                # Slow zooms repeat each rounded scale for a few frames: keep the last few.
                cached = self._scaled.get(sc)
                if cached is None:
                    if len(self._scaled) >= 4:
                        self._scaled.pop(next(iter(self._scaled)))
                    cached = self._scaled[sc] = scaled(sp, sc)
                sp = cached
            else:
                sp = scaled(sp, sc)
        return blend(frame_rgb, sp, dx, dy, op)


# ---------------------------------------------------------------- scene planning


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


def _media_path(ctx: RenderContext, layer: Any) -> Path | None:
    if layer.type == "product" and ctx.product_image is not None:
        return ctx.product_image
    src = getattr(layer, "src", None)
    if not src:
        return None
    path = resolve_asset(src, ctx.template, ctx.assets_root)
    if path is None:
        raise PipelineInputError(f"media file not found: {src}", field="template")
    return path


def _layer_key(ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int]) -> str:
    media = _media_path(ctx, layer) if layer.type in ("image", "logo", "product", "video") else None
    extra = file_id(_mask_path(ctx, layer, media)) if layer.type == "product" and media is not None else None
    font = _font_file(ctx, layer) if isinstance(layer, TextLayer) else None
    return _digest(
        "layer", layer.model_dump(mode="json"), ctx.fmt, ctx.scale, rect, file_id(media), extra, font and file_id(Path(font))
    )


def _font_file(ctx: RenderContext, layer: Any) -> str | None:
    """Path (str) of a text layer's brand font, None for the bundled family."""
    path = resolve_font(getattr(layer, "font", None), ctx.template, ctx.assets_root)
    return str(path) if path is not None else None


def _mask_path(ctx: RenderContext, layer: Any, media: Path | None) -> Path | None:
    """Mask file for a product image without alpha: the render's, else ``<stem>.mask.png`` beside it."""
    if media is None:
        return None
    if ctx.product_image is not None and media == ctx.product_image and ctx.product_mask is not None:
        return ctx.product_mask
    side = media.with_name(media.stem + ".mask.png")
    return side if side.is_file() and side != media else None


def product_cutout(ctx: RenderContext, layer: Any, path: Path) -> Image.Image:
    """The product as an RGBA cutout (cached): alpha channel, else mask file, else the
    studio-backdrop auto mask (pipelines.recolor.masks); recolored to ``layer.color`` and trimmed
    to the product's bounding box when asked. An image whose mask cannot be found stays opaque."""
    mask = _mask_path(ctx, layer, path) if layer.cutout == "auto" else None
    key = _digest("cutout", file_id(path), file_id(mask), layer.cutout, layer.color, layer.trim)

    def make() -> Image.Image:
        img = _load_media(ctx, path, f"layer {layer.id or layer.type}")
        rgba = img.convert("RGBA")
        has_alpha = img.mode == "RGBA" and np.asarray(img.getchannel("A")).min() < 255
        if layer.cutout == "auto" and not has_alpha:
            alpha = _cutout_alpha(img.convert("RGB"), mask)
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


def _cutout_alpha(rgb: Image.Image, mask: Path | None) -> np.ndarray | None:
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


def _contact_shadow(rgba: np.ndarray, k: float) -> tuple[np.ndarray, int]:
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


def _apply_mask(rgba: np.ndarray, mask: Any, k: float) -> np.ndarray:
    """Clip an RGBA image to a rounded rectangle or inscribed ellipse (anti-aliased, 4x supersampled)."""
    h, w = rgba.shape[:2]
    ss = 4
    m = Image.new("L", (w * ss, h * ss), 0)
    from PIL import ImageDraw

    d = ImageDraw.Draw(m)
    if mask.shape == "circle":
        d.ellipse((0, 0, w * ss - 1, h * ss - 1), fill=255)
    else:
        d.rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=mask.radius * k * ss, fill=255)
    mm = np.asarray(m.resize((w, h), Image.Resampling.LANCZOS), dtype=np.uint16)
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
    from PIL import ImageDraw

    dr = ImageDraw.Draw(img)
    total = n * d + (n - 1) * gap
    x0, cy = (w - total) / 2, h / 2
    sel = parse_color(layer.selected)[:3] if layer.selected else None
    ring = max(2.0, d * 0.09)
    for i, c in enumerate(colors):
        rgba = parse_color(c)
        bx = x0 + i * (d + gap)
        box = [v * ss for v in (bx, cy - d / 2, bx + d, cy + d / 2)]
        inner = [box[0] + ring * 1.6 * ss, box[1] + ring * 1.6 * ss, box[2] - ring * 1.6 * ss, box[3] - ring * 1.6 * ss]
        if sel is not None and rgba[:3] == sel:
            shape = dr.ellipse if layer.shape == "circle" else partial(dr.rounded_rectangle, radius=d * 0.25 * ss)
            shape(box, outline=parse_color(layer.ring_color), width=int(ring * ss))
            (dr.ellipse if layer.shape == "circle" else partial(dr.rounded_rectangle, radius=d * 0.18 * ss))(
                inner, fill=rgba
            )
        else:
            shape = dr.ellipse if layer.shape == "circle" else partial(dr.rounded_rectangle, radius=d * 0.25 * ss)
            shape(box, fill=rgba, outline=(255, 255, 255, 90), width=max(1, int(ss * d * 0.03)))
    small = img.resize((w, h), Image.Resampling.LANCZOS)
    return Sprite.from_rgba(np.asarray(small), x, y)


def _load_media(ctx: RenderContext, path: Path, field: str) -> Image.Image:
    """Decoded image, shared by every layer using the same file (PIL ops used here never mutate it)."""
    return ctx.cache.get_or_make(
        _digest("img", file_id(path)),
        partial(load_image, path, keep_alpha=True, field=field),
        lambda im: im.width * im.height * len(im.getbands()),
    )


def _make_sprite(ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int]) -> Sprite:
    x, y, w, h = rect
    k = ctx.k
    if isinstance(layer, TextLayer):
        ts = render_text(layer, w, h, scale=k, font_file=_font_file(ctx, layer))
        return Sprite.from_rgba(ts.rgba, x + ts.dx, y + ts.dy)
    if layer.type == "swatches":
        return _swatches(ctx, layer, rect)
    if layer.type == "shape":
        img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        from PIL import ImageDraw

        color = parse_color(layer.color)
        if layer.gradient is not None:
            from pipelines.video.text import gradient_image

            ss = 4
            shape = Image.new("L", (w * ss, h * ss), 0)
            d = ImageDraw.Draw(shape)
            if layer.shape == "ellipse":
                d.ellipse((0, 0, w * ss - 1, h * ss - 1), fill=255)
            else:
                d.rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=layer.radius * k * ss, fill=255)
            img.paste(gradient_image(layer.gradient, w, h), (0, 0), shape.resize((w, h), Image.Resampling.BOX))
            return Sprite.from_rgba(np.asarray(img), x, y)
        if layer.shape == "ellipse" or layer.radius > 0:
            # Curved edges drawn at 4x and downsampled: anti-aliased, no stair steps.
            ss = 4
            big = Image.new("L", (w * ss, h * ss), 0)
            d = ImageDraw.Draw(big)
            if layer.shape == "ellipse":
                d.ellipse((0, 0, w * ss - 1, h * ss - 1), fill=255)
            else:
                d.rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=layer.radius * k * ss, fill=255)
            cover = np.asarray(big.resize((w, h), Image.Resampling.BOX), dtype=np.uint16)
            px = np.empty((h, w, 4), np.uint8)
            px[:, :, :3] = color[:3]
            px[:, :, 3] = (cover * color[3] + 127) // 255
            return Sprite.from_rgba(px, x, y)
        img = Image.new("RGBA", (w, h), color)
        return Sprite.from_rgba(np.asarray(img), x, y)
    path = _media_path(ctx, layer)
    assert path is not None
    if layer.type == "product":
        img = product_cutout(ctx, layer, path)
    else:
        img = _load_media(ctx, path, f"layer {layer.id or layer.type}")
    rgba, ox, oy = _fit_image(img, w, h, layer.fit)
    if getattr(layer, "mask", None) is not None:
        rgba = _apply_mask(rgba, layer.mask, k)
    if layer.type == "product" and layer.shadow and rgba[:, :, 3].min() < 255:
        if layer.shadow == "contact":
            rgba, pad = _contact_shadow(rgba, k)
        else:
            rgba, pad = _drop_shadow(rgba, k)
        ox, oy = ox - pad, oy - pad
    return Sprite.from_rgba(rgba, x + ox, y + oy)


def _ken_burns(
    ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int], dur: float
) -> tuple[Callable[[int], Sprite], Callable[[int, np.ndarray], None] | None]:
    """Per-frame zoom/pan: one resize of a window of a pre-scaled source into the box per frame."""
    x, y, w, h = rect
    kb = layer.ken_burns
    path = _media_path(ctx, layer)
    assert path is not None
    zmax = max(kb.zoom_from, kb.zoom_to)
    img = _load_media(ctx, path, "image")
    big, _, _ = _fit_image(img, int(math.ceil(w * zmax)), int(math.ceil(h * zmax)), "cover")
    big = np.ascontiguousarray(big if big[:, :, 3].min() < 255 else big[:, :, :3])
    BH, BW = big.shape[:2]
    n = max(1, int(round(dur * ctx.fps)))

    def window(i: int) -> tuple[int, int, int, int]:
        p = min(1.0, i / max(1, n - 1))
        z = kb.zoom_from + (kb.zoom_to - kb.zoom_from) * p
        # The visible window in 'big' pixels is (w, h) * zmax / z; pan moves its centre.
        vw, vh = min(BW, w * zmax / z), min(BH, h * zmax / z)
        cx = BW / 2 + kb.pan_x * p * (BW - vw) / 2
        cy = BH / 2 + kb.pan_y * p * (BH - vh) / 2
        x0 = int(round(min(max(0.0, cx - vw / 2), BW - vw)))
        y0 = int(round(min(max(0.0, cy - vh / 2), BH - vh)))
        return x0, y0, max(1, int(round(vw))), max(1, int(round(vh)))

    # An integer-origin crop + separable resize costs ~1/3 of a warpAffine; the window's origin
    # is rounded to the source pixel (<= 0.5 px, invisible at Ken Burns speeds).
    def frame(i: int) -> Sprite:
        x0, y0, vw, vh = window(i)
        out = cv2.resize(big[y0 : y0 + vh, x0 : x0 + vw], (w, h), interpolation=cv2.INTER_LINEAR)
        return Sprite(out, x, y, crop=False)

    def into(i: int, dst: np.ndarray) -> None:
        # Full-canvas opaque zoom: resize straight into the frame buffer (no copy, no blend).
        x0, y0, vw, vh = window(i)
        cv2.resize(big[y0 : y0 + vh, x0 : x0 + vw], (w, h), dst=dst, interpolation=cv2.INTER_LINEAR)

    W, H = ctx.size
    full = (x, y, w, h) == (0, 0, W, H) and big.shape[2] == 3
    return frame, (into if full else None)


def _video_content(
    ctx: RenderContext, layer: Any, rect: tuple[int, int, int, int]
) -> tuple[Callable[[int], Sprite], Callable[[], None]]:
    from pipelines.video.ffmpeg import ClipReader

    x, y, w, h = rect
    path = _media_path(ctx, layer)
    assert path is not None
    fit = layer.fit
    if fit == "contain":
        # Letterbox with transparency, like image layers: decode at the fitted size and place
        # it centred in the box, so whatever is below shows through where bars would be.
        from pipelines.video.ffmpeg import probe

        meta = ctx.cache.get_or_make(_digest("probe", file_id(path)), partial(probe, path, loudness=False), lambda m: 1024)
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
                last[i] = Sprite(_apply_mask(rgba, mask, ctx.k), x, y, crop=False)
            else:
                last[i] = Sprite(rgb, x, y)
        return last[i]

    return frame, reader.close


@dataclass
class ScenePlan:
    """A scene on one canvas: flattened background + the layers drawn per frame."""

    scene: Scene
    duration: float
    background: np.ndarray  # (H, W, 3) uint8, never mutated
    upper: list[LayerRT]
    _background_yuv: np.ndarray | None = None

    @property
    def background_yuv(self) -> np.ndarray:
        """yuv420p of the background, converted once (frames changing a small area patch it)."""
        if self._background_yuv is None:
            self._background_yuv = to_i420(self.background)
        return self._background_yuv

    def close(self) -> None:
        for lr in self.upper:
            for c in lr.closers:
                c()


def _nbytes(obj: Any) -> int:
    return int(obj.nbytes)


def plan_scene(ctx: RenderContext, scene: Scene, duration: float) -> ScenePlan:
    W, H = ctx.size
    rts: list[LayerRT] = []
    for layer in scene.layers:
        rect = layer_rect(layer, ctx.fmt, ctx.scale)
        if rect is None:
            continue
        end = layer.end if layer.end is not None and layer.end < duration else 1e9
        lr = LayerRT(layer, None, layer.start, end, (W, H))
        lr.effects = layer_effects(layer, layer.start, end, duration, (W, H), ctx.k)
        if getattr(layer, "ken_burns", None) is not None:
            lr.content, lr.into = _ken_burns(ctx, layer, rect, duration)
        elif layer.type == "video":
            lr.content, closer = _video_content(ctx, layer, rect)
            lr.closers.append(closer)
        else:
            key = _layer_key(ctx, layer, rect)
            lr.sprite = ctx.cache.get_or_make(key, partial(_make_sprite, ctx, layer, rect), _nbytes)
        rts.append(lr)
    n_static = 0
    for lr in rts:
        if not lr.static:
            break
        n_static += 1
    bg_color = scene.background or ctx.template.background
    bg_key = _digest(
        "bg",
        bg_color,
        ctx.fmt,
        ctx.scale,
        [_layer_key(ctx, lr.layer, layer_rect(lr.layer, ctx.fmt, ctx.scale) or (0, 0, 0, 0)) for lr in rts[:n_static]],
    )

    def make_bg() -> np.ndarray:
        r, g, b, _ = parse_color(bg_color)
        frame = np.empty((H, W, 3), np.uint8)
        frame[...] = (r, g, b)
        for lr in rts[:n_static]:
            assert lr.sprite is not None
            blend(frame, lr.sprite, 0, 0, lr.layer.opacity)
        frame.setflags(write=False)
        return frame

    bg = ctx.cache.get_or_make(bg_key, make_bg, _nbytes)
    return ScenePlan(scene, duration, bg, rts[n_static:])


# ---------------------------------------------------------------- frames


@dataclass
class FrameOut:
    """One output frame: yuv420p buffer (possibly the same object as the previous frame's)."""

    index: int
    time: float
    yuv: np.ndarray
    rgb: np.ndarray | None  # only when a new frame was composed
    repeated: bool
    clean: np.ndarray | None = None  # the frame without captions (only at ``frames(clean_at=...)``)


def caption_layer(tpl: Template, text: str) -> TextLayer:
    """A text layer styled by the template's caption spec."""
    c = tpl.captions
    return TextLayer(
        type="text",
        text=text,
        box=c.box,
        font_weight=c.font_weight,
        size=c.size,
        min_size=c.min_size,
        color=c.color,
        stroke=c.stroke,
        background=c.background,
        max_lines=c.max_lines,
        valign="middle",
    )


@dataclass(frozen=True)
class Segment:
    """A run of frames whose pixels depend on one scene only ('body') or on a scene and the
    previous scene's last frame ('trans'); the unit of encode reuse across customers."""

    scene: int
    kind: str  # "trans" or "body"
    first: int  # local frame index in the scene (inclusive)
    last: int  # exclusive
    global_first: int
    key: str


def _scene_frames(durations: Sequence[float], fps: int) -> list[tuple[int, int]]:
    starts = np.concatenate([[0.0], np.cumsum(durations)])
    return [(int(round(starts[i] * fps)), int(round(starts[i + 1] * fps))) for i in range(len(durations))]


def _scene_identity(ctx: RenderContext, si: int, dur: float) -> Any:
    scene = ctx.template.scenes[si]
    media = []
    for layer in scene.layers:
        if layer.type in ("image", "logo", "product", "video"):
            media.append(file_id(_media_path(ctx, layer)))
    return [scene.model_dump(mode="json"), round(dur, 6), media, scene.background or ctx.template.background]


def plan_segments(
    ctx: RenderContext,
    durations: Sequence[float],
    *,
    cues: Sequence[Cue] = (),
    caption_style: str = "none",
    extra: Any = None,
) -> list[Segment]:
    """Split the timeline into segments with content keys (same key = same pixels)."""
    fps = ctx.fps
    bounds = _scene_frames(durations, fps)
    cap_spec = ctx.template.captions.model_dump(mode="json") if caption_style != "none" else None
    segs: list[Segment] = []
    for si, scene in enumerate(ctx.template.scenes):
        g0, g1 = bounds[si]
        n = g1 - g0
        nt = 0
        if scene.transition is not None and si > 0:
            nt = min(n, int(round(scene.transition.duration * fps)))
        for kind, a, b in (("trans", 0, nt), ("body", nt, n)):
            if b <= a:
                continue
            t0, t1 = (g0 + a) / fps, (g0 + b) / fps
            cue_part = (
                [(c.text, c.start, c.end, c.words) for c in cues if c.start < t1 and c.end > t0] if cap_spec else []
            )
            prev = None
            if kind == "trans":
                pg0, pg1 = bounds[si - 1]
                tl = (pg1 - 1) / fps
                prev = [
                    _scene_identity(ctx, si - 1, durations[si - 1]),
                    pg1 - pg0,
                    [(c.text, c.start, c.end, c.words) for c in cues if c.start <= tl < c.end] if cap_spec else [],
                ]
            key = _digest(
                "segment",
                ctx.fmt,
                ctx.scale,
                fps,
                a,
                b,
                g0,
                kind,
                _scene_identity(ctx, si, durations[si]),
                cue_part,
                cap_spec,
                caption_style,
                prev,
                extra,
            )
            segs.append(Segment(si, kind, a, b, g0 + a, key))
    return segs


def frames(
    ctx: RenderContext,
    durations: Sequence[float],
    *,
    cues: Sequence[Cue] = (),
    caption_style: str = "none",
    on_scene: Callable[[int, int], None] | None = None,
    segments: Sequence[Segment] | None = None,
    begin_segment: Callable[[Segment], bool] | None = None,
    clean_at: int | None = None,
) -> Iterator[FrameOut]:
    """Yield the ad's frames for one canvas, composing only when the state changes.

    With ``segments`` + ``begin_segment``, each segment is announced first; when the callback
    returns False (already encoded) its frames are skipped and never composed. Frame
    ``clean_at`` (global index; the poster) also carries its pixels without captions in
    ``FrameOut.clean``. Captions are drawn once, over a transition's mix: the outgoing frame a
    transition uses is the previous scene's last frame *without* its caption.
    """
    tpl = ctx.template
    fps = ctx.fps
    cap_rect = region_rect("safe", ctx.fmt, ctx.scale)
    cb = tpl.captions.box
    cap_box = (
        cap_rect[0] + int(cb.x * cap_rect[2]),
        cap_rect[1] + int(cb.y * cap_rect[3]),
        max(1, int(cb.w * cap_rect[2])),
        max(1, int(cb.h * cap_rect[3])),
    )
    cap_sprites: dict[tuple[int, int], Sprite] = {}
    cap_font_path = resolve_font(tpl.captions.font, tpl, ctx.assets_root)
    cap_font = str(cap_font_path) if cap_font_path is not None else None

    def cap_sprite(state: tuple[int, int]) -> Sprite:
        if state not in cap_sprites:
            if len(cap_sprites) > 64:
                cap_sprites.clear()
            cue = cues[state[0]]
            layer = caption_layer(tpl, cue.text)
            ts = render_text(
                layer,
                cap_box[2],
                cap_box[3],
                scale=ctx.k,
                font_file=cap_font,
                highlight_word=state[1] if state[1] >= 0 else None,
                highlight_color=tpl.captions.highlight_color,
            )
            cap_sprites[state] = Sprite.from_rgba(ts.rgba, cap_box[0] + ts.dx, cap_box[1] + ts.dy)
        return cap_sprites[state]

    bounds = _scene_frames(durations, fps)
    segs = (
        list(segments)
        if segments is not None
        else plan_segments(ctx, durations, cues=cues, caption_style=caption_style)
    )

    def compose(plan: ScenePlan, si: int, fi: int, outgoing: np.ndarray | None) -> Any:
        """State key of local frame ``fi``: equal keys mean equal pixels."""
        scene = plan.scene
        t = fi / fps
        T = (bounds[si][0] + fi) / fps
        states = tuple(lr.state(t, fi) for lr in plan.upper)
        cap = caption_state(cues, T, caption_style) if caption_style != "none" and cues else None
        trans_p: float | None = None
        if outgoing is not None and scene.transition is not None and t < scene.transition.duration:
            trans_p = round(t / scene.transition.duration, 4)
        return (si, states, cap, trans_p)

    def draw(
        plan: ScenePlan, key: Any, fi: int, outgoing: np.ndarray | None, keep_clean: bool = False
    ) -> tuple[np.ndarray, bool, Rect | None, np.ndarray]:
        """(RGB frame, local, dirty, clean): when ``local``, the frame equals the background
        outside ``dirty`` (None: nowhere), so its yuv420p is the background's patched there.
        ``clean`` is the frame before captions (a copy only when ``keep_clean`` and captioned)."""
        _, states, cap, trans_p = key
        first = 0
        local = True
        dirty: Rect | None = None
        st0 = states[0] if states else None
        if st0 is not None and plan.upper[0].into is not None and st0[:4] == (1.0, 0, 0, 1.0):
            frame = np.empty_like(plan.background)
            plan.upper[0].into(st0[4], frame)  # type: ignore[misc]
            first = 1
            local = False
        else:
            frame = plan.background.copy()
        for lr, st in zip(plan.upper[first:], states[first:], strict=True):
            if st is not None:
                dirty = union_rect(dirty, lr.draw(frame, st))
        if trans_p is not None and outgoing is not None and plan.scene.transition is not None:
            frame = _transition(outgoing, frame, trans_p, plan.scene.transition.type)
            local = False
        clean = frame
        if cap is not None:
            if keep_clean:
                clean = frame.copy()
            dirty = union_rect(dirty, blend(frame, cap_sprite(cap)))
        return frame, local, dirty, clean

    plans: dict[int, ScenePlan] = {}
    # Without segment reuse every scene is composed in order: plan the next one (decode, resize,
    # text rasterisation; PIL releases the GIL) in a worker while this one's frames stream, so
    # the encoder is not left waiting for frames at scene boundaries.
    prefetch: dict[int, Future[ScenePlan]] = {}
    planner = ThreadPoolExecutor(1, thread_name_prefix="scene-plan") if begin_segment is None else None

    def get_plan(si: int) -> ScenePlan:
        if si not in plans:
            for old in [k for k in plans if k != si]:
                plans.pop(old).close()
            fut = prefetch.pop(si, None)
            plans[si] = fut.result() if fut is not None else plan_scene(ctx, tpl.scenes[si], durations[si])
            nxt = si + 1
            if planner is not None and nxt < len(tpl.scenes) and nxt not in prefetch:
                prefetch[nxt] = planner.submit(plan_scene, ctx, tpl.scenes[nxt], durations[nxt])
        return plans[si]

    last_rgb: dict[int, np.ndarray] = {}  # scene -> its last composed frame (only the final one kept)

    def last_frame_of(si: int) -> np.ndarray:
        if si in last_rgb:
            return last_rgb[si]
        # Needed for the next scene's transition but its body was not composed (cached segment).
        n = bounds[si][1] - bounds[si][0]
        plan = plan_scene(ctx, tpl.scenes[si], durations[si])
        try:
            tr = tpl.scenes[si].transition
            prev_out = None
            if si > 0 and tr is not None and n - 1 < int(round(tr.duration * fps)):
                prev_out = last_frame_of(si - 1)
            si_, states, _cap, trans_p = compose(plan, si, n - 1, prev_out)
            if any(lr.content is not None for lr in plan.upper):
                for lr, st in zip(plan.upper, states, strict=True):  # advance clips to the frame
                    if st is not None and lr.content is not None:
                        lr.content(n - 1)
            return draw(plan, (si_, states, None, trans_p), n - 1, prev_out)[0]  # caption-free
        finally:
            plan.close()

    seen_scene = -1
    try:
        for seg in segs:
            si = seg.scene
            if si != seen_scene:
                seen_scene = si
                if on_scene is not None:
                    on_scene(si, len(tpl.scenes))
            if begin_segment is not None and not begin_segment(seg):
                continue
            plan = get_plan(si)
            outgoing = None
            if tpl.scenes[si].transition is not None and si > 0 and seg.kind == "trans":
                outgoing = last_frame_of(si - 1)
            prev_key: Any = None
            prev_yuv: np.ndarray | None = None
            n_scene = bounds[si][1] - bounds[si][0]
            for fi in range(seg.first, seg.last):
                T = (bounds[si][0] + fi) / fps
                key = compose(plan, si, fi, outgoing)
                want_clean = clean_at == bounds[si][0] + fi
                if key == prev_key and prev_yuv is not None and not want_clean:
                    yield FrameOut(bounds[si][0] + fi, T, prev_yuv, None, True)
                    continue
                # The scene's final frame is the next transition's outgoing frame: keep it clean.
                is_last = fi == n_scene - 1
                frame, local, dirty, clean = draw(plan, key, fi, outgoing, keep_clean=want_clean or is_last)
                yuv = i420_update(plan.background_yuv, frame, dirty) if local else to_i420(frame)
                prev_key, prev_yuv = key, yuv
                if is_last:
                    last_rgb.clear()
                    last_rgb[si] = clean
                yield FrameOut(bounds[si][0] + fi, T, yuv, frame, False, clean if want_clean else None)
    finally:
        for p in plans.values():
            p.close()
        for fut in prefetch.values():
            with contextlib.suppress(Exception):
                fut.result().close()
        if planner is not None:
            planner.shutdown(wait=True)


def still_frame(ctx: RenderContext, durations: Sequence[float], t: float) -> np.ndarray:
    """The RGB frame shown at ``t`` seconds without captions (posters), composing only the
    segment that contains it."""
    fps = ctx.fps
    n_total = _scene_frames(durations, fps)[-1][1]
    target = min(max(0, int(math.floor(t * fps + 1e-9))), n_total - 1)
    segs = plan_segments(ctx, durations)
    seg = next(s for s in segs if s.global_first <= target < s.global_first + (s.last - s.first))
    # Only the one frame is composed (a one-frame segment of the scene it belongs to).
    fi = seg.first + (target - seg.global_first)
    want = Segment(seg.scene, seg.kind, fi, fi + 1, target, seg.key)
    for fr in frames(ctx, durations, segments=[want], begin_segment=lambda s: True, clean_at=target):
        if fr.index == target:
            assert fr.clean is not None
            return fr.clean
    raise RuntimeError(f"frame {target} was not composed")  # unreachable: 'want' contains it


def _transition(prev: np.ndarray, cur: np.ndarray, p: float, kind: str) -> np.ndarray:
    """Mix the outgoing scene's last (caption-free) frame into the incoming one at progress p."""
    return TRANSITIONS[kind].apply(prev, cur, p)
