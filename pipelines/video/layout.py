"""Where a layer goes on a given canvas: its box resolved against the safe area or full frame."""

from __future__ import annotations

from typing import Any

from pipelines.video.specs import REFERENCE_SHORT_SIDE, canvas_size, safe_rect


def px_scale(fmt: str, scale: float) -> float:
    """Multiplier from template px (at a 1080 short side) to this canvas's pixels."""
    w, h = canvas_size(fmt, scale)
    return min(w, h) / REFERENCE_SHORT_SIDE


def region_rect(region: str, fmt: str, scale: float) -> tuple[int, int, int, int]:
    """The safe area or the full canvas as (x, y, w, h)."""
    w, h = canvas_size(fmt, scale)
    return safe_rect(fmt, w, h) if region == "safe" else (0, 0, w, h)


def layer_rect(layer: Any, fmt: str, scale: float) -> tuple[int, int, int, int] | None:
    """Pixel rect of a layer on ``fmt`` at ``scale``; None when hidden on that format."""
    box, region = layer.box, layer.region
    override = layer.formats.get(fmt) if getattr(layer, "formats", None) else None
    if override is not None:
        if override.hidden:
            return None
        box = override.box or box
        region = override.region or region
    rx, ry, rw, rh = region_rect(region, fmt, scale)
    x = rx + int(round(box.x * rw))
    y = ry + int(round(box.y * rh))
    return x, y, max(1, int(round(box.w * rw))), max(1, int(round(box.h * rh)))
