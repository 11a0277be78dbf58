"""Template colour strings -> RGBA tuples: a thin adapter over the one parser (``_common/colors.py``).

Accepts #RGB, #RGBA, #RRGGBB, #RRGGBBAA, rgb()/rgba(), hsl()/hsv(), CSS, English and Vietnamese names.
"""

from __future__ import annotations

from functools import lru_cache

from pipelines._common.colors import parse_rgba
from pipelines._common.errors import PipelineInputError


@lru_cache(maxsize=512)
def parse_color(value: str) -> tuple[int, int, int, int]:
    """Parse a colour to (r, g, b, a) ints 0..255; raises ValueError naming the accepted forms."""
    try:
        return parse_rgba(value)
    except PipelineInputError:
        raise ValueError(f"invalid colour {value!r}; use #RGB, #RRGGBB, #RRGGBBAA or a CSS colour name") from None
