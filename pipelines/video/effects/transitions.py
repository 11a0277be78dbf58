"""Scene transitions: small classes mixing the outgoing frame into the incoming one.

``apply(prev, cur, p)`` takes two RGB frames of the same size (uint8 HxWx3) and progress p in
[0, 1) and returns a new frame; neither input is modified. Captions are drawn after a
transition (over the mix), so a caption never appears twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from pipelines.video.effects.easing import ease_in_out, ease_out


@dataclass(frozen=True)
class Crossfade:
    def apply(self, prev: np.ndarray, cur: np.ndarray, p: float) -> np.ndarray:
        return cv2.addWeighted(prev, 1.0 - p, cur, p, 0.0)


@dataclass(frozen=True)
class Slide:
    """Push: the new scene slides in from one side while the old one leaves by the other."""

    direction: str  # "left", "right", "up", "down": where the frames travel

    def apply(self, prev: np.ndarray, cur: np.ndarray, p: float) -> np.ndarray:
        e = ease_out(p)
        H, W = cur.shape[:2]
        out = np.empty_like(cur)
        if self.direction in ("left", "right"):
            off = int(round(e * W))
            if self.direction == "left":
                out[:, : W - off] = prev[:, off:]
                out[:, W - off :] = cur[:, :off]
            else:
                out[:, off:] = prev[:, : W - off]
                out[:, :off] = cur[:, W - off :]
        else:
            off = int(round(e * H))
            if self.direction == "up":
                out[: H - off] = prev[off:]
                out[H - off :] = cur[:off]
            else:
                out[off:] = prev[: H - off]
                out[:off] = cur[H - off :]
        return out


@dataclass(frozen=True)
class Wipe:
    """A soft-edged wipe from left to right revealing the new scene in place."""

    softness: float = 0.08  # edge width as a fraction of the frame width

    def apply(self, prev: np.ndarray, cur: np.ndarray, p: float) -> np.ndarray:
        H, W = cur.shape[:2]
        e = ease_in_out(p)
        soft = max(1, int(self.softness * W))
        edge = e * (W + soft) - soft
        ramp = np.clip((edge + soft - np.arange(W, dtype=np.float32)) / soft, 0.0, 1.0)
        a = np.broadcast_to(ramp[None, :, None], cur.shape)
        return (cur.astype(np.float32) * a + prev.astype(np.float32) * (1 - a) + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class ZoomThrough:
    """The old scene grows and fades while the new one settles from slightly larger."""

    def apply(self, prev: np.ndarray, cur: np.ndarray, p: float) -> np.ndarray:
        e = ease_in_out(p)
        big = _zoom(prev, 1.0 + 0.25 * e)
        inc = _zoom(cur, 1.12 - 0.12 * e)
        return cv2.addWeighted(big, 1.0 - e, inc, e, 0.0)


def _zoom(img: np.ndarray, s: float) -> np.ndarray:
    """Centre zoom by ``s`` >= 1 keeping the size (crop then resize)."""
    if s <= 1.0001:
        return img
    H, W = img.shape[:2]
    cw, ch = int(round(W / s)), int(round(H / s))
    x0, y0 = (W - cw) // 2, (H - ch) // 2
    return cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_LINEAR)


class SceneTransition(Protocol):
    def apply(self, prev: np.ndarray, cur: np.ndarray, p: float) -> np.ndarray: ...


TRANSITIONS: dict[str, SceneTransition] = {
    "crossfade": Crossfade(),
    "slide_left": Slide("left"),
    "slide_right": Slide("right"),
    "slide_up": Slide("up"),
    "slide_down": Slide("down"),
    "wipe": Wipe(),
    "zoom": ZoomThrough(),
}
