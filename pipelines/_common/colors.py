"""The one colour parser: what a user or a template types -> an exact sRGB/CIELAB colour.

Used by recolor (targets), personalization (customer colours) and video (template colours, via
``parse_rgba``, which also takes an alpha).

``parse_color(spec)`` accepts ``#RRGGBB`` / ``#RGB``, ``rgb(r, g, b)`` (0-255 or percentages),
``hsl()``/``hsv()`` (CSS Color 3 notation, converted by Pillow's ``ImageColor``),
CSS/English names (``navy``, ``dark blue``, ``burgundy``), Vietnamese names with or without
diacritics (``xanh dương`` / ``xanh duong``, ``đỏ`` / ``do``) from ``configs/colors.yaml``, and
brand palette entries ``palette:colourway`` from ``configs/palettes/*.yaml`` (``acme:ocean``).
It returns a frozen :class:`NamedColor` carrying hex, RGB and CIELAB (D65, via scikit-image).
Unknown colours raise ``PipelineInputError`` listing close matches.

``parse_rgba(spec)`` is the same with an alpha: ``#RGBA`` / ``#RRGGBBAA`` or ``rgba(r, g, b, a)``
(a in 0-255) -> ``(r, g, b, a)``; no alpha means opaque (255).

``delta_e00(lab1, lab2)`` is CIEDE2000 (scikit-image); JND is about 2.3.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines._common.data import CONFIG_DIR, load_data_file
from pipelines._common.errors import PipelineInputError, close_matches, unknown_choice

COLORS_FILE = CONFIG_DIR / "colors.yaml"
PALETTES_DIR = CONFIG_DIR / "palettes"

_HEX_RE = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_RGB_RE = re.compile(r"^rgba?\s*\(\s*([^)]*)\)$", re.IGNORECASE)
_HSX_RE = re.compile(r"^hs[lvb]\s*\(", re.IGNORECASE)
_HEX_ALPHA_RE = re.compile(r"^#([0-9a-fA-F]{4}|[0-9a-fA-F]{8})$")


@dataclass(frozen=True)
class NamedColor:
    """An exact target colour: display name, ``#RRGGBB``, 8-bit sRGB and CIELAB (D65)."""

    name: str
    hex: str
    rgb: tuple[int, int, int]
    lab: tuple[float, float, float]

    @property
    def chroma(self) -> float:
        """CIELAB chroma C*ab (0 for neutrals)."""
        return float(np.hypot(self.lab[1], self.lab[2]))

    @property
    def is_achromatic(self) -> bool:
        """True for black/white/greys (C* below ~6), where hue is meaningless."""
        return self.chroma < 6.0

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "hex": self.hex, "rgb": list(self.rgb), "lab": [round(v, 3) for v in self.lab]}


def rgb_to_lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIELAB (D65) of one 8-bit sRGB colour, by scikit-image."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.asarray(rgb, dtype=np.float64).reshape(1, 1, 3) / 255.0)[0, 0]
    return (float(lab[0]), float(lab[1]), float(lab[2]))


def make_color(rgb: tuple[int, int, int], name: str | None = None) -> NamedColor:
    """Build a :class:`NamedColor` from 8-bit sRGB; ``name`` defaults to the hex code."""
    r, g, b = (int(v) for v in rgb)
    for v in (r, g, b):
        if not 0 <= v <= 255:
            raise PipelineInputError(f"colour channel {v} outside 0..255", field="color")
    hx = f"#{r:02X}{g:02X}{b:02X}"
    return NamedColor(name=name or hx, hex=hx, rgb=(r, g, b), lab=rgb_to_lab((r, g, b)))


def delta_e00(lab1: tuple[float, float, float] | np.ndarray, lab2: tuple[float, float, float] | np.ndarray) -> float:
    """CIEDE2000 colour difference between two CIELAB colours (scikit-image)."""
    from skimage.color import deltaE_ciede2000

    a = np.asarray(lab1, dtype=np.float64).reshape(1, 3)
    b = np.asarray(lab2, dtype=np.float64).reshape(1, 3)
    return float(deltaE_ciede2000(a, b)[0])


def fold_name(text: str) -> str:
    """Normalise a colour name for lookup: NFC, lower case, single spaces ('-'/'_' count as spaces)."""
    t = unicodedata.normalize("NFC", text).strip().lower()
    t = re.sub(r"[\s_\-]+", " ", t)
    return t


def ascii_name(text: str) -> str:
    """Strip Vietnamese diacritics (``xanh dương`` -> ``xanh duong``, ``đỏ`` -> ``do``)."""
    t = fold_name(text).replace("đ", "d")
    t = unicodedata.normalize("NFD", t)
    return "".join(ch for ch in t if not unicodedata.combining(ch))


def _parse_hex(value: str, field: str) -> tuple[int, int, int]:
    m = _HEX_RE.match(value.strip())
    if not m:
        raise PipelineInputError(f"{field}: {value!r} is not a #RRGGBB hex colour", field=field)
    h = m.group(1)
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))


def _parse_rgb_func(body: str, spec: str) -> tuple[int, int, int]:
    parts = [p for p in re.split(r"[\s,/]+", body.strip()) if p]
    if len(parts) not in (3, 4):
        raise PipelineInputError(f"colour {spec!r}: rgb() needs 3 values, e.g. rgb(30, 90, 168)", field="color")
    out: list[int] = []
    for p in parts[:3]:
        try:
            v = float(p[:-1]) * 2.55 if p.endswith("%") else float(p)
        except ValueError as exc:
            raise PipelineInputError(f"colour {spec!r}: {p!r} is not a number", field="color") from exc
        if not 0 <= v <= 255.0001:
            raise PipelineInputError(f"colour {spec!r}: {p} outside 0..255 (or 0%..100%)", field="color")
        out.append(int(round(v)))
    return (out[0], out[1], out[2])


@functools.lru_cache(maxsize=4)
def colour_sections(path: str | None = None) -> dict[str, dict[str, str]]:
    """``configs/colors.yaml`` (or ``path``) read once: section (``css``, ``en``, ``vi``) -> name -> hex.

    Raises ``PipelineInputError`` when the file is missing, not YAML or not a mapping of sections.
    """
    path = path or str(COLORS_FILE)
    data = load_data_file(path, field="colors file")
    if not isinstance(data, dict):
        raise PipelineInputError(f"colors file {path}: expected a mapping of sections", field="colors file")
    return {str(k): dict(v or {}) for k, v in data.items() if isinstance(v, dict) or v is None}


@functools.lru_cache(maxsize=4)
def _name_tables(path: str) -> tuple[dict[str, tuple[str, str]], tuple[str, ...]]:
    """Lookup table folded-name -> (display name, hex), and the list of display names."""
    data = colour_sections(path)
    table: dict[str, tuple[str, str]] = {}
    names: list[str] = []
    for section in ("css", "en", "vi"):
        entries = data.get(section) or {}
        for name, hx in entries.items():
            display = str(name)
            names.append(display)
            entry = (display, str(hx))
            keys = {fold_name(display), fold_name(display).replace(" ", "")}
            if section == "vi":
                keys |= {ascii_name(display), ascii_name(display).replace(" ", "")}
            for k in keys:
                table.setdefault(k, entry)  # the first section wins (css before vi ascii forms)
    return table, tuple(names)


def color_names(path: Path | None = None) -> tuple[str, ...]:
    """All named colours known from ``configs/colors.yaml`` (CSS, English extras, Vietnamese)."""
    return _name_tables(str(path or COLORS_FILE))[1]


def load_palettes(directory: Path | None = None) -> dict[str, dict[str, str]]:
    """Read brand palettes from ``configs/palettes/*.yaml``: ``{palette: {colourway: '#RRGGBB'}}``.

    Each file has ``name`` (defaults to the file stem) and ``colourways`` (name -> hex); a file
    that is just a mapping of colourway -> hex is accepted too. Hex values are validated.
    """
    root = Path(directory) if directory is not None else PALETTES_DIR
    out: dict[str, dict[str, str]] = {}
    if not root.is_dir():
        return out
    for f in sorted(list(root.glob("*.yaml")) + list(root.glob("*.yml"))):
        data = load_data_file(f, field="palette file")
        if not isinstance(data, dict):
            raise PipelineInputError(f"palette file {f}: expected a mapping", field="palette file")
        ways = data.get("colourways", data.get("colorways"))
        name = str(data.get("name") or f.stem) if ways is not None else f.stem
        if ways is None:
            ways = data
        if not isinstance(ways, dict):
            raise PipelineInputError(f"palette file {f}: 'colourways' must map names to hex", field="palette file")
        pal: dict[str, str] = {}
        for way, hx in ways.items():
            rgb = _parse_hex(str(hx), f"palette {name}:{way}")
            pal[str(way)] = "#{:02X}{:02X}{:02X}".format(*rgb)
        out[name] = pal
    return out


@functools.lru_cache(maxsize=1)
def _default_palettes() -> dict[str, dict[str, str]]:
    return load_palettes()


def _lookup_palette(spec: str, palettes: Mapping[str, Mapping[str, str]]) -> NamedColor:
    pal_name, _, way = spec.partition(":")
    pal_key = ascii_name(pal_name).replace(" ", "")
    pal_index = {ascii_name(p).replace(" ", ""): p for p in palettes}
    if pal_key not in pal_index:
        raise unknown_choice("palette", pal_name.strip(), list(palettes), field="color")
    real_pal = pal_index[pal_key]
    ways = palettes[real_pal]
    way_index = {ascii_name(w).replace(" ", ""): w for w in ways}
    way_key = ascii_name(way).replace(" ", "")
    if way_key not in way_index:
        raise unknown_choice(f"colourway in palette {real_pal!r}", way.strip(), list(ways), field="color")
    real_way = way_index[way_key]
    rgb = _parse_hex(str(ways[real_way]), f"palette {real_pal}:{real_way}")
    return make_color(rgb, f"{real_pal}:{real_way}")


def parse_color(spec: str, *, palettes: Mapping[str, Mapping[str, str]] | None = None) -> NamedColor:
    """Parse a colour spec (hex, ``rgb()``, CSS/English/Vietnamese name, ``palette:colourway``).

    ``palettes`` overrides the brand palettes from ``configs/palettes``. Raises
    ``PipelineInputError`` (field ``color``) naming close matches for unknown colours.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PipelineInputError("colour is empty; give #RRGGBB, rgb(r,g,b), a name or palette:colourway", field="color")
    s = spec.strip()
    if s.startswith("#"):
        return make_color(_parse_hex(s, "color"))
    m = _RGB_RE.match(s)
    if m:
        return make_color(_parse_rgb_func(m.group(1), s))
    if _HSX_RE.match(s):
        from PIL import ImageColor

        try:
            rgb = ImageColor.getrgb(s)
        except ValueError:
            raise PipelineInputError(f"colour {spec!r}: not a valid hsl()/hsv() colour", field="color") from None
        return make_color((rgb[0], rgb[1], rgb[2]))
    if ":" in s:
        return _lookup_palette(s, palettes if palettes is not None else _default_palettes())
    table, names = _name_tables(str(COLORS_FILE))
    for key in (fold_name(s), fold_name(s).replace(" ", ""), ascii_name(s), ascii_name(s).replace(" ", "")):
        if key in table:
            display, hx = table[key]
            return make_color(_parse_hex(hx, f"colour {display}"), display)
    if _HEX_RE.match(s) and len(s) == 6:  # bare RRGGBB without '#'
        return make_color(_parse_hex(s, "color"))
    near = close_matches(s, names) or close_matches(ascii_name(s), [ascii_name(n) for n in names])
    if near:
        hint = f"did you mean: {', '.join(near)}?"
    else:
        hint = "use #RRGGBB, rgb(r,g,b), a CSS or Vietnamese colour name, or palette:colourway"
    raise PipelineInputError(f"unknown colour {spec!r}; {hint}", field="color")


def parse_rgba(spec: str, *, palettes: Mapping[str, Mapping[str, str]] | None = None) -> tuple[int, int, int, int]:
    """Parse a colour with an optional alpha: ``(r, g, b, a)``, each an int 0..255 (a = 255 opaque).

    ``#RGBA`` / ``#RRGGBBAA`` and ``rgba(r, g, b, a)`` (a 0-255, or a percentage) carry the alpha;
    every other form is :func:`parse_color`'s. Raises ``PipelineInputError`` (field ``color``).
    """
    s = spec.strip() if isinstance(spec, str) else spec
    alpha = 255
    if isinstance(s, str):
        m = _HEX_ALPHA_RE.match(s)
        if m:
            h = m.group(1)
            if len(h) == 4:
                h = "".join(c * 2 for c in h)
            return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), int(h[6:8], 16))
        fm = _RGB_RE.match(s)
        if fm:
            parts = [p for p in re.split(r"[\s,/]+", fm.group(1).strip()) if p]
            if len(parts) == 4:
                raw = parts[3]
                try:
                    a = float(raw[:-1]) * 2.55 if raw.endswith("%") else float(raw)
                except ValueError:
                    raise PipelineInputError(f"colour {spec!r}: alpha {raw!r} is not a number", field="color") from None
                if not 0 <= a <= 255.0001:
                    raise PipelineInputError(f"colour {spec!r}: alpha {raw} outside 0..255", field="color")
                alpha = int(round(a))
    rgb = parse_color(spec, palettes=palettes).rgb
    return (rgb[0], rgb[1], rgb[2], alpha)
