"""The unit every layer effect produces: a transform at one instant, composed by folding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Transform:
    """Opacity multiplier, offset (canvas px, float) and scale about the sprite's centre."""

    opacity: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0

    def then(self, other: Transform) -> Transform:
        """Both transforms at once: opacities and scales multiply, offsets add."""
        return Transform(
            self.opacity * other.opacity, self.dx + other.dx, self.dy + other.dy, self.scale * other.scale
        )


IDENTITY = Transform()


class LayerEffect(Protocol):
    """A time-dependent transform of one layer. ``t`` is seconds since the layer started;
    returns None while the effect hides the layer (before an entrance, after an exit)."""

    def at(self, t: float) -> Transform | None: ...

    @property
    def moving(self) -> bool:
        """True when the transform changes during the layer's whole life (never settles)."""
        ...


def fold(effects: list[LayerEffect], t: float) -> Transform | None:
    """Compose effects at ``t``; None as soon as one hides the layer."""
    out = IDENTITY
    for eff in effects:
        tr = eff.at(t)
        if tr is None:
            return None
        out = out.then(tr)
    return out
