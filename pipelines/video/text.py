"""Text layout and rasterisation with PIL: wrap, auto-fit to a box, stroke, shadow, background.

Sizes are template px at a 1080 short side; ``scale`` converts to canvas pixels. The bundled
Be Vietnam Pro font covers Vietnamese, and line pitch uses the font's real ascent/descent so
stacked diacritics (Ế, Ỗ) and descenders are never clipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pipelines._common.fonts import font_path
from pipelines.video.colors import parse_color


@lru_cache(maxsize=128)
def _font_at(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=max(px, 4))


def _font(weight: str, px: int, font_file: str | None = None) -> ImageFont.FreeTypeFont:
    """The brand font file when given, else the bundled family in ``weight``."""
    return _font_at(font_file or str(font_path(weight)), px)


def _length(font: ImageFont.FreeTypeFont, text: str, spacing: float) -> float:
    """Advance width of ``text`` with ``spacing`` px added between letters."""
    if not spacing:
        return float(font.getlength(text))
    return float(sum(font.getlength(ch) for ch in text) + spacing * max(0, len(text) - 1))


@dataclass(frozen=True)
class TextFit:
    """Outcome of fitting text in a box: chosen size (template px), wrapped lines, overflow flag."""

    size: float
    lines: tuple[tuple[str, ...], ...]
    overflow: bool
    lines_needed: int


def _wrap(
    words: list[str], font: ImageFont.FreeTypeFont, width: float, spacing: float = 0.0
) -> tuple[list[list[str]], bool]:
    """Greedy word wrap; second value is False when a single word is wider than ``width``."""
    lines: list[list[str]] = []
    cur: list[str] = []
    fits = True
    for word in words:
        trial = " ".join([*cur, word])
        if not cur or _length(font, trial, spacing) <= width:
            cur.append(word)
        else:
            lines.append(cur)
            cur = [word]
        if _length(font, word, spacing) > width:
            fits = False
    if cur:
        lines.append(cur)
    return lines, fits


def _block_height(font: ImageFont.FreeTypeFont, n: int, spacing: float) -> tuple[float, float, int]:
    ascent, descent = font.getmetrics()
    pitch = max(font.size * spacing, ascent + descent * 0.6)
    return (n - 1) * pitch + ascent + descent, pitch, ascent


def _insets(layer: Any, k: float) -> float:
    pad = 0.0
    if getattr(layer, "background", None) is not None:
        pad += layer.background.padding * k
    if getattr(layer, "stroke", None) is not None:
        pad += layer.stroke.width * k
    return pad


def fit_text(layer: Any, box_w: int, box_h: int, *, scale: float, font_file: str | None = None) -> TextFit:
    """Largest size from ``layer.size`` down to ``layer.min_size`` whose wrap fits the box
    (``font_file``: a template's brand font, else the bundled family)."""
    text = layer.text.upper() if getattr(layer, "uppercase", False) else layer.text
    words = text.split()
    if not words:
        return TextFit(layer.size, (), False, 0)
    inset = _insets(layer, scale)
    avail_w, avail_h = box_w - 2 * inset, box_h - 2 * inset
    size = float(layer.size)
    step = max(1.0, layer.size * 0.04)
    last: tuple[list[list[str]], int] = ([], 0)
    while True:
        font = _font(layer.font_weight, int(round(size * scale)), font_file)
        lines, words_fit = _wrap(words, font, avail_w, getattr(layer, "letter_spacing", 0.0) * scale)
        height, _, _ = _block_height(font, len(lines), layer.line_spacing)
        last = (lines, len(lines))
        if words_fit and len(lines) <= layer.max_lines and height <= avail_h:
            return TextFit(size, tuple(tuple(ln) for ln in lines), False, len(lines))
        if size <= layer.min_size:
            return TextFit(layer.min_size, tuple(tuple(ln) for ln in last[0]), True, last[1])
        size = max(float(layer.min_size), size - step)


@dataclass(frozen=True)
class TextSprite:
    """RGBA pixels of a rendered text layer and where its top-left sits relative to the box."""

    rgba: np.ndarray
    dx: int
    dy: int
    fit: TextFit


def render_text(
    layer: Any,
    box_w: int,
    box_h: int,
    *,
    scale: float,
    highlight_word: int | None = None,
    highlight_color: str | None = None,
    font_file: str | None = None,
) -> TextSprite:
    """Rasterise a text layer into its box (the sprite may extend past it by shadow/padding)."""
    fit = fit_text(layer, box_w, box_h, scale=scale, font_file=font_file)
    font = _font(layer.font_weight, int(round(fit.size * scale)), font_file)
    spacing = getattr(layer, "letter_spacing", 0.0) * scale
    height, pitch, ascent = _block_height(font, max(1, len(fit.lines)), layer.line_spacing)
    stroke_w = int(round(layer.stroke.width * scale)) if layer.stroke else 0
    shadow = layer.shadow
    pad_bg = layer.background.padding * scale if layer.background else 0.0
    shadow_ext = (abs(shadow.dx) + abs(shadow.dy) + 2 * shadow.blur) * scale if shadow else 0.0
    margin = int(round(pad_bg + stroke_w + shadow_ext)) + 2
    W, H = box_w + 2 * margin, box_h + 2 * margin
    inset = _insets(layer, scale)
    if layer.valign == "top":
        top = margin + inset
    elif layer.valign == "bottom":
        top = margin + box_h - inset - height
    else:
        top = margin + (box_h - height) / 2

    line_widths = [_length(font, " ".join(ln), spacing) for ln in fit.lines]
    xs = []
    for lw in line_widths:
        if layer.align == "left":
            xs.append(margin + inset)
        elif layer.align == "right":
            xs.append(margin + box_w - inset - lw)
        else:
            xs.append(margin + (box_w - lw) / 2)

    canvas = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    if layer.background is not None and fit.lines:
        pad = layer.background.padding * scale
        x0 = min(xs) - pad
        x1 = max(x + w for x, w in zip(xs, line_widths, strict=True)) + pad
        ImageDraw.Draw(canvas).rounded_rectangle(
            (x0, top - pad, x1, top + height + pad),
            radius=layer.background.radius * scale,
            fill=parse_color(layer.background.color),
        )

    def draw_words(draw: ImageDraw.ImageDraw, color: tuple[int, ...] | int, with_stroke: bool) -> None:
        idx = 0
        space = font.getlength(" ") + spacing
        for li, line in enumerate(fit.lines):
            x = xs[li]
            y = top + li * pitch + ascent
            for word in line:
                fill = color
                if highlight_word is not None and idx == highlight_word and highlight_color and with_stroke:
                    fill = parse_color(highlight_color)
                # Letter spacing: letters one by one (kerning is dropped, as in CSS letter-spacing).
                pieces = list(word) if spacing else [word]
                cx = x
                for piece in pieces:
                    draw.text(
                        (cx, y),
                        piece,
                        font=font,
                        fill=fill,
                        anchor="ls",
                        stroke_width=stroke_w if with_stroke and layer.stroke else 0,
                        stroke_fill=parse_color(layer.stroke.color) if layer.stroke else None,
                    )
                    cx += font.getlength(piece) + spacing
                x += _length(font, word, spacing) + space
                idx += 1

    if shadow is not None:
        sh = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        draw_words(ImageDraw.Draw(sh), parse_color(shadow.color), False)
        if shadow.blur > 0:
            sh = sh.filter(ImageFilter.GaussianBlur(shadow.blur * scale / 2))
        shifted = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        shifted.paste(sh, (int(round(shadow.dx * scale)), int(round(shadow.dy * scale))))
        canvas = Image.alpha_composite(canvas, shifted)
    draw_words(ImageDraw.Draw(canvas), parse_color(layer.color), True)
    gradient = getattr(layer, "gradient", None)
    if gradient is not None and fit.lines:
        # Letters (not their stroke) filled with the gradient: paint it through a glyph mask.
        glyphs = Image.new("L", (W, H), 0)
        draw_words(ImageDraw.Draw(glyphs), 255, False)
        canvas.paste(gradient_image(gradient, W, H), (0, 0), glyphs)
    return TextSprite(np.asarray(canvas), -margin, -margin, fit)


def gradient_image(gradient: Any, w: int, h: int) -> Image.Image:
    """RGBA image of a linear gradient (``gradient.colors`` evenly spaced along ``gradient.angle``)."""
    import math

    cols = np.array([parse_color(c) for c in gradient.colors], np.float32)  # (n, 4)
    rad = math.radians(gradient.angle)
    ux, uy = math.cos(rad), math.sin(rad)
    xs = np.arange(w, dtype=np.float32)[None, :] - (w - 1) / 2
    ys = np.arange(h, dtype=np.float32)[:, None] - (h - 1) / 2
    proj = xs * ux + ys * uy
    half = max(1e-6, (abs(ux) * (w - 1) + abs(uy) * (h - 1)) / 2)
    pos = np.clip((proj / half + 1) / 2, 0.0, 1.0) * (len(cols) - 1)
    i0 = np.minimum(pos.astype(np.int32), len(cols) - 2)
    f = (pos - i0)[..., None]
    out = cols[i0] * (1 - f) + cols[i0 + 1] * f
    return Image.fromarray((out + 0.5).astype(np.uint8), "RGBA")
