"""Easing curves: progress p in [0, 1] -> eased progress (Penner / CSS names).

These are the standard closed forms (Robert Penner's easing equations, as used by CSS
``cubic-bezier`` presets, GSAP and After Effects); a curve is picked by name in templates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Easing = Callable[[float], float]


def _clamp(p: float) -> float:
    return 0.0 if p <= 0.0 else 1.0 if p >= 1.0 else p


def linear(p: float) -> float:
    return _clamp(p)


def ease_in(p: float) -> float:
    p = _clamp(p)
    return p * p * p


def ease_out(p: float) -> float:
    p = _clamp(p)
    return 1 - (1 - p) ** 3


def ease_in_out(p: float) -> float:
    p = _clamp(p)
    return 4 * p * p * p if p < 0.5 else 1 - (-2 * p + 2) ** 3 / 2


def ease_out_back(p: float) -> float:
    """Overshoots slightly past 1 before settling (a 'pop')."""
    p = _clamp(p)
    c1 = 1.70158
    return 1 + (c1 + 1) * (p - 1) ** 3 + c1 * (p - 1) ** 2


def sine_in_out(p: float) -> float:
    p = _clamp(p)
    return -(math.cos(math.pi * p) - 1) / 2


EASINGS: dict[str, Easing] = {
    "linear": linear,
    "ease_in": ease_in,
    "ease_out": ease_out,
    "ease_in_out": ease_in_out,
    "back_out": ease_out_back,
    "sine_in_out": sine_in_out,
}
EASING_NAMES = tuple(EASINGS)
