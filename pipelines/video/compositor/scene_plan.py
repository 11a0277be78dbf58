"""Scene planning: each layer made ready to draw (sprite or per-frame content, effects,
timing), the layers below the first moving one flattened into a cached background, and the
planner that prepares the next scene in a worker thread while this one streams."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from pipelines.video.colors import parse_color
from pipelines.video.compositor.cache import digest, nbytes_of
from pipelines.video.compositor.clips import ken_burns_content, video_content
from pipelines.video.compositor.context import RenderContext, layer_key
from pipelines.video.compositor.raster import make_sprite
from pipelines.video.compositor.sprite import Rect, Sprite, blend, scaled
from pipelines.video.compositor.yuv import to_i420
from pipelines.video.effects import fold, layer_effects
from pipelines.video.layout import layer_rect
from pipelines.video.template import Scene


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


def plan_scene(ctx: RenderContext, scene: Scene, duration: float) -> ScenePlan:
    """Scene ``scene`` (``duration`` seconds) ready to draw on ``ctx``'s canvas: every layer made
    ready (sprite from the cache, or per-frame content), the leading static ones flattened into
    an (H, W, 3) uint8 background (cached by content key). Raises ``PipelineInputError`` when a
    layer's media file is missing or unreadable. Close the plan to stop its clip readers."""
    W, H = ctx.size
    rts: list[LayerRT] = []
    sprite_keys: list[str | None] = []  # per entry of rts: its sprite's cache key
    for layer in scene.layers:
        rect = layer_rect(layer, ctx.fmt, ctx.scale)
        if rect is None:
            continue
        end = layer.end if layer.end is not None and layer.end < duration else 1e9
        lr = LayerRT(layer, None, layer.start, end, (W, H))
        lr.effects = layer_effects(layer, layer.start, end, duration, (W, H), ctx.k)
        key = None
        if getattr(layer, "ken_burns", None) is not None:
            lr.content, lr.into = ken_burns_content(ctx, layer, rect, duration)
        elif layer.type == "video":
            lr.content, closer = video_content(ctx, layer, rect)
            lr.closers.append(closer)
        else:
            key = layer_key(ctx, layer, rect)
            lr.sprite = ctx.cache.get_or_make(key, partial(make_sprite, ctx, layer, rect), nbytes_of)
        rts.append(lr)
        sprite_keys.append(key)
    n_static = 0
    for lr in rts:
        if not lr.static:
            break
        n_static += 1
    bg_color = scene.background or ctx.template.background
    bg_key = digest("bg", bg_color, ctx.fmt, ctx.scale, sprite_keys[:n_static])  # static layers are sprites

    def make_bg() -> np.ndarray:
        r, g, b, _ = parse_color(bg_color)
        frame = np.empty((H, W, 3), np.uint8)
        frame[...] = (r, g, b)
        for lr in rts[:n_static]:
            assert lr.sprite is not None
            blend(frame, lr.sprite, 0, 0, lr.layer.opacity)
        frame.setflags(write=False)
        return frame

    bg = ctx.cache.get_or_make(bg_key, make_bg, nbytes_of)
    return ScenePlan(scene, duration, bg, rts[n_static:])


class ScenePlanner:
    """Scene plans for one render, one scene at a time (the previous one is closed when the next
    is asked for). With ``prefetch``, the next scene is planned (decode, resize, text
    rasterisation; PIL releases the GIL) in a worker thread while this one's frames stream, so
    the encoder is not left waiting for frames at scene boundaries. Close it when done."""

    def __init__(self, ctx: RenderContext, durations: Sequence[float], *, prefetch: bool) -> None:
        self.ctx = ctx
        self.durations = durations
        self._plans: dict[int, ScenePlan] = {}
        self._prefetch: dict[int, Future[ScenePlan]] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="scene-plan") if prefetch else None

    def plan(self, si: int) -> ScenePlan:
        """A fresh, standalone plan of scene ``si`` (the caller closes it)."""
        return plan_scene(self.ctx, self.ctx.template.scenes[si], self.durations[si])

    def get(self, si: int) -> ScenePlan:
        """The current plan of scene ``si`` (owned by the planner)."""
        plans, prefetch, scenes = self._plans, self._prefetch, self.ctx.template.scenes
        if si not in plans:
            for old in [k for k in plans if k != si]:
                plans.pop(old).close()
            fut = prefetch.pop(si, None)
            plans[si] = fut.result() if fut is not None else self.plan(si)
            nxt = si + 1
            if self._pool is not None and nxt < len(scenes) and nxt not in prefetch:
                prefetch[nxt] = self._pool.submit(self.plan, nxt)
        return plans[si]

    def close(self) -> None:
        for p in self._plans.values():
            p.close()
        for fut in self._prefetch.values():
            with contextlib.suppress(Exception):
                fut.result().close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
