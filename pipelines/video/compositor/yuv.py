"""RGB -> yuv420p for the encoder, whole frames or patched in a dirty rectangle."""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.video.compositor.sprite import Rect


def to_i420(rgb: np.ndarray) -> np.ndarray:
    """Full-frame RGB -> yuv420p (BT.601 limited range, OpenCV), the encoder's input format."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def i420_update(base: np.ndarray, rgb: np.ndarray, rect: Rect | None) -> np.ndarray:
    """yuv420p of ``rgb`` given ``base`` = yuv420p of a frame that equals ``rgb`` outside ``rect``.

    Only the rectangle (widened to even coordinates, since chroma is per 2x2 block) is
    converted; OpenCV's I420 conversion is local to each 2x2 block, so the result is identical
    to ``to_i420(rgb)``. Returns a new buffer (``base`` is not modified).
    """
    out = base.copy()
    if rect is None:
        return out
    H, W = rgb.shape[:2]
    x0, y0 = rect[0] & ~1, rect[1] & ~1
    x1, y1 = min(W, (rect[2] + 1) & ~1), min(H, (rect[3] + 1) & ~1)
    if x1 <= x0 or y1 <= y0:
        return out
    h, w = y1 - y0, x1 - x0
    sub = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2YUV_I420)
    q = h * w // 4
    chroma = sub[h:].reshape(-1)
    Y = out[:H]
    U = out[H:].reshape(-1)[: H * W // 4].reshape(H // 2, W // 2)
    V = out[H:].reshape(-1)[H * W // 4 :].reshape(H // 2, W // 2)
    Y[y0:y1, x0:x1] = sub[:h]
    U[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = chroma[:q].reshape(h // 2, w // 2)
    V[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = chroma[q:].reshape(h // 2, w // 2)
    return out
