"""Sprites: pixels at a canvas position, and the blends that draw them onto a frame.

A frame is an (H, W, 3) uint8 RGB array; sprites are (h, w, 3) opaque or (h, w, 4) RGBA uint8
arrays placed at integer canvas pixels. Blending rounds exactly like the reference composite
(tests/pipelines/video/test_compose_exact.py).
"""

from __future__ import annotations

import cv2
import numpy as np


class Sprite:
    """Pixels at a canvas position. RGB arrays are opaque; RGBA ones are cropped to their alpha's
    bounding box and get premultiplied uint8 blend planes lazily, only when a blend needs them."""

    __slots__ = ("px", "x", "y", "opaque", "_p8", "_inv8")

    def __init__(self, px: np.ndarray, x: int, y: int, *, crop: bool = True) -> None:
        px = np.ascontiguousarray(px, dtype=np.uint8)
        opaque = px.shape[2] == 3
        if not opaque:
            a = px[:, :, 3]
            if crop:
                rows, cols = np.flatnonzero(a.max(axis=1)), np.flatnonzero(a.max(axis=0))
                if rows.size == 0:
                    px, rows, cols = px[:1, :1] * 0, np.array([0]), np.array([0])
                else:
                    px = px[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
                x, y = x + int(cols[0]), y + int(rows[0])
                a = px[:, :, 3]
            opaque = bool(a.min() == 255)
        self.px, self.x, self.y, self.opaque = px, x, y, opaque
        self._p8: np.ndarray | None = None
        self._inv8: np.ndarray | None = None

    def blend_planes(self) -> tuple[np.ndarray, np.ndarray]:
        """(premultiplied RGB, 255 - alpha per channel) as uint8, for cv2's SIMD arithmetic."""
        if self._p8 is None or self._inv8 is None:
            # round(c * a / 255) == (c * a + 127) // 255 for all uint8 pairs (c * a / 255 is never
            # exactly k + 0.5), computed by cv2 in ~half the time of the uint16 numpy version.
            a = np.ascontiguousarray(self.px[:, :, 3])
            a3 = cv2.merge([a, a, a])
            self._p8 = cv2.multiply(cv2.cvtColor(self.px, cv2.COLOR_RGBA2RGB), a3, scale=1.0 / 255.0)
            self._inv8 = cv2.bitwise_not(a3)
        return self._p8, self._inv8

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, x: int, y: int) -> Sprite:
        return cls(rgba, x, y)

    @property
    def rgba(self) -> np.ndarray:
        if self.px.shape[2] == 4:
            return self.px
        return np.dstack([self.px, np.full(self.px.shape[:2], 255, np.uint8)])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.px.shape[0]), int(self.px.shape[1])

    @property
    def nbytes(self) -> int:
        n = self.px.nbytes
        # Blend planes (2 x RGB uint8) appear once the sprite is blended; count them up front.
        return n if self.opaque else n + self.px.shape[0] * self.px.shape[1] * 6


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def blend(frame: np.ndarray, sp: Sprite, dx: int = 0, dy: int = 0, opacity: float = 1.0) -> Rect | None:
    """Alpha-composite ``sp`` onto ``frame`` (uint8 RGB) in place, clipped to the frame.

    Returns the rectangle of ``frame`` that may have changed (None when nothing was drawn)."""
    H, W = frame.shape[:2]
    h, w = sp.shape
    x0, y0 = sp.x + dx, sp.y + dy
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0 or opacity <= 0.0:
        return None
    sx0, sy0 = cx0 - x0, cy0 - y0
    sx1, sy1 = sx0 + (cx1 - cx0), sy0 + (cy1 - cy0)
    dst = frame[cy0:cy1, cx0:cx1]
    if sp.opaque:
        src_u8 = sp.px[sy0:sy1, sx0:sx1, :3]
        if opacity >= 1.0:
            dst[...] = src_u8
        else:
            cv2.addWeighted(src_u8, opacity, dst, 1.0 - opacity, 0.0, dst=dst)
        return cx0, cy0, cx1, cy1
    p8, inv8 = sp.blend_planes()
    src = p8[sy0:sy1, sx0:sx1]
    inv = inv8[sy0:sy1, sx0:sx1]
    if opacity < 1.0:
        src = cv2.convertScaleAbs(src, alpha=opacity)
        inv = cv2.convertScaleAbs(inv, alpha=opacity, beta=255.0 * (1.0 - opacity))
    # out = src_premultiplied + dst * (1 - alpha), all in uint8 with rounding.
    cv2.add(cv2.multiply(dst, inv, scale=1.0 / 255.0), src, dst=dst)
    return cx0, cy0, cx1, cy1


def union_rect(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def scaled(sp: Sprite, s: float) -> Sprite:
    """A copy of ``sp`` scaled by ``s`` about its centre (for 'pop')."""
    h, w = sp.shape
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    px = cv2.resize(sp.px, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return Sprite(px, sp.x + (w - nw) // 2, sp.y + (h - nh) // 2, crop=False)
