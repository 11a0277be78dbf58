"""The poster: which frame it shows (``poster_time``) and its PNG encoding."""

from __future__ import annotations

import io
from typing import Any

from pipelines.video.template import Template


def poster_png(rgb: Any) -> bytes:
    """PNG bytes of a composed, caption-free HxWx3 uint8 RGB frame (fast zlib level: it runs beside x264)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def poster_time(tpl: Template, durations: list[float]) -> float:
    """Poster frame time (seconds): template's ``poster_at``, else when the first scene's entrances have finished."""
    total = sum(durations)
    if tpl.poster_at is not None:
        return min(tpl.poster_at, max(0.0, total - 0.05))
    settle = 0.5
    for layer in tpl.scenes[0].layers:
        if layer.enter is not None:
            settle = max(settle, layer.start + layer.enter.delay + layer.enter.duration + 0.1)
    return min(settle, durations[0] * 0.9)


def total_frames(durations: list[float], fps: int) -> int:
    """Frames in a timeline of ``durations`` seconds at ``fps``."""
    return int(round(sum(durations) * fps))
