"""Bundled font lookup: Be Vietnam Pro (OFL) has full Vietnamese coverage."""

from __future__ import annotations

from pathlib import Path

from pipelines._common.errors import PipelineInputError, unknown_choice

WEIGHTS = ("Thin", "ExtraLight", "Light", "Regular", "Medium", "SemiBold", "Bold", "ExtraBold", "Black")
DEFAULT_FAMILY = "Be Vietnam Pro"


def font_dir() -> Path:
    """Directory holding the bundled Be Vietnam Pro TTF files."""
    import fontpkg_be_vietnam_pro

    return Path(fontpkg_be_vietnam_pro.ROOT) / "files"


def font_path(weight: str = "Regular", *, italic: bool = False, family: str = DEFAULT_FAMILY) -> Path:
    """Path of a bundled font file, e.g. ``font_path("Bold")``; a path to a .ttf/.otf is passed through.

    Raises ``PipelineInputError`` naming the allowed weights for an unknown weight or family.
    """
    candidate = Path(family)
    if candidate.suffix.lower() in (".ttf", ".otf"):
        if not candidate.is_file():
            raise PipelineInputError(f"font file not found: {candidate}", field="font")
        return candidate
    if family.replace(" ", "").lower() != DEFAULT_FAMILY.replace(" ", "").lower():
        raise unknown_choice("font family", family, [DEFAULT_FAMILY], field="font")
    match = {w.lower(): w for w in WEIGHTS}.get(weight.replace("-", "").replace(" ", "").lower())
    if match is None:
        raise unknown_choice("font weight", weight, WEIGHTS, field="font_weight")
    if italic:
        name = "BeVietnamPro-Italic.ttf" if match == "Regular" else f"BeVietnamPro-{match}Italic.ttf"
    else:
        name = f"BeVietnamPro-{match}.ttf"
    path = font_dir() / name
    if not path.is_file():
        raise PipelineInputError(f"bundled font missing: {path} (reinstall fontpkg-be-vietnam-pro)", field="font")
    return path
