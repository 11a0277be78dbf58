"""Colour parsing: hex, rgb(), CSS/English, Vietnamese (with/without diacritics), palettes, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines._common.colors import NamedColor, delta_e00, load_palettes, parse_color
from pipelines._common.errors import PipelineInputError


def test_hex_and_rgb_forms() -> None:
    c = parse_color("#1e5aa8")
    assert isinstance(c, NamedColor)
    assert c.hex == "#1E5AA8" and c.rgb == (30, 90, 168)
    assert abs(c.lab[0] - 38.58) < 0.05  # CIELAB D65 via scikit-image
    assert parse_color("#abc").rgb == (170, 187, 204)
    assert parse_color("rgb(30, 90, 168)").hex == "#1E5AA8"
    assert parse_color("rgb(100%, 0%, 0%)").rgb == (255, 0, 0)
    assert parse_color("  RGB(0 0 0) ").rgb == (0, 0, 0)


@pytest.mark.parametrize(
    ("spec", "hex_"),
    [("navy", "#000080"), ("Dark Blue", "#00008B"), ("dark-blue", "#00008B"), ("burgundy", "#800020"),
     ("xanh dương", "#1E5AA8"), ("xanh duong", "#1E5AA8"), ("Xanh Dương", "#1E5AA8"), ("đỏ", "#D7261E"),
     ("do", "#D7261E"), ("xanh lá", "#2E9E44"), ("xanh la", "#2E9E44"), ("xanh navy", "#1F2A55"),
     ("vàng", "#FFD21F"), ("vang", "#FFD21F"), ("cam", "#FF7F11"), ("hồng", "#F48FB1"), ("tím", "#7E3FA0"),
     ("nâu", "#7B4A2D"), ("đen", "#111111"), ("den", "#111111"), ("trắng", "#FAFAFA"), ("xám", "#8A8A8A"),
     ("be", "#E8D8B8"), ("kem", "#FFF6D8")],
)
def test_names(spec: str, hex_: str) -> None:
    assert parse_color(spec).hex == hex_


def test_decomposed_unicode_input_matches() -> None:
    import unicodedata

    assert parse_color(unicodedata.normalize("NFD", "xanh dương")).name == "xanh dương"


def test_palettes_bundled_and_custom(tmp_path: Path) -> None:
    pals = load_palettes()
    assert "acme" in pals and pals["acme"]["ocean"] == "#1E5AA8"
    assert parse_color("acme:ocean").name == "acme:ocean"
    assert parse_color("ACME:Ocean").hex == "#1E5AA8"
    assert parse_color("lotus-ceramics:men-lam").hex == "#2C4F8C"
    (tmp_path / "shoe.yaml").write_text("name: shoe\ncolourways:\n  deep sea: '#102030'\n", encoding="utf-8")
    custom = load_palettes(tmp_path)
    assert custom == {"shoe": {"deep sea": "#102030"}}
    assert parse_color("shoe:deep_sea", palettes=custom).rgb == (16, 32, 48)


def test_bad_palette_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("colourways:\n  a: 'not-a-hex'\n", encoding="utf-8")
    with pytest.raises(PipelineInputError, match="hex"):
        load_palettes(tmp_path)


def test_unknown_colour_lists_close_matches() -> None:
    with pytest.raises(PipelineInputError) as ei:
        parse_color("blu")
    assert "did you mean" in str(ei.value) and "blue" in str(ei.value)
    assert ei.value.field == "color"
    with pytest.raises(PipelineInputError, match="xanh"):
        parse_color("xanh duongg")
    with pytest.raises(PipelineInputError, match="ocean"):
        parse_color("acme:oceann")
    with pytest.raises(PipelineInputError, match="palette"):
        parse_color("nope:ocean")


@pytest.mark.parametrize("spec", ["", "   ", "#12345", "rgb(1,2)", "rgb(300,0,0)", "rgb(a,b,c)", "qqqqzzzz"])
def test_malformed(spec: str) -> None:
    with pytest.raises(PipelineInputError):
        parse_color(spec)


def test_delta_e00() -> None:
    assert delta_e00((50.0, 10.0, 10.0), (50.0, 10.0, 10.0)) == 0.0
    assert abs(delta_e00(parse_color("black").lab, parse_color("white").lab) - 100.0) < 0.01
    # Sharma et al. (2005) CIEDE2000 test pair 1
    assert abs(delta_e00((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)) - 2.0425) < 1e-3
