"""Prompt building, colour words, working size, compositing and Canny edges."""

from __future__ import annotations

import numpy as np

from pipelines._common.colors import parse_color
from pipelines.recolor.diffusion_image import (
    build_prompt,
    canny_edges,
    color_words,
    composite,
    flatten_chroma,
    working_size,
)


def test_prompt_has_colour_material_taste_and_extra() -> None:
    p = build_prompt("burgundy", mode="texture", material="matte leather", taste_keywords=["minimal", " luxe "],
                     prompt_extra="soft daylight")
    for word in ("burgundy matte leather", "minimal, luxe", "matte leather texture", "soft daylight"):
        assert word in p, p
    scene = build_prompt("mint", mode="scene", scene_prompt="marble kitchen counter")
    assert "mint marble kitchen counter" in scene and "surface" not in scene


def test_colour_words_for_hex_and_vietnamese() -> None:
    assert color_words("burgundy", parse_color("burgundy").lab) == "burgundy"
    assert color_words("darkslateblue", parse_color("darkslateblue").lab) == "dark slate blue"
    red = parse_color("đỏ")
    assert "red" in color_words(red.name, red.lab)
    gold = parse_color("#F6C318")
    assert color_words(gold.name, gold.lab) in ("gold", "mustard")


def test_working_size_keeps_aspect_and_multiple() -> None:
    assert working_size(1000, 500, 512, 64) == (512, 256)
    assert working_size(64, 64, 64, 8) == (64, 64)
    w, h = working_size(1080, 1920, 768, 64)
    assert w % 64 == 0 and h % 64 == 0 and h == 768


def test_composite_keeps_zero_weight_pixels_exactly() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    w = np.zeros((16, 16), np.float32)
    w[4:12, 4:12] = 1.0
    w[3, 3:13] = 0.5
    out = composite(a, b, w)
    assert np.array_equal(out[w == 0], a[w == 0])
    assert np.array_equal(out[w == 1], b[w == 1])
    mid = out[3, 5].astype(int)
    assert np.all(np.abs(mid - (a[3, 5].astype(int) + b[3, 5].astype(int)) / 2) <= 1)


def test_flatten_chroma_removes_colour_noise_keeps_lightness() -> None:
    import cv2

    rng = np.random.default_rng(1)
    img = rng.integers(60, 200, (20, 20, 3), dtype=np.uint8)
    w = np.zeros((20, 20), np.float32)
    w[5:15, 5:15] = 1.0
    flat = flatten_chroma(img, w)
    assert np.array_equal(flat[w == 0], img[w == 0])
    lab_in = cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[w == 1]
    lab_out = cv2.cvtColor(flat.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[w == 1]
    assert lab_out[:, 1:].std(axis=0).max() < 1.5 < lab_in[:, 1:].std(axis=0).min()
    assert np.corrcoef(lab_in[:, 0], lab_out[:, 0])[0, 1] > 0.95


def test_canny_edges_outline_a_square() -> None:
    img = np.zeros((32, 32, 3), np.uint8)
    img[8:24, 8:24] = 255
    edges = canny_edges(img)
    assert edges.shape == (32, 32, 3) and edges.dtype == np.uint8
    assert edges[8:24, 7:9].any() and not edges[12:20, 12:20].any() and not edges[:4].any()
