"""Ken Burns: a slow zoom and pan across a still image, as the source window shown per frame.

The image is pre-scaled once by ``zmax = max(zoom_from, zoom_to)`` so it covers the box at the
deepest zoom; each frame shows a window of that source, resized into the box. Zoom 1 shows the
whole box; zoom 1.2 shows 1/1.2 of it (a closer view). Pan moves the window's centre by a
fraction (-1..1) of the free travel on each axis, linearly over the frames.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KenBurns:
    """The zoom/pan path of one layer over ``frames`` frames.

    ``box`` is the layer's (w, h) in canvas px; ``source`` the (width, height) in px of the image
    pre-scaled by ``zmax`` to cover ``box * zmax``."""

    zoom_from: float
    zoom_to: float
    pan_x: float  # -1..1: fraction of the horizontal travel, reached at the last frame
    pan_y: float  # -1..1: same, vertical
    box: tuple[int, int]
    source: tuple[int, int]
    frames: int

    @property
    def zmax(self) -> float:
        return max(self.zoom_from, self.zoom_to)

    def window(self, i: int) -> tuple[int, int, int, int]:
        """(x0, y0, width, height) in source px of the window shown at frame ``i`` (>= 0)."""
        w, h = self.box
        BW, BH = self.source
        zmax = self.zmax
        p = min(1.0, i / max(1, self.frames - 1))
        z = self.zoom_from + (self.zoom_to - self.zoom_from) * p
        # The visible window in source pixels is (w, h) * zmax / z; pan moves its centre.
        vw, vh = min(BW, w * zmax / z), min(BH, h * zmax / z)
        cx = BW / 2 + self.pan_x * p * (BW - vw) / 2
        cy = BH / 2 + self.pan_y * p * (BH - vh) / 2
        x0 = int(round(min(max(0.0, cx - vw / 2), BW - vw)))
        y0 = int(round(min(max(0.0, cy - vh / 2), BH - vh)))
        return x0, y0, max(1, int(round(vw))), max(1, int(round(vh)))
