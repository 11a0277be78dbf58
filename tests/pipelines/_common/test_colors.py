"""One colour parser (pipelines/_common/colors.py) serves recolor, personalization and video."""

from __future__ import annotations

import pytest
from PIL import ImageColor

from pipelines._common.colors import parse_color, parse_rgba
from pipelines._common.errors import PipelineInputError
from pipelines.video.colors import parse_color as video_color


def _pil(spec: str) -> tuple[int, ...]:
    rgba = ImageColor.getrgb(spec.strip())
    return tuple(rgba) + (255,) if len(rgba) == 3 else tuple(rgba)


def test_video_colours_are_the_one_parser_with_alpha():
    # Every CSS name Pillow knows, and every notation templates use, gives what it gave before
    # (Pillow's ImageColor) through the shared parser.
    for name in ImageColor.colormap:
        assert video_color(name) == _pil(name), name
    for spec in ("#5A0008C0", "#00000080", "#FFF", "#fff8", "rgb(10,20,30)", "rgba(10,20,30,128)",
                 "hsl(120,100%,50%)", "hsv(0,100%,100%)", " #FFD400 ", "RGB(1,2,3)", "DarkBlue"):
        assert video_color(spec) == _pil(spec), spec
        if len(spec.strip()) not in (5, 9) and not spec.startswith("rgba"):  # no alpha: same colour as recolor's
            assert parse_rgba(spec)[:3] == parse_color(spec).rgb
    # and it now understands what recolor understands (Vietnamese names, no-diacritic forms)
    assert video_color("đỏ") == video_color("do") == parse_rgba("đỏ")


def test_video_colour_errors_name_the_forms():
    with pytest.raises(ValueError, match="invalid colour 'not-a-colour'; use #RGB"):
        video_color("not-a-colour")
    with pytest.raises(PipelineInputError, match="alpha 300 outside 0..255"):
        parse_rgba("rgba(1,2,3,300)")
