"""Colour strings -> RGBA tuples (#RGB, #RRGGBB, #RRGGBBAA, CSS names via PIL)."""

from __future__ import annotations

from functools import lru_cache

from PIL import ImageColor


@lru_cache(maxsize=512)
def parse_color(value: str) -> tuple[int, int, int, int]:
    """Parse a colour; raises ValueError naming the accepted forms."""
    text = value.strip()
    try:
        rgba = ImageColor.getrgb(text)
    except ValueError:
        raise ValueError(f"invalid colour {value!r}; use #RGB, #RRGGBB, #RRGGBBAA or a CSS colour name") from None
    if len(rgba) == 3:
        return (rgba[0], rgba[1], rgba[2], 255)
    return (rgba[0], rgba[1], rgba[2], rgba[3])
