"""The frame generator: an ad's frames for one canvas, streamed in order as yuv420p.

Each frame gets a *state key* (every moving layer's opacity/offset/scale/content frame, the
caption and transition state); when it equals the previous frame's key the previous yuv420p
buffer is sent again, so a held shot costs only a pipe write. A newly composed frame starts from
the scene's flattened background; when only a rectangle changed, its yuv420p is the background's
patched there. Frames are (H, W, 3) uint8 RGB; yuv420p buffers are (H * 3 / 2, W) uint8.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.video.captions import Cue, caption_state
from pipelines.video.compositor.caption_sprites import CaptionSprites
from pipelines.video.compositor.context import RenderContext
from pipelines.video.compositor.scene_plan import ScenePlan, ScenePlanner
from pipelines.video.compositor.segments import Segment, plan_segments, scene_frames
from pipelines.video.compositor.sprite import Rect, blend, union_rect
from pipelines.video.compositor.yuv import i420_update, to_i420
from pipelines.video.effects import TRANSITIONS

FrameKey = tuple[int, tuple[Any, ...], "tuple[int, int] | None", "float | None"]
"""(scene, moving layers' states, caption state, transition progress): equal keys, equal pixels."""


@dataclass
class FrameOut:
    """One output frame: yuv420p buffer (possibly the same object as the previous frame's)."""

    index: int
    time: float
    yuv: np.ndarray
    rgb: np.ndarray | None  # only when a new frame was composed
    repeated: bool
    clean: np.ndarray | None = None  # the frame without captions (only at ``frames(clean_at=...)``)


class FrameComposer:
    """State keys and pixels of single frames of one render (one canvas, one timeline).

    Captions are drawn once, over a transition's mix: the outgoing frame a transition uses is
    the previous scene's last frame *without* its caption (``last_frame``)."""

    def __init__(
        self,
        ctx: RenderContext,
        durations: Sequence[float],
        planner: ScenePlanner,
        *,
        cues: Sequence[Cue] = (),
        caption_style: str = "none",
    ) -> None:
        self.ctx, self.fps, self.planner = ctx, ctx.fps, planner
        self.cues, self.caption_style = cues, caption_style
        self.bounds = scene_frames(durations, ctx.fps)
        self.captions = CaptionSprites(ctx, cues)
        self._last_rgb: dict[int, np.ndarray] = {}  # scene -> its last composed frame (one kept)

    def key(self, plan: ScenePlan, si: int, fi: int, outgoing: np.ndarray | None) -> FrameKey:
        """State key of local frame ``fi`` of scene ``si``: equal keys mean equal pixels."""
        scene = plan.scene
        t = fi / self.fps
        T = (self.bounds[si][0] + fi) / self.fps
        states = tuple(lr.state(t, fi) for lr in plan.upper)
        style, cues = self.caption_style, self.cues
        cap = caption_state(cues, T, style) if style != "none" and cues else None
        trans_p: float | None = None
        if outgoing is not None and scene.transition is not None and t < scene.transition.duration:
            trans_p = round(t / scene.transition.duration, 4)
        return (si, states, cap, trans_p)

    def draw(
        self, plan: ScenePlan, key: FrameKey, outgoing: np.ndarray | None, keep_clean: bool = False
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
            plan.upper[0].into(st0[4], frame)
            first = 1
            local = False
        else:
            frame = plan.background.copy()
        for lr, st in zip(plan.upper[first:], states[first:], strict=True):
            if st is not None:
                dirty = union_rect(dirty, lr.draw(frame, st))
        if trans_p is not None and outgoing is not None and plan.scene.transition is not None:
            # Mix the outgoing scene's last (caption-free) frame into the incoming one.
            frame = TRANSITIONS[plan.scene.transition.type].apply(outgoing, frame, trans_p)
            local = False
        clean = frame
        if cap is not None:
            if keep_clean:
                clean = frame.copy()
            dirty = union_rect(dirty, blend(frame, self.captions.sprite(cap)))
        return frame, local, dirty, clean

    def keep_last(self, si: int, clean: np.ndarray) -> None:
        """Record scene ``si``'s final caption-free frame (the next transition's outgoing frame)."""
        self._last_rgb.clear()
        self._last_rgb[si] = clean

    def last_frame(self, si: int) -> np.ndarray:
        """Scene ``si``'s final frame without captions, composed here when it was not streamed
        (its segment was cached)."""
        if si in self._last_rgb:
            return self._last_rgb[si]
        n = self.bounds[si][1] - self.bounds[si][0]
        plan = self.planner.plan(si)
        try:
            tr = self.ctx.template.scenes[si].transition
            prev_out = None
            if si > 0 and tr is not None and n - 1 < int(round(tr.duration * self.fps)):
                prev_out = self.last_frame(si - 1)
            si_, states, _cap, trans_p = self.key(plan, si, n - 1, prev_out)
            if any(lr.content is not None for lr in plan.upper):
                for lr, st in zip(plan.upper, states, strict=True):  # advance clips to the frame
                    if st is not None and lr.content is not None:
                        lr.content(n - 1)
            return self.draw(plan, (si_, states, None, trans_p), prev_out)[0]  # caption-free
        finally:
            plan.close()

    def segment_frames(
        self, seg: Segment, plan: ScenePlan, outgoing: np.ndarray | None, clean_at: int | None
    ) -> Iterator[FrameOut]:
        """The frames of one segment, composing only when the state key changes."""
        si, fps = seg.scene, self.fps
        g0 = self.bounds[si][0]
        n_scene = self.bounds[si][1] - g0
        prev_key: Any = None
        prev_yuv: np.ndarray | None = None
        for fi in range(seg.first, seg.last):
            T = (g0 + fi) / fps
            key = self.key(plan, si, fi, outgoing)
            want_clean = clean_at == g0 + fi
            if key == prev_key and prev_yuv is not None and not want_clean:
                yield FrameOut(g0 + fi, T, prev_yuv, None, True)
                continue
            # The scene's final frame is the next transition's outgoing frame: keep it clean.
            is_last = fi == n_scene - 1
            frame, local, dirty, clean = self.draw(plan, key, outgoing, keep_clean=want_clean or is_last)
            yuv = i420_update(plan.background_yuv, frame, dirty) if local else to_i420(frame)
            prev_key, prev_yuv = key, yuv
            if is_last:
                self.keep_last(si, clean)
            yield FrameOut(g0 + fi, T, yuv, frame, False, clean if want_clean else None)


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

    ``durations`` are the scenes' lengths in seconds; ``cues`` the caption cues (seconds on the
    ad's timeline) drawn in ``caption_style`` ("none" draws none); ``on_scene(i, n)`` is called as
    scene ``i`` of ``n`` starts. With ``segments`` + ``begin_segment``, each segment is announced
    first; when the callback returns False (already encoded) its frames are skipped and never
    composed. Frame ``clean_at`` (global index; the poster) also carries its pixels without
    captions in ``FrameOut.clean``. Captions are drawn once, over a transition's mix: the
    outgoing frame a transition uses is the previous scene's last frame *without* its caption.
    Raises ``PipelineInputError`` when a layer's media file is missing or unreadable.
    """
    tpl = ctx.template
    segs = (
        list(segments)
        if segments is not None
        else plan_segments(ctx, durations, cues=cues, caption_style=caption_style)
    )
    # Without segment reuse every scene is composed in order: plan the next one meanwhile.
    planner = ScenePlanner(ctx, durations, prefetch=begin_segment is None)
    composer = FrameComposer(ctx, durations, planner, cues=cues, caption_style=caption_style)
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
            plan = planner.get(si)
            outgoing = None
            if tpl.scenes[si].transition is not None and si > 0 and seg.kind == "trans":
                outgoing = composer.last_frame(si - 1)
            yield from composer.segment_frames(seg, plan, outgoing, clean_at)
    finally:
        planner.close()


def still_frame(ctx: RenderContext, durations: Sequence[float], t: float) -> np.ndarray:
    """The RGB frame shown at ``t`` seconds without captions (posters), composing only the
    segment that contains it."""
    fps = ctx.fps
    n_total = scene_frames(durations, fps)[-1][1]
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
