"""Composable effects: easing curves, layer effects (enter/exit/keyframes/motion), transitions.

A layer's look at time t is ``fold(effects, t)``: each effect is a small frozen class with an
``at(t) -> Transform | None`` method, so new animations are new classes, not new branches in
the compositor. ``layer_effects`` builds a template layer's list; ``KenBurns`` is the zoom/pan path
of a still image. Transitions are classes with ``apply(prev, cur, p)``.
"""

from pipelines.video.effects.base import IDENTITY, LayerEffect, Transform, fold
from pipelines.video.effects.easing import EASING_NAMES, EASINGS
from pipelines.video.effects.ken_burns import KenBurns
from pipelines.video.effects.layer import (
    Drift,
    Enter,
    Exit,
    Float,
    Key,
    Keyframes,
    Zoom,
    keyframes_effect,
    layer_effects,
    motion_effect,
)
from pipelines.video.effects.transitions import TRANSITIONS, Crossfade, Slide, Wipe, ZoomThrough

__all__ = [
    "EASINGS",
    "EASING_NAMES",
    "IDENTITY",
    "TRANSITIONS",
    "Crossfade",
    "Drift",
    "Enter",
    "Exit",
    "Float",
    "KenBurns",
    "Key",
    "Keyframes",
    "LayerEffect",
    "Slide",
    "Transform",
    "Wipe",
    "Zoom",
    "ZoomThrough",
    "fold",
    "keyframes_effect",
    "layer_effects",
    "motion_effect",
]
