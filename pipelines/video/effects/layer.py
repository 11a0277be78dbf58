"""Layer effects: entrances, exits, keyframes and continuous motion, each a small class.

Each effect maps local time (seconds since the layer appeared) to a ``Transform``; a layer's
effects are folded in order (``base.fold``). Offsets are canvas pixels; template lengths are px
at a 1080 short side, so the builders take ``k`` (canvas px per template px).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.video.effects.base import IDENTITY, LayerEffect, Transform
from pipelines.video.effects.easing import EASINGS, ease_out, ease_out_back


def _enter_curve(kind: str, p: float, w: int, h: int, ease: str | None) -> Transform:
    """Transform of an entrance at progress p in [0, 1] (1 = fully in); w, h = canvas size."""
    p = min(1.0, max(0.0, p))
    e = EASINGS[ease](p) if ease else ease_out(p)
    travel_x, travel_y = int(0.25 * w), int(0.12 * h)
    if kind == "fade":
        return Transform(e)
    if kind == "slide_up":
        return Transform(min(1.0, e * 1.5), 0, int(round((1 - e) * travel_y)))
    if kind == "slide_down":
        return Transform(min(1.0, e * 1.5), 0, -int(round((1 - e) * travel_y)))
    if kind == "slide_left":
        return Transform(min(1.0, e * 1.5), int(round((1 - e) * travel_x)), 0)
    if kind == "slide_right":
        return Transform(min(1.0, e * 1.5), -int(round((1 - e) * travel_x)), 0)
    if kind == "zoom_in":  # settles from slightly larger: a camera-push feel
        return Transform(min(1.0, e * 1.5), 0, 0, round(1.0 + 0.18 * (1 - e), 3))
    if kind == "zoom_out":  # grows from smaller without overshoot
        return Transform(min(1.0, e * 1.5), 0, 0, round(0.82 + 0.18 * e, 3))
    # pop: grows with a slight overshoot
    return Transform(min(1.0, p * 3), 0, 0, round(max(0.05, 0.6 + 0.4 * ease_out_back(p)), 3))


@dataclass(frozen=True)
class Enter:
    """Entrance: hidden before ``delay``, animates over ``duration``, then identity."""

    kind: str
    duration: float
    delay: float
    canvas: tuple[int, int]
    ease: str | None = None
    moving: bool = False

    def at(self, t: float) -> Transform | None:
        p = (t - self.delay) / self.duration
        if p < 0:
            return None
        if p >= 1:
            return IDENTITY
        return _enter_curve(self.kind, p, *self.canvas, self.ease)


@dataclass(frozen=True)
class Exit:
    """Exit: the mirror of an entrance, finishing ``delay`` s before the layer ends at ``end``."""

    kind: str
    duration: float
    delay: float
    end: float  # local time the layer disappears
    canvas: tuple[int, int]
    ease: str | None = None
    moving: bool = False

    def at(self, t: float) -> Transform | None:
        p = (self.end - self.delay - t) / self.duration
        if p <= 0:
            return None
        if p >= 1:
            return IDENTITY
        tr = _enter_curve(self.kind, p, *self.canvas, self.ease)
        return Transform(tr.opacity, -tr.dx, -tr.dy, tr.scale)


@dataclass(frozen=True)
class Key:
    """One keyframe: values reached at ``t`` by the curve ``ease`` from the previous key."""

    t: float
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    opacity: float = 1.0
    ease: str = "ease_in_out"


@dataclass(frozen=True)
class Keyframes:
    """Piecewise-eased position/scale/opacity; holds the first/last key outside their range."""

    keys: tuple[Key, ...]
    moving: bool = False

    def at(self, t: float) -> Transform | None:
        ks = self.keys
        if not ks:
            return IDENTITY
        if t <= ks[0].t:
            k = ks[0]
            return Transform(k.opacity, k.dx, k.dy, k.scale)
        for a, b in zip(ks, ks[1:], strict=False):
            if t < b.t:
                e = EASINGS[b.ease]((t - a.t) / max(1e-9, b.t - a.t))
                return Transform(
                    a.opacity + (b.opacity - a.opacity) * e,
                    a.dx + (b.dx - a.dx) * e,
                    a.dy + (b.dy - a.dy) * e,
                    a.scale + (b.scale - a.scale) * e,
                )
        k = ks[-1]
        return Transform(k.opacity, k.dx, k.dy, k.scale)


@dataclass(frozen=True)
class Drift:
    """Slow travel across the layer's life: ``distance`` px at ``angle`` degrees (0 = right, 90 = down)."""

    distance: float
    angle: float
    life: float
    moving: bool = True

    def at(self, t: float) -> Transform | None:
        p = EASINGS["sine_in_out"](t / max(1e-6, self.life)) - 0.5
        rad = math.radians(self.angle)
        return Transform(1.0, p * self.distance * math.cos(rad), p * self.distance * math.sin(rad))


@dataclass(frozen=True)
class Zoom:
    """Turntable-style zoom: scale 1 -> 1 + ``amount`` over the life, with a gentle sideways
    sway of ``sway`` px every ``period`` seconds (a product turning on a stand)."""

    amount: float
    life: float
    sway: float = 0.0
    period: float = 4.0
    moving: bool = True

    def at(self, t: float) -> Transform | None:
        s = 1.0 + self.amount * EASINGS["sine_in_out"](t / max(1e-6, self.life))
        dx = self.sway * math.sin(2 * math.pi * t / self.period) if self.sway else 0.0
        return Transform(1.0, dx, 0.0, s)


@dataclass(frozen=True)
class Float:
    """Bobbing up and down by ``distance`` px with a matching breath in scale (``amount``)."""

    distance: float
    amount: float
    period: float = 3.0
    moving: bool = True

    def at(self, t: float) -> Transform | None:
        ph = 2 * math.pi * t / self.period
        return Transform(1.0, 0.0, -self.distance * math.sin(ph), 1.0 + self.amount * (1 - math.cos(ph)) / 2)


def motion_effect(
    kind: str, amount: float, distance: float, angle: float, period: float, life: float, k: float
) -> Drift | Zoom | Float:
    """The continuous motion preset ``kind`` (drift, zoom, turntable, float); lengths in template px."""
    if kind == "drift":
        return Drift(distance * k, angle, life)
    if kind == "zoom":
        return Zoom(amount, life)
    if kind == "turntable":
        return Zoom(amount, life, sway=distance * k * 0.5, period=period)
    if kind == "float":
        return Float(distance * k, amount, period)
    raise ValueError(f"unknown motion {kind!r}; allowed: drift, zoom, turntable, float")


def keyframes_effect(keys: Sequence[Any], k: float) -> Keyframes:
    """Keyframes from template keys (``t``, ``x``, ``y`` in template px, ``scale``, ``opacity``, ``ease``)."""
    out = [
        Key(
            float(key.t),
            float(key.x) * k,
            float(key.y) * k,
            float(key.scale),
            float(key.opacity),
            str(key.ease),
        )
        for key in keys
    ]
    out.sort(key=lambda x: x.t)
    moving = len(out) > 1
    return Keyframes(tuple(out), moving=moving)


def layer_effects(
    layer: Any, start: float, end: float, duration: float, canvas: tuple[int, int], k: float
) -> list[LayerEffect]:
    """The effect objects of a layer, in fold order: keyframes, motion, entrance, exit.

    ``start``/``end`` are scene seconds (``end`` >= 1e9: until the scene ends); effects see local
    time (seconds since the layer appeared). ``layer`` is a template layer (its ``keyframes``,
    ``motion``, ``enter``, ``exit`` and ``opacity`` fields); ``canvas`` is (W, H) px and ``k`` canvas px
    per template px."""
    effs: list[LayerEffect] = []
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
