"""Segment planning: the timeline split into per-scene runs of frames ('trans', 'body') with
content keys, so runs whose pixels another customer already encoded are reused, not composed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.video.captions import Cue
from pipelines.video.compositor.cache import digest, file_id
from pipelines.video.compositor.context import RenderContext, media_path


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


def scene_frames(durations: Sequence[float], fps: int) -> list[tuple[int, int]]:
    starts = np.concatenate([[0.0], np.cumsum(durations)])
    return [(int(round(starts[i] * fps)), int(round(starts[i + 1] * fps))) for i in range(len(durations))]


def _scene_identity(ctx: RenderContext, si: int, dur: float) -> Any:
    scene = ctx.template.scenes[si]
    media = []
    for layer in scene.layers:
        if layer.type in ("image", "logo", "product", "video"):
            media.append(file_id(media_path(ctx, layer)))
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
    bounds = scene_frames(durations, fps)
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
            key = digest(
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
