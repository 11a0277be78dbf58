"""Glyph coverage: which characters of a text the font has no glyph for (they would draw blank).

Reads the font's cmap with fontTools once per font file (cached); whitespace and invisible
format characters (ZWJ, BOM, ...) are never reported.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from pipelines._common.fonts import DEFAULT_FAMILY, font_path


@lru_cache(maxsize=32)
def font_codepoints(path: str) -> frozenset[int]:
    """Code points mapped by the font file's best Unicode cmap."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset((font.getBestCmap() or {}).keys())


def _visible(ch: str) -> bool:
    return not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf")


def missing_glyphs(text: str, font: str | Path) -> list[str]:
    """Distinct visible characters of ``text`` with no glyph in ``font`` (a font file), in order."""
    have = font_codepoints(str(font))
    out: list[str] = []
    for ch in text:
        if _visible(ch) and ord(ch) not in have and ch not in out:
            out.append(ch)
    return out


def glyph_problem(text: str, weight: str, font_file: str | Path | None = None, font_name: str = "") -> tuple[str, bool] | None:
    """None when every visible character has a glyph in the font; else (message, blank): the
    missing characters named with their code points, and whether the whole text would render
    blank. The font is ``font_file`` (a template's brand font, called ``font_name``) or the bundled
    family in ``weight`` (which must be valid: ``font_path`` raises otherwise). A font file that
    is not a readable TrueType/OpenType font raises PipelineInputError naming it."""
    if font_file is not None:
        try:
            missing = missing_glyphs(text, font_file)
        except Exception as exc:  # fontTools raises many types for a corrupt file
            from pipelines._common.errors import PipelineInputError

            raise PipelineInputError(
                f"font {font_name or Path(font_file).name!r} is not a readable TrueType/OpenType font ({exc})",
                field="template",
            ) from exc
        label = f"font {font_name or Path(font_file).name}"
    else:
        missing = missing_glyphs(text, font_path(weight))
        label = f"font {DEFAULT_FAMILY} {weight}"
    if not missing:
        return None
    names = ", ".join(f"'{ch}' (U+{ord(ch):04X} {unicodedata.name(ch, '?')})" for ch in missing)
    visible = [ch for ch in text if _visible(ch)]
    blank = all(ch in missing for ch in visible)
    msg = f"{label} has no glyph for {names}"
    if blank:
        msg += f"; the text {text!r} would render blank"
    else:
        msg += "; these characters render blank (replace them, e.g. '→' with '>' or '›')"
    return msg, blank
