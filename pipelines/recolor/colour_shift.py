"""Colour science shared by both recolor engines: the product's main-colour region and the exact
move of that region onto a target colour (CIELAB, D65).

Used by ``pipeline_recolor.py`` (the exact engine) and by ``pipeline_recolor_diffusion.py`` (its
hue lock), so neither engine imports the other.

Main-colour region (``fit_color_model`` + ``color_weights``, or ``main_color_weights`` for one
image): k-means in CIELAB (L* down-weighted so shading does not split a colour) on a subsample of
the masked pixels; the dominant cluster (or the one nearest ``from_color``) grows over clusters of
the same hue (chromatic) or nearby L* (achromatic), i.e. the shading ramp of one material. Every
other cluster — logos, labels, soles, specular white, and the background just outside the mask —
repels: a pixel's weight is a linear ramp on (distance to nearest other centre - distance to
nearest main centre), so boundaries are soft and logo interiors get exactly 0.

Recolor (``apply_target_color``): in CIELAB, the region's mean L* moves to the target's and the
local L* variation (shading, texture) is kept (the gain of the side that would clip at black/white
is reduced, down to 0.6, or 0.5 when the mean could not reach the target otherwise, then the mean
moves as little as needed); a/b deviations from the region's mean are (minus their
shading-correlated part) rotated to the target hue and never amplified, then put on the target's
a/b, so the target chroma holds across the shading; chroma is limited to the sRGB gamut at the
target hue (so for a target at the gamut's edge, e.g. CSS navy, the darkest pixels keep less
chroma and the region's *mean* a*b* falls short of the target's while the per-pixel median stays
on it). Output = original blended with the recolor by the weights, so pixels with weight 0 are
bit-identical. A target within ΔE00 3 of the region's mean colour is reached by one uniform Lab
shift of the region instead, which keeps the photo's own chroma and shading.

Sources: sRGB <-> CIELAB (D65) is OpenCV's ``cvtColor`` (IEC 61966-2-1 sRGB, CIE 15:2004 Lab);
ΔE00 is CIEDE2000 (Sharma, Wu & Dalal 2005) as implemented by scikit-image (``colors.delta_e00``);
k-means is OpenCV's ``cv2.kmeans`` (k-means++ seeding). Hard masks get an outward Gaussian
feather (``feather_mask``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipelines._common.colors import NamedColor, delta_e00, make_color
from pipelines._common.errors import PipelineInputError

L_WEIGHT = 0.5  # L* weight in the clustering feature space: shading must not split a material
RAMP = 5.0  # half-width (feature units ~ ΔE76) of the soft boundary between main and other colours
ACHROMATIC_C = 12.0
MIN_GAIN = 0.6
DEEP_MIN_GAIN = 0.5
SMALL_MOVE_DE = 3.0  # source mean within this ΔE00 of the target: uniform Lab shift instead of a remap


# ----------------------------------------------------------------------------- colour model


@dataclass(frozen=True)
class ColorModel:
    """Clusters of the product's colours: Lab centres, which belong to the main colour, sizes."""

    lab_centers: np.ndarray  # K x 3 float32
    is_main: np.ndarray  # K bool
    counts: np.ndarray  # K int (0 for background-ring centres)

    @property
    def main_lab(self) -> tuple[float, float, float]:
        w = self.counts[self.is_main].astype(np.float64) + 1e-9
        c = (self.lab_centers[self.is_main] * w[:, None]).sum(axis=0) / w.sum()
        return (float(c[0]), float(c[1]), float(c[2]))


def _lab_f32(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of uint8 sRGB (any shape ...x3) via OpenCV float32 (D65), same shape."""
    flat = rgb.reshape(1, -1, 3).astype(np.float32) * np.float32(1 / 255)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(rgb.shape).astype(np.float32)


def _features(lab: np.ndarray) -> np.ndarray:
    return (lab * np.array([L_WEIGHT, 1.0, 1.0], np.float32)).astype(np.float32)


def _kmeans(lab: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means in the feature space; returns (Lab centres, counts) of non-empty clusters."""
    k = max(1, min(k, len(lab)))
    feats = _features(lab)
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.05)
    _, labels, centers = cv2.kmeans(feats, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    labels = labels.ravel()
    counts = np.bincount(labels, minlength=k)
    keep = counts > 0
    lab_c = centers[keep] / np.array([L_WEIGHT, 1.0, 1.0], np.float32)
    return lab_c.astype(np.float32), counts[keep]


def _same_material(c1: np.ndarray, c2: np.ndarray) -> bool:
    """Whether two Lab cluster centres look like one material under different shading.

    Shading scales a colour's CIELAB chroma roughly with (L* + 16) at a fixed hue, so two
    chromatic centres match when hue and C*/(L*+16) agree; mixing with white or black (a logo's
    anti-aliased edge) breaks that ratio, which stops the region from chaining into a logo.
    An achromatic centre joins a chromatic one only as its darker end (deep shadow).
    """
    ch1, ch2 = float(np.hypot(c1[1], c1[2])), float(np.hypot(c2[1], c2[2]))
    dl = abs(float(c1[0] - c2[0]))
    if ch1 >= ACHROMATIC_C and ch2 >= ACHROMATIC_C:
        dh = abs(np.degrees(np.arctan2(c1[2], c1[1]) - np.arctan2(c2[2], c2[1]))) % 360.0
        r1, r2 = ch1 / (float(c1[0]) + 16.0), ch2 / (float(c2[0]) + 16.0)
        return min(dh, 360.0 - dh) < 20.0 and max(r1, r2) / max(min(r1, r2), 1e-6) < 1.6 and dl < 50.0
    if ch1 < ACHROMATIC_C and ch2 < ACHROMATIC_C:
        return dl < 20.0
    chrom, achro = (c1, c2) if ch1 >= ACHROMATIC_C else (c2, c1)
    dab = float(np.hypot(c1[1] - c2[1], c1[2] - c2[2]))
    return dab < 14.0 and dl < 25.0 and float(achro[0]) <= float(chrom[0])


def _sample_indices(sel: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.flatnonzero(sel)
    if idx.size > n:
        idx = np.sort(rng.choice(idx, n, replace=False))
    return idx


def _ring(mask: np.ndarray) -> np.ndarray:
    """Background pixels just outside the mask (their colours repel the recolor)."""
    inside = (mask >= 0.5).astype(np.uint8)
    r = max(3, int(round(0.01 * max(mask.shape))) + 4)
    ker = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))  # separable: fast
    return (cv2.dilate(inside, ker) > 0) & (mask < 0.02)


def fit_color_model(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    from_color: NamedColor | None = None,
    *,
    clusters: int = 6,
    sample_size: int = 12_000,
    seed: int = 0,
) -> ColorModel:
    """Fit one colour model over one or more views (uint8 HxWx3 + float32 HxW masks)."""
    rng = np.random.default_rng(seed)
    per_view = max(500, sample_size // max(1, len(images)))
    ins, outs = [], []
    for rgb, m in zip(images, masks, strict=True):
        flat = rgb.reshape(-1, 3)
        ins.append(flat[_sample_indices((m >= 0.5).ravel(), per_view, rng)])
        outs.append(flat[_sample_indices(_ring(m).ravel(), max(200, per_view // 5), rng)])
    lab_in = _lab_f32(np.concatenate(ins))
    if len(lab_in) < 10:
        raise PipelineInputError("the mask holds fewer than 10 product pixels", field="mask")
    centers, counts = _kmeans(lab_in, clusters, seed)
    feats = _features(centers)
    if from_color is not None:
        fc = _features(np.asarray([from_color.lab], np.float32))[0]
        d = np.linalg.norm(feats - fc, axis=1)
        seed_i = int(np.argmin(d))
        if d[seed_i] > 30.0:
            found = ", ".join(make_color(_lab_to_rgb8(c)).hex for c in centers[np.argsort(-counts)])
            raise PipelineInputError(
                f"from_color {from_color.name} ({from_color.hex}) is not on the product; its colours are: {found}",
                field="from_color",
            )
    else:
        seed_i = int(np.argmax(counts))
    is_main = np.zeros(len(centers), bool)
    is_main[seed_i] = True
    grown = True
    while grown:
        grown = False
        for j in np.flatnonzero(~is_main):
            if any(_same_material(centers[j], centers[i]) for i in np.flatnonzero(is_main)):
                is_main[j] = True
                grown = True
    lab_out = _lab_f32(np.concatenate(outs)) if sum(len(o) for o in outs) else np.zeros((0, 3), np.float32)
    if len(lab_out) >= 3:
        bg_c, _ = _kmeans(lab_out, 3, seed)
        # A background centre that coincides with the main colour would carve holes in the region.
        main_f = feats[is_main]
        keep = [c for c in bg_c if np.min(np.linalg.norm(main_f - _features(c[None])[0], axis=1)) > 2 * RAMP]
        if keep:
            centers = np.concatenate([centers, np.asarray(keep, np.float32)])
            counts = np.concatenate([counts, np.zeros(len(keep), counts.dtype)])
            is_main = np.concatenate([is_main, np.zeros(len(keep), bool)])
    return ColorModel(lab_centers=centers.astype(np.float32), is_main=is_main, counts=counts)


def region_note(model: ColorModel) -> str:
    """One sentence saying which colour region is recolored and why (for the report)."""
    main = model.is_main & (model.counts > 0)
    others = ~model.is_main & (model.counts > 0)
    total = max(1, int(model.counts.sum()))
    share = float(model.counts[main].sum()) / total
    lab = model.main_lab
    chroma = float(np.hypot(lab[1], lab[2]))
    kind = "achromatic (white/grey/black)" if chroma < ACHROMATIC_C else "chromatic"
    kept = ", ".join(make_color(_lab_to_rgb8(c)).hex for c in model.lab_centers[others]) or "none"
    return (f"main colour {make_color(_lab_to_rgb8(np.asarray(lab))).hex} ({kind}, L* {lab[0]:.0f}): "
            f"{int(main.sum())} of {int((model.counts > 0).sum())} colour clusters, {share:.0%} of the product's "
            f"pixels, joined as one material's shading ramp; kept as they are (logos, prints, other colours): {kept}")


def _lab_to_rgb8(lab: np.ndarray) -> tuple[int, int, int]:
    rgb = cv2.cvtColor(np.asarray(lab, np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2RGB)[0, 0]
    r, g, b = (int(v) for v in np.clip(rgb * 255.0 + 0.5, 0, 255))
    return (r, g, b)


def color_weights(rgb: np.ndarray, mask: np.ndarray, model: ColorModel) -> np.ndarray:
    """Per-pixel recolor weights (float32 HxW): mask x soft membership of the main colour."""
    h, w = mask.shape
    out = np.zeros((h, w), np.float32)
    idx = np.flatnonzero(mask.ravel() > 0.0)
    if idx.size == 0:
        return out
    mv = mask.ravel()[idx]
    if model.is_main.all():
        out.ravel()[idx] = mv
        return out
    f = _features(_lab_f32(rgb.reshape(-1, 3)[idx]))
    c = _features(model.lab_centers)
    # Squared distances by one matrix product: |f|^2 - 2 f.c + |c|^2.
    d2 = (f * f).sum(axis=1, keepdims=True) - 2.0 * (f @ c.T) + (c * c).sum(axis=1)[None, :]
    np.maximum(d2, 0.0, out=d2)
    d_in = np.sqrt(d2[:, model.is_main].min(axis=1))
    other_in = ~model.is_main & (model.counts > 0)
    bg = model.counts == 0
    d_out = np.sqrt(d2[:, other_in].min(axis=1)) if other_in.any() else np.full_like(d_in, np.inf)
    if bg.any():
        # Background colours repel only outside the hard mask (the feather ring): inside it, a
        # product pixel that happens to match the backdrop is still product.
        d_bg = np.sqrt(d2[:, bg].min(axis=1))
        d_out = np.where(mv < 0.5, np.minimum(d_out, d_bg), d_out)
    member = np.clip(0.5 + (d_out - d_in) / (2.0 * RAMP), 0.0, 1.0)
    out.ravel()[idx] = member * mv
    return out


def drop_enclosed_islands(weights: np.ndarray, product: np.ndarray, *, max_share: float = 0.1) -> tuple[np.ndarray, int]:
    """Zero small patches of the main colour that lie wholly inside other colours of the product.

    A patch of the main colour enclosed by the product's other colours (the dark rim of the
    coffee inside a red cup, a red letter in a white print) is not the product's body: it touches
    neither the product's silhouette (``product`` alpha < 0.5 within 3 px) nor the largest patch,
    and holds < ``max_share`` of the region. Returns (new weights, pixels dropped).
    """
    support = (weights > 0.02).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(support, connectivity=8)
    if n <= 2:
        return weights, 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = int(np.argmax(areas)) + 1
    total = float(areas.sum())
    k7 = np.ones((7, 7), np.uint8)
    edge = cv2.dilate((product < 0.5).astype(np.uint8), k7) > 0
    near_main = cv2.dilate((labels == largest).astype(np.uint8), k7) > 0
    touching = set(np.unique(labels[edge | near_main]).tolist())
    drop = [i for i in range(1, n) if i != largest and i not in touching and areas[i - 1] < max_share * total]
    if not drop:
        return weights, 0
    sel = np.isin(labels, drop)
    out = weights.copy()
    out[sel] = 0.0
    return out, int(sel.sum())


def main_color_weights(rgb: np.ndarray, mask: np.ndarray, from_color: NamedColor | None = None) -> np.ndarray:
    """Recolor weights (float32 HxW in [0, 1]) of the product's main colour inside ``mask``.

    ``rgb`` uint8 HxWx3, ``mask`` float32 HxW (>= 0.5 counts as product for the colour model;
    values are multiplied in, so a feathered mask gives feathered weights). ``from_color`` picks
    which colour to take on a multi-colour product. Logos/labels/other colours and the background
    get 0. Raises ``PipelineInputError`` when ``from_color`` is not on the product.
    """
    rgb = np.ascontiguousarray(np.asarray(rgb)[..., :3])
    m = np.asarray(mask, np.float32)
    model = fit_color_model([rgb], [m], from_color)
    return color_weights(rgb, m, model)


# ----------------------------------------------------------------------------- recolor maths


_GAMUT_CACHE: dict[tuple[float, float], np.ndarray] = {}


def _max_chroma_lut(a: float, b: float) -> np.ndarray:
    """Largest in-gamut sRGB chroma at the hue of (a, b), for L* = 0..100 (101 entries)."""
    key = (round(a, 2), round(b, 2))
    lut = _GAMUT_CACHE.get(key)
    if lut is not None:
        return lut
    hue = np.arctan2(b, a)
    ls = np.linspace(0.0, 100.0, 101, dtype=np.float32)
    lo = np.zeros_like(ls)
    hi = np.full_like(ls, 200.0)
    for _ in range(22):
        mid = (lo + hi) / 2
        lab = np.stack([ls, mid * np.cos(hue), mid * np.sin(hue)], axis=1).astype(np.float32)[None]
        # OpenCV clips its Lab->RGB output, so test in-gamut by the round trip instead.
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
        back = cv2.cvtColor(np.clip(rgb, 0, 1), cv2.COLOR_RGB2Lab)[0]
        ok = np.abs(back - lab[0]).max(axis=1) < 0.5
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    if len(_GAMUT_CACHE) > 256:
        _GAMUT_CACHE.clear()
    _GAMUT_CACHE[key] = lo
    return lo


def source_stats(rgb: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """Weighted mean CIELAB of the region (weights >= 0.5) — the source colour being replaced."""
    idx = np.flatnonzero(weights.ravel() >= 0.5)
    if idx.size == 0:
        idx = np.flatnonzero(weights.ravel() > 0)
    if idx.size == 0:
        raise PipelineInputError("no pixels of the main colour were found inside the mask", field="mask")
    idx = idx[:: max(1, idx.size // 50_000)]  # a strided 50k-pixel subsample pins the mean to << 0.1 ΔE
    lab = _lab_f32(np.asarray(rgb)[..., :3].reshape(-1, 3)[idx])
    w = weights.ravel()[idx][:, None]
    m = (lab * w).sum(axis=0) / w.sum()
    return (float(m[0]), float(m[1]), float(m[2]))


def apply_target_color(
    rgb: np.ndarray,
    weights: np.ndarray,
    target: NamedColor,
    *,
    source_lab_mean: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Recolor the weighted region of ``rgb`` (uint8 HxWx3) to ``target``; returns a new uint8 image.

    Hue and chroma move onto the target, L* is remapped so the region's mean meets the target's
    while local shading is kept; pixels with weight 0 are returned unchanged (bit-identical).
    ``source_lab_mean`` fixes the source colour (e.g. shared across views); default: measured.
    """
    src = np.ascontiguousarray(np.asarray(rgb)[..., :3])
    out = src.copy()
    wflat = np.asarray(weights, np.float32).ravel()
    idx = np.flatnonzero(wflat > 1e-3)
    if idx.size == 0:
        return out
    px = src.reshape(-1, 3)[idx]
    lab = _lab_f32(px)
    wv = wflat[idx]
    ls, as_, bs = source_lab_mean if source_lab_mean is not None else source_stats(src, np.asarray(weights))
    lt, at, bt = (float(v) for v in target.lab)
    core = wv >= 0.5
    lcore = lab[core, 0] if core.any() else lab[:, 0]
    p_lo, p_hi = (float(v) for v in np.percentile(lcore, [1.0, 99.0]))
    spread_hi, spread_lo = max(p_hi - ls, 1e-3), max(ls - p_lo, 1e-3)
    # Separate gains above/below the mean (continuous at the mean): only the side that would clip
    # at L*=0 or 100 is compressed (to MIN_GAIN; down to DEEP_MIN_GAIN when the region's mean could
    # not reach the target's otherwise, e.g. navy); the centre is set so the mean L* lands on the
    # target's (unequal gains shift the mean), and moves off it only if still needed.
    dl0 = lab[:, 0] - ls
    wcore = wv[core] if core.any() else wv
    dcore = dl0[core] if core.any() else dl0
    wsum = float(wcore.sum()) or 1.0
    pos = float((np.maximum(dcore, 0.0) * wcore).sum()) / wsum
    neg = float((np.maximum(-dcore, 0.0) * wcore).sum()) / wsum
    g_hi = float(np.clip((99.5 - lt) / spread_hi, MIN_GAIN, 1.0))
    g_lo = float(np.clip((lt - 0.5) / spread_lo, MIN_GAIN, 1.0))
    centre = lt - (g_hi * pos - g_lo * neg)
    if centre - g_lo * spread_lo < 0.5:
        g_lo = float(np.clip((lt - g_hi * pos - 0.5) / max(spread_lo - neg, 1e-3), DEEP_MIN_GAIN, g_lo))
        centre = lt - (g_hi * pos - g_lo * neg)
    if centre + g_hi * spread_hi > 99.5:
        g_hi = float(np.clip((99.5 - lt - g_lo * neg) / max(spread_hi - pos, 1e-3), DEEP_MIN_GAIN, g_hi))
        centre = lt - (g_hi * pos - g_lo * neg)
    if centre + g_hi * spread_hi > 99.5:
        centre = 99.5 - g_hi * spread_hi
    if centre - g_lo * spread_lo < 0.5:
        centre = 0.5 + g_lo * spread_lo
    new = np.empty_like(lab)
    gains = np.where(dl0 > 0, np.float32(g_hi), np.float32(g_lo))
    new[:, 0] = np.clip(np.float32(centre) + gains * dl0, 0.0, 100.0)
    cs = float(np.hypot(as_, bs))
    ct = float(np.hypot(at, bt))
    da = lab[:, 1] - as_
    db = lab[:, 2] - bs
    # Chroma that follows shading (darker -> duller) is the source's, not texture: remove the part
    # of the a/b deviation that is linear in L*, so the target's chroma holds across the shading.
    dl = lab[:, 0] - ls
    if core.sum() > 16:
        dlc = dl[core]
        var = float((dlc * dlc).mean())
        if var > 1e-3:
            da = da - float((da[core] * dlc).mean() / var) * dl
            db = db - float((db[core] * dlc).mean() / var) * dl
    scale = min(1.0, (ct + 2.0) / (cs + 2.0))
    if cs >= 6.0 and ct >= 6.0:
        rot = np.arctan2(bt, at) - np.arctan2(bs, as_)
        cr, sr = np.float32(np.cos(rot) * scale), np.float32(np.sin(rot) * scale)
        new[:, 1] = at + cr * da - sr * db
        new[:, 2] = bt + sr * da + cr * db
    else:
        new[:, 1] = at + scale * da
        new[:, 2] = bt + scale * db
    if delta_e00((ls, as_, bs), (lt, at, bt)) < SMALL_MOVE_DE:
        # A small correction (e.g. a photo already in its colourway, put onto the exact brand hex):
        # move every pixel by the same Lab offset, keeping the photo's own chroma and shading.
        new = lab + np.asarray([lt - ls, at - as_, bt - bs], np.float32)
        new[:, 0] = np.clip(new[:, 0], 0.0, 100.0)
    if ct >= 1.0:  # keep chroma inside the sRGB gamut at the target hue (hue kept, chroma reduced)
        lut = _max_chroma_lut(at, bt)
        cmax = (lut * np.float32(0.98))[np.clip(new[:, 0], 0.0, 100.0).astype(np.intp)]  # floor: conservative
        c = np.hypot(new[:, 1], new[:, 2])
        f = np.where(c > cmax, cmax / np.maximum(c, 1e-6), 1.0).astype(np.float32)
        new[:, 1] *= f
        new[:, 2] *= f
    rgb_new = cv2.cvtColor(new[None], cv2.COLOR_Lab2RGB)[0]
    blended = px.astype(np.float32) + (np.clip(rgb_new, 0.0, 1.0) * 255.0 - px) * wv[:, None]
    out.reshape(-1, 3)[idx] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def feather_mask(alpha: np.ndarray, feather_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Outward feather of a hard mask: returns (feathered alpha, ring of pixels it adds outside)."""
    if feather_px <= 0:
        return alpha, np.zeros(alpha.shape, bool)
    hard = (alpha >= 0.5).astype(np.float32)
    fa = hard.copy()
    ys, xs = np.nonzero(hard.any(axis=1))[0], np.nonzero(hard.any(axis=0))[0]
    if ys.size:
        pad = int(np.ceil(4 * feather_px)) + 2
        y0, y1 = max(0, ys[0] - pad), min(hard.shape[0], ys[-1] + pad + 1)
        x0, x1 = max(0, xs[0] - pad), min(hard.shape[1], xs[-1] + pad + 1)
        crop = hard[y0:y1, x0:x1]
        soft = cv2.GaussianBlur(crop, (0, 0), float(feather_px))
        f = np.maximum(crop, np.minimum(2.0 * soft, 1.0))
        f[f < 0.02] = 0.0
        fa[y0:y1, x0:x1] = f
    return fa, (fa > 0) & (hard == 0)
