"""The optimised frame path (cached background, dirty-rectangle yuv420p, repeated frames,
next scene planned in a worker) yields exactly the frames of a straightforward full composite."""

from __future__ import annotations

import json

import numpy as np

from pipelines._common.data import ASSETS_DIR
from pipelines.video.colors import parse_color
from pipelines.video.compositor.cache import RenderCache
from pipelines.video.compositor.clips import ken_burns_content
from pipelines.video.compositor.context import RenderContext
from pipelines.video.compositor.frames import frames
from pipelines.video.compositor.raster import make_sprite
from pipelines.video.compositor.scene_plan import LayerRT
from pipelines.video.compositor.segments import scene_frames
from pipelines.video.compositor.yuv import i420_update, to_i420
from pipelines.video.effects import layer_effects
from pipelines.video.layout import layer_rect
from pipelines.video.template import load_template, merge_template, plan_durations

from .conftest import SCALE

TEMPLATE = ASSETS_DIR / "templates" / "product_promo.yaml"


def _merged():
    data = json.loads((ASSETS_DIR / "templates" / "product_promo.sample.json").read_text(encoding="utf-8"))
    merged, _ = merge_template(load_template(TEMPLATE), data)
    return merged


def _reference(ctx: RenderContext, si: int, fi: int) -> np.ndarray:
    """Full-frame composite from scratch: colour fill, then every layer of the scene in order."""
    scene = ctx.template.scenes[si]
    W, H = ctx.size
    r, g, b, _ = parse_color(scene.background or ctx.template.background)
    frame = np.empty((H, W, 3), np.uint8)
    frame[...] = (r, g, b)
    for layer in scene.layers:
        rect = layer_rect(layer, ctx.fmt, ctx.scale)
        assert rect is not None
        end = layer.end if layer.end is not None else 1e9
        dur = plan_durations(ctx.template, None)[si]
        if getattr(layer, "ken_burns", None) is not None:  # per-frame zoom, drawn as a sprite here
            lr = LayerRT(layer, None, layer.start, end, (W, H), content=ken_burns_content(ctx, layer, rect, dur)[0])
        else:
            lr = LayerRT(layer, make_sprite(ctx, layer, rect), layer.start, end, (W, H))
        lr.effects = layer_effects(layer, layer.start, end if end < dur else 1e9, dur, (W, H), ctx.k)
        st = lr.state(fi / ctx.fps, fi)
        if st is not None:
            lr.draw(frame, st)
    return frame


def test_optimised_frames_equal_full_composite() -> None:
    merged = _merged()
    durations = plan_durations(merged, None)
    ctx = RenderContext(merged, "9:16", SCALE, merged.fps, None, None, RenderCache())
    bounds = scene_frames(durations, ctx.fps)
    out = list(frames(ctx, durations))
    assert len(out) == bounds[-1][1]
    composed = [f for f in out if not f.repeated]
    assert 0 < len(composed) < len(out)  # held shots are repeats
    prev = None
    for f in out:
        if f.repeated:
            assert prev is not None and f.yuv is prev.yuv
            continue
        assert f.rgb is not None
        assert np.array_equal(f.yuv, to_i420(f.rgb)), f.index  # patched yuv == full conversion
        prev = f
    # Animated frames of the last two scenes after their transitions (pop, fade, slides).
    checked = 0
    for si in (1, 2):
        g0, g1 = bounds[si]
        tr = merged.scenes[si].transition
        nt = int(round(tr.duration * ctx.fps)) if tr is not None else 0
        for fi in (nt, nt + 2, nt + 5, nt + 9, g1 - g0 - 1):
            f = out[g0 + fi]
            assert np.array_equal(to_i420(_reference(ctx, si, fi)), f.yuv), (si, fi)
            checked += 1
    assert checked == 10


def test_i420_patch_matches_full_conversion_for_odd_rects() -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (64, 48, 3), np.uint8)
    base_yuv = to_i420(base)
    for rect in [(0, 0, 48, 64), (3, 5, 20, 31), (47, 63, 48, 64), (10, 0, 11, 1), (1, 1, 47, 63)]:
        img = base.copy()
        x0, y0, x1, y1 = rect
        img[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0, 3), np.uint8)
        assert np.array_equal(i420_update(base_yuv, img, rect), to_i420(img)), rect
    assert np.array_equal(i420_update(base_yuv, base, None), base_yuv)


def test_blend_planes_match_integer_premultiply() -> None:
    from pipelines.video.compositor.sprite import Sprite

    c = np.repeat(np.arange(256, dtype=np.uint8), 256)
    a = np.tile(np.arange(256, dtype=np.uint8), 256)
    px = np.stack([c, c[::-1], np.roll(c, 7), a], axis=1).reshape(256, 256, 4)
    p8, inv8 = Sprite(px, 0, 0, crop=False).blend_planes()
    a16 = px[:, :, 3:4].astype(np.uint16)
    assert np.array_equal(p8, ((px[:, :, :3].astype(np.uint16) * a16 + 127) // 255).astype(np.uint8))
    assert np.array_equal(inv8, np.repeat(255 - px[:, :, 3:4], 3, axis=2))
