"""Image plumbing around the diffusion model: working size, masks, Canny edges, compositing, prompts."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image


def working_size(width: int, height: int, resolution: int, multiple: int) -> tuple[int, int]:
    """Size the model runs at: long side ~= ``resolution``, aspect kept, both sides multiples of ``multiple``."""
    scale = resolution / max(width, height)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 HxWx3 image to ``size`` = (w, h) with Lanczos (identity when already that size)."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(Image.fromarray(rgb, "RGB").resize(size, Image.Resampling.LANCZOS))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float32 HxW [0,1] mask to ``size`` = (w, h) with bilinear filtering."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask.astype(np.float32, copy=False)
    img = Image.fromarray(mask.astype(np.float32), "F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def inpaint_mask(weights: np.ndarray, dilate: int) -> np.ndarray:
    """Binary mask the model repaints: any weight > 0.02, grown by ``dilate`` px so soft edges are covered."""
    import cv2

    hard = (weights > 0.02).astype(np.uint8)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        return np.asarray(cv2.dilate(hard, k), dtype=np.float32)
    return hard.astype(np.float32)


def canny_edges(rgb: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    """Canny edge map as a uint8 HxWx3 image (white edges on black), the usual ControlNet 'canny' input."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, low, high)
    return np.repeat(edges[:, :, None], 3, axis=2)


def composite(original: np.ndarray, generated: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Blend ``generated`` into ``original`` by ``weights``; where weight is 0 the original pixel is kept exactly."""
    w = np.clip(weights.astype(np.float32), 0.0, 1.0)[:, :, None]
    blended = original.astype(np.float32) * (1.0 - w) + generated.astype(np.float32) * w
    out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    keep = weights <= 0.0
    out[keep] = original[keep]
    full = weights >= 1.0
    out[full] = generated[full]
    return out


def _clean(words: str | None) -> str:
    return " ".join(str(words).replace("\n", " ").split()) if words else ""


def build_prompt(
    color_name: str,
    *,
    mode: str,
    material: str | None = None,
    taste_keywords: Sequence[str] = (),
    prompt_extra: str | None = None,
    scene_prompt: str | None = None,
) -> str:
    """Prompt from the target colour name, material/finish words and the customer's taste keywords.

    Texture mode describes the product surface ("a deep red matte leather product"); scene mode
    describes the surroundings in that colour scheme ("a deep red studio background").
    """
    color = _clean(color_name).replace("_", " ").replace("-", " ")
    mat = _clean(material)
    if mode == "scene":
        scene = _clean(scene_prompt) or "studio background"
        parts = [f"product photo, {color} {scene}"]
    else:
        surface = f"{color} {mat}".strip()
        parts = [f"product photo, {surface} product surface", f"{color} color"]
    keywords = [_clean(k) for k in taste_keywords if _clean(k)]
    if keywords:
        parts.append(", ".join(keywords))
    if mode != "scene" and mat:
        parts.append(f"{mat} texture")
    extra = _clean(prompt_extra)
    if extra:
        parts.append(extra)
    parts.append("high quality, detailed, professional lighting")
    return ", ".join(parts)


@functools.lru_cache(maxsize=2)
def _english_names(path: str) -> tuple[tuple[str, ...], np.ndarray]:
    from skimage.color import rgb2lab

    from pipelines._common.colors import colour_sections

    data = colour_sections(path)
    names: list[str] = []
    rgbs: list[tuple[int, int, int]] = []
    for section in ("en", "css"):
        for name, hx in (data.get(section) or {}).items():
            h = str(hx).lstrip("#")
            names.append(str(name))
            rgbs.append((int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)))
    labs = rgb2lab(np.asarray(rgbs, dtype=np.float64).reshape(-1, 1, 3) / 255.0).reshape(-1, 3)
    return tuple(names), labs


_CSS_WORDS = ("dark", "light", "medium", "pale", "deep", "hot", "sky", "sea", "navy", "royal", "lime",
              "forest", "olive", "slate", "steel", "misty", "lemon", "spring", "lawn", "powder", "rosy",
              "indian", "midnight", "cadet", "dodger", "cornflower", "sandy", "golden", "blue", "green",
              "red", "gray", "grey", "violet", "pink", "orange", "yellow", "purple", "brown", "white",
              "cyan", "turquoise", "salmon", "rod", "wood", "orchid", "khaki", "magenta", "coral", "chiffon")


def _split_css(name: str) -> str:
    """'darkslateblue' -> 'dark slate blue' so the text encoder sees real words."""
    if " " in name:
        return name
    out, rest = [], name
    while rest:
        for w in sorted(_CSS_WORDS, key=len, reverse=True):
            if rest.startswith(w) and len(rest) > len(w):
                out.append(w)
                rest = rest[len(w):]
                break
        else:
            out.append(rest)
            break
    return " ".join(out)


def color_words(name: str, lab: Sequence[float]) -> str:
    """English words for a target colour the text encoder understands.

    English/CSS names are used as they are; hex codes, Vietnamese names and brand colourways get
    the nearest English name by CIEDE2000 (the exact hex is reached by hue-lock, not the prompt).
    """
    from skimage.color import deltaE_ciede2000

    from pipelines._common.data import CONFIG_DIR

    names, labs = _english_names(str(CONFIG_DIR / "colors.yaml"))
    key = name.strip().lower()
    if key in names:
        return _split_css(key)
    d = deltaE_ciede2000(labs, np.asarray(lab, dtype=np.float64)[None, :])
    return _split_css(names[int(np.argmin(d))])


def flatten_chroma(rgb: np.ndarray, weights: np.ndarray, keep: float = 0.0) -> np.ndarray:
    """Pull the weighted region's a*/b* towards its mean (``keep`` = share of the deviation kept).

    Diffusion output can carry colour noise or stray hues; hue-lock keeps the generated *texture*
    (L* detail) and gives the whole region one hue/chroma, which the exact engine then moves onto
    the target. Pixels with weight 0 are returned bit-identical.
    """
    import cv2

    out = np.ascontiguousarray(rgb[..., :3]).copy()
    wflat = np.asarray(weights, np.float32).ravel()
    idx = np.flatnonzero(wflat > 1e-3)
    if idx.size == 0:
        return out
    px = out.reshape(-1, 3)[idx]
    lab = cv2.cvtColor(px.astype(np.float32)[None] / 255.0, cv2.COLOR_RGB2Lab)[0]
    core = wflat[idx] >= 0.5
    ref = lab[core] if core.any() else lab
    mean_ab = ref[:, 1:].mean(axis=0)
    lab[:, 1:] = mean_ab + float(keep) * (lab[:, 1:] - mean_ab)
    new = np.clip(cv2.cvtColor(lab[None], cv2.COLOR_Lab2RGB)[0], 0.0, 1.0) * 255.0
    out.reshape(-1, 3)[idx] = np.clip(np.rint(new), 0, 255).astype(np.uint8)
    return out
