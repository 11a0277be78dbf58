"""Product masks for recolor: which pixels belong to the product.

``product_mask(image, mask=..., onnx_model=...)`` takes the first source that applies and says
which one and why (``MaskResult.source`` / ``reason``):

1. ``alpha`` — the image's own alpha channel (RGBA cut-outs), used as a soft mask;
2. ``given`` — a caller's mask (array, PIL image or file; any non-zero/bright pixel counts,
   soft 8-bit masks are kept soft);
3. ``onnx`` — a caller's local segmentation model (``.onnx``, onnxruntime, CPU) with its declared
   preprocessing (:class:`OnnxPreprocess`: input size, scale, mean/std, output kind), read from a
   JSON sidecar next to the model or passed as options; without one: x/255, output detected;
4. ``auto`` — studio shots, only when confident: the backdrop is modelled from the image border
   as a smooth (quadratic) field in CIELAB; when it explains the border well (residual <= 3 ΔE on
   >= 80 % of it), pixels far from it are the product, cleaned with morphology, holes filled,
   specks dropped, cast shadows (backdrop in shade, smooth, below the product) left out, refined
   at full resolution;
5. ``u2netp`` — otherwise the U²-Net-p salient-object model (Qin et al. 2020, Apache-2.0; the
   ONNX file from rembg, installed by ``maydo models install``, never downloaded at run time):
   RGB / max -> 320x320 -> ImageNet mean/std; first output min-max normalised = soft alpha.

A mask covering ~0 % or ~100 % of the image is a ``PipelineInputError``, not a silent result;
a mask that looks wrong (touching the border on >= 3 sides, holding a cast shadow) gets a
warning in ``MaskResult.warnings``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from pipelines._common.errors import PipelineInputError
from pipelines._common.images import load_image

MIN_COVERAGE = 0.003
MAX_COVERAGE = 0.97
_AUTO_WORK_SIDE = 512
STUDIO_MAX_SIGMA = 3.0
STUDIO_MIN_INLIERS = 0.8
STUDIO_MAX_AMBIGUOUS = 0.15


@dataclass(frozen=True)
class MaskResult:
    """A product mask: ``alpha`` float32 HxW in [0, 1], where it came from and why, its coverage."""

    alpha: np.ndarray  # float32 HxW in [0,1]
    source: str  # 'alpha' | 'given' | 'onnx' | 'auto' | 'u2netp'
    coverage: float
    reason: str = ""  # why this source was used
    warnings: tuple[str, ...] = ()  # the mask looks wrong (border on 3 sides, a cast shadow inside)

    @property
    def is_hard(self) -> bool:
        """True when the mask is (nearly) binary, so the recolor step should feather its edge."""
        a = self.alpha
        soft = np.count_nonzero((a > 0.02) & (a < 0.98))
        edge = max(
            1,
            int(
                np.count_nonzero(
                    cv2.morphologyEx((a > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
                )
            ),
        )
        return bool(soft < 0.25 * edge)


def check_coverage(
    alpha: np.ndarray, source: str, *, min_coverage: float = MIN_COVERAGE, max_coverage: float = MAX_COVERAGE
) -> float:
    """Coverage of a mask (mean alpha); raises ``PipelineInputError`` when ~0 % or ~100 %."""
    cov = float(alpha.mean())
    if cov < min_coverage:
        raise PipelineInputError(
            f"mask ({source}) covers {cov:.2%} of the image: no product found; give a mask that covers "
            f"the product (between {min_coverage:.1%} and {max_coverage:.0%} of the image)",
            field="mask",
        )
    if cov > max_coverage:
        raise PipelineInputError(
            f"mask ({source}) covers {cov:.2%} of the image: that is the whole frame, not a product; give a "
            f"mask between {min_coverage:.1%} and {max_coverage:.0%} of the image",
            field="mask",
        )
    return cov


def _given_mask(mask: np.ndarray | Image.Image | str | Path, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(mask, (str, Path)):
        img = load_image(mask, field="mask")
        mask = img
    if isinstance(mask, Image.Image):
        if mask.mode in ("RGBA", "LA") and np.asarray(mask.getchannel("A")).min() < 255:
            arr = np.asarray(mask.getchannel("A"), dtype=np.float32) / 255.0
        else:
            arr = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    else:
        a = np.asarray(mask)
        if a.ndim == 3:
            a = a[..., -1] if a.shape[2] == 4 else a.max(axis=2)
        if a.ndim != 2:
            raise PipelineInputError(f"mask must be a 2-D array (HxW), got shape {a.shape}", field="mask")
        if a.dtype == np.bool_:
            arr = a.astype(np.float32)
        elif np.issubdtype(a.dtype, np.integer):
            arr = a.astype(np.float32) / (255.0 if a.max() > 1 else 1.0)
        else:
            arr = np.clip(a.astype(np.float32), 0.0, 1.0)
    if arr.shape != shape:
        raise PipelineInputError(
            f"mask is {arr.shape[1]}x{arr.shape[0]} but the image is {shape[1]}x{shape[0]}; sizes must match",
            field="mask",
        )
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _onnx_session(path: str, mtime: float) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise PipelineInputError(f"onnx_model: {path} is not a loadable ONNX model: {exc}", field="onnx_model") from exc


OUTPUT_KINDS = ("auto", "probability", "logits", "minmax", "classes")
SCALES = ("255", "max")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class OnnxPreprocess:
    """How to feed a segmentation model and read its output (declared per model, not guessed).

    ``input_size`` (width, height) or ``None`` (the model's fixed input dims, else the image scaled
    to ~512 px in multiples of 32); ``scale`` ``"255"`` (x/255) or ``"max"`` (x/image max, as
    U²-Net); ``mean``/``std`` per RGB channel applied after scaling; ``channels`` ``"RGB"``/``"BGR"``;
    ``output`` ``"probability"`` (in [0, 1]), ``"logits"`` (sigmoid), ``"minmax"`` (min-max
    normalised, as U²-Net), ``"classes"`` ([1, C, h, w], class 0 = background) or ``"auto"``;
    ``output_index`` which model output; ``soft`` keep the soft alpha (else threshold at 0.5).
    Declared in a JSON sidecar next to the model (``model.json`` or ``model.onnx.json``) or
    passed as options; see :func:`onnx_preprocess_for`.
    """

    input_size: tuple[int, int] | None = None
    scale: str = "255"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channels: str = "RGB"
    output: str = "auto"
    output_index: int = 0
    soft: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, field: str = "onnx_preprocess") -> OnnxPreprocess:
        """Validate a sidecar/options mapping; raises ``PipelineInputError`` naming the bad key."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise PipelineInputError(
                f"{field}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}", field=field
            )
        kw: dict[str, Any] = {}
        try:
            if data.get("input_size") is not None:
                size = data["input_size"]
                w, h = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
                if not (16 <= w <= 4096 and 16 <= h <= 4096):
                    raise ValueError("input_size must be 16..4096")
                kw["input_size"] = (w, h)
            for key in ("mean", "std"):
                if key in data:
                    v = tuple(float(x) for x in data[key])
                    if len(v) != 3 or (key == "std" and min(v) <= 0):
                        raise ValueError(f"{key} must be 3 numbers" + (" > 0" if key == "std" else ""))
                    kw[key] = v
            if "output_index" in data:
                kw["output_index"] = int(data["output_index"])
            if "soft" in data:
                kw["soft"] = bool(data["soft"])
        except (TypeError, ValueError, IndexError) as exc:
            raise PipelineInputError(f"{field}: {exc}", field=field) from exc
        for key, choices in (("scale", SCALES), ("output", OUTPUT_KINDS), ("channels", ("RGB", "BGR"))):
            if key in data:
                val = str(data[key])
                if val not in choices:
                    raise PipelineInputError(
                        f"{field}.{key}: {val!r} not allowed; allowed: {', '.join(choices)}", field=f"{field}.{key}"
                    )
                kw[key] = val
        return cls(**kw)


#: U²-Net-p's own preprocessing (rembg): RGB / max -> 320x320 -> ImageNet mean/std; the first
#: output, min-max normalised, is a soft alpha.
U2NETP_PREPROCESS = OnnxPreprocess(
    input_size=(320, 320), scale="max", mean=IMAGENET_MEAN, std=IMAGENET_STD, output="minmax", output_index=0, soft=True
)
SALIENT_MODEL_FILE = "u2netp.onnx"
SALIENT_MODEL_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
INSTALL_HINT = "maydo models install"


def sidecar_path(model: str | Path) -> Path | None:
    """The JSON sidecar declaring ``model``'s preprocessing, if one exists next to it."""
    p = Path(model)
    for cand in (p.with_suffix(".json"), p.with_name(p.name + ".json")):
        if cand.is_file():
            return cand
    return None


def onnx_preprocess_for(model: str | Path, options: Mapping[str, Any] | None = None) -> OnnxPreprocess:
    """Preprocessing of ``model``: its JSON sidecar, overridden key by key by ``options``.

    No sidecar and no options: x/255, no mean/std, output kind detected (the historic default).
    Raises ``PipelineInputError`` for an unreadable sidecar or a bad key/value.
    """
    merged: dict[str, Any] = {}
    side = sidecar_path(model)
    if side is not None:
        try:
            loaded = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PipelineInputError(
                f"onnx_model: sidecar {side} is not valid JSON: {exc}", field="onnx_model"
            ) from exc
        if not isinstance(loaded, dict):
            raise PipelineInputError(f"onnx_model: sidecar {side} must hold a JSON object", field="onnx_model")
        merged.update(loaded.get("preprocess", loaded))
    if options:
        merged.update(options)
    return OnnxPreprocess.from_dict(merged, field="onnx_preprocess")


def onnx_mask(rgb: np.ndarray, model: str | Path, preprocess: OnnxPreprocess | None = None) -> np.ndarray:
    """Run a local ONNX segmentation model on ``rgb`` (uint8 HxWx3); returns float32 HxW in [0, 1].

    ``preprocess`` declares the model's input/output conventions (default: its sidecar, see
    :func:`onnx_preprocess_for`). Soft models return a soft alpha with its faint tails cut (values
    < 0.02 -> 0, > 0.98 -> 1, so the background far from the product stays bit-identical);
    others a 0/1 mask. Raises ``PipelineInputError`` for a missing/unloadable model or bad shapes.
    """
    p = Path(model)
    if not p.is_file():
        raise PipelineInputError(f"onnx_model: file not found: {p}", field="onnx_model")
    pre = preprocess if preprocess is not None else onnx_preprocess_for(p)
    sess = _onnx_session(str(p.resolve()), p.stat().st_mtime)
    inp = sess.get_inputs()[0]
    h, w = rgb.shape[:2]
    dims = list(inp.shape)
    if len(dims) != 4:
        raise PipelineInputError(f"onnx_model: input must be [N, 3, H, W], model has {dims}", field="onnx_model")
    mh, mw = dims[2], dims[3]
    if pre.input_size is not None:
        size = pre.input_size
    elif isinstance(mh, int) and isinstance(mw, int) and mh > 0 and mw > 0:
        size = (mw, mh)
    else:
        scale = min(1.0, _AUTO_WORK_SIDE / max(h, w))
        size = (max(32, int(round(w * scale / 32)) * 32), max(32, int(round(h * scale / 32)) * 32))
    src = rgb if pre.channels == "RGB" else rgb[..., ::-1]
    shrink = size[0] < w or size[1] < h
    resized = cv2.resize(np.ascontiguousarray(src), size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    x = np.asarray(resized, np.float32) / np.float32(max(1.0, float(rgb.max())) if pre.scale == "max" else 255.0)
    mean, std = np.asarray(pre.mean, np.float32), np.asarray(pre.std, np.float32)
    if pre.channels == "BGR":
        mean, std = mean[::-1], std[::-1]
    x = (x - mean) / std
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
    outs = sess.run(None, {inp.name: x})
    if not 0 <= pre.output_index < len(outs):
        raise PipelineInputError(
            f"onnx_preprocess.output_index {pre.output_index} out of range: the model has {len(outs)} outputs",
            field="onnx_preprocess.output_index",
        )
    out = np.asarray(outs[pre.output_index], dtype=np.float32)
    kind = pre.output
    if kind == "auto":
        kind = "classes" if out.ndim == 4 and out.shape[1] > 1 else "probability"
    if kind == "classes":
        if out.ndim != 4 or out.shape[1] < 2:
            raise PipelineInputError(
                f"onnx_model: output kind 'classes' needs [1, C>=2, h, w], got {list(out.shape)}",
                field="onnx_preprocess.output",
            )
        if out.shape[1] == 2:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            prob = (e[:, 1] / e.sum(axis=1))[0]
        else:
            prob = (out[0].argmax(axis=0) != 0).astype(np.float32)
    else:
        if out.size != out.shape[-1] * out.shape[-2]:
            raise PipelineInputError(
                f"onnx_model: expected a one-channel output [1, 1, h, w], got {list(out.shape)}",
                field="onnx_preprocess.output",
            )
        prob = out.reshape(out.shape[-2], out.shape[-1])
        if kind == "minmax":
            lo, hi = float(prob.min()), float(prob.max())
            prob = (prob - lo) / (hi - lo) if hi > lo else np.zeros_like(prob)
        elif kind == "logits" or prob.min() < 0.0 or prob.max() > 1.0:
            prob = 1.0 / (1.0 + np.exp(-prob))
    prob = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    if not pre.soft:
        return (prob >= 0.5).astype(np.float32)
    return np.clip((prob - 0.02) / 0.96, 0.0, 1.0).astype(np.float32)


def _fit_background(lab: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Fit a quadratic colour field to the border of ``lab``; returns (bg image, noise sigma, inlier share)."""
    h, w = lab.shape[:2]
    b = max(2, int(round(0.03 * min(h, w))))
    border = np.zeros((h, w), bool)
    border[:b, :] = border[-b:, :] = True
    border[:, :b] = border[:, -b:] = True
    yy, xx = np.nonzero(border)
    yn, xn = yy / h - 0.5, xx / w - 0.5
    design = np.stack([np.ones_like(xn), xn, yn, xn * xn, yn * yn, xn * yn], axis=1)
    vals = lab[yy, xx].astype(np.float64)
    keep = np.ones(len(vals), bool)
    coef = np.zeros((6, 3))
    for _ in range(3):  # robust refit: a product touching the border must not bend the field
        coef, *_ = np.linalg.lstsq(design[keep], vals[keep], rcond=None)
        res = np.linalg.norm(vals - design @ coef, axis=1)
        med = float(np.median(res[keep]))
        mad = float(np.median(np.abs(res[keep] - med))) + 1e-6
        keep = res < med + 4.0 * 1.4826 * mad + 1.0
    res = np.linalg.norm(vals[keep] - design[keep] @ coef, axis=1)
    sigma = float(np.sqrt(np.mean(res**2))) if res.size else 1.0
    Y, X = np.mgrid[0:h, 0:w].astype(np.float32)
    Yn, Xn = Y / h - 0.5, X / w - 0.5
    basis = [np.ones_like(Xn), Xn, Yn, Xn * Xn, Yn * Yn, Xn * Yn]
    bg = np.zeros((h, w, 3), np.float32)
    for k, f in enumerate(basis):
        bg += f[..., None] * coef[k].astype(np.float32)
    return bg, sigma, float(keep.mean())


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def _work_lab(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """CIELAB of ``rgb`` shrunk to at most ``_AUTO_WORK_SIDE`` px on its long side, and that scale (<= 1).

    The one working size of the studio-backdrop model, shared by the mask and the shadow warning.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, _AUTO_WORK_SIDE / max(h, w))
    small = (
        cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
        if scale < 1.0
        else rgb
    )
    return _lab(small), scale


@dataclass(frozen=True)
class StudioFit:
    """The studio-backdrop model of one image: how well a smooth field explains its border.

    ``sigma``: RMS residual (ΔE76) of the border pixels kept by the robust fit; ``inliers``: share
    of border pixels kept; ``shadow_px``: pixels removed from the mask as a cast shadow.
    ``ambiguous``: pixels near the mask whose distance from the backdrop is between 0.35x and 1x the
    threshold, per mask pixel (a product close to the backdrop colour, e.g. white on white).
    ``confident`` when the border is a clean backdrop (sigma <= 3, >= 80 % inliers) and the product
    stands clear of it (ambiguous <= 0.15). A cast shadow found below the product is left out of
    the mask (``shadow_px``); it does not lower the confidence.
    """

    sigma: float
    inliers: float
    shadow_px: int = 0
    ambiguous: float = 0.0

    @property
    def confident(self) -> bool:
        return (
            self.sigma <= STUDIO_MAX_SIGMA
            and self.inliers >= STUDIO_MIN_INLIERS
            and self.ambiguous <= STUDIO_MAX_AMBIGUOUS
        )


def auto_mask(rgb: np.ndarray) -> np.ndarray:
    """Automatic product mask for studio shots (plain/gradient background); float32 HxW 0/1."""
    return studio_mask(rgb)[0]


def studio_mask(rgb: np.ndarray) -> tuple[np.ndarray, StudioFit]:
    """Studio-backdrop mask (float32 HxW 0/1, cast shadows removed) and how well the backdrop fit."""
    h, w = rgb.shape[:2]
    lab, scale = _work_lab(rgb)
    bg, sigma, inliers = _fit_background(lab)
    thr = max(7.0, 5.0 * sigma)
    dist = np.linalg.norm(lab - bg, axis=2)
    fg = (dist > thr).astype(np.uint8)
    k3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    k7 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, k3)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k7)
    # Fill holes: background is what connects to the frame's edge.
    sh, sw = fg.shape
    padded = np.zeros((sh + 2, sw + 2), np.uint8)
    padded[1:-1, 1:-1] = fg
    flood = padded.copy()
    ff_mask = np.zeros((sh + 4, sw + 4), np.uint8)
    cv2.floodFill(flood, ff_mask, (0, 0), 2)
    filled = (flood[1:-1, 1:-1] != 2).astype(np.uint8)
    # Large background-coloured holes (a mug handle's opening) stay holes; small ones and holes
    # that differ from the background (e.g. a logo close to the backdrop colour) are filled.
    holes = ((filled > 0) & (fg == 0)).astype(np.uint8)
    nh, hl, hstats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    if nh > 1:
        big = np.nonzero(hstats[1:, cv2.CC_STAT_AREA] > 0.01 * max(1, int(fg.sum())))[0] + 1
        for i in big:
            sel = hl == i
            if float(np.median(dist[sel])) < 0.5 * thr:
                filled[sel] = 0
    # Drop specks smaller than 1 % of the largest part.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(filled, connectivity=8)
    if n > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep_ids = np.nonzero(areas >= 0.01 * areas.max())[0] + 1
        filled = np.isin(labels, keep_ids).astype(np.uint8)
    shadow = cast_shadow(lab, filled > 0, bg, sigma)
    n_shadow = int(np.count_nonzero(shadow))
    if n_shadow:
        filled = (filled > 0) & ~shadow
        n, labels, stats, _ = cv2.connectedComponentsWithStats(filled.astype(np.uint8), connectivity=8)
        if n > 1:
            areas = stats[1:, cv2.CC_STAT_AREA]
            filled = np.isin(labels, np.nonzero(areas >= 0.01 * areas.max())[0] + 1)
        filled = filled.astype(np.uint8)
    near = cv2.dilate(filled.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    amb = float(np.count_nonzero(near & (dist > 0.35 * thr) & (dist <= thr))) / max(1.0, float(filled.sum()))
    fit = StudioFit(sigma=sigma, inliers=inliers, shadow_px=int(round(n_shadow / (scale * scale))), ambiguous=amb)
    if scale >= 1.0:
        return filled.astype(np.float32), fit
    # Refine at full resolution: edges from the full-res distance, interior from the coarse mask.
    coarse = cv2.resize(filled, (w, h), interpolation=cv2.INTER_NEAREST)
    r = max(2, int(round(2.0 / scale)))
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    inner = cv2.erode(coarse, ker)
    outer = cv2.dilate(coarse, ker)
    bg_full = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    band = (outer > 0) & (inner == 0)
    ys, xs = np.nonzero(band)
    fine = np.zeros((h, w), np.uint8)
    if ys.size:
        px = _lab(rgb[ys, xs][None])[0]
        fine[ys, xs] = (np.linalg.norm(px - bg_full[ys, xs], axis=1) > thr).astype(np.uint8)
    if n_shadow:  # the shadow's soft edge must not come back through the full-resolution refinement
        fine &= (
            cv2.resize(
                cv2.dilate(shadow.astype(np.uint8), np.ones((3, 3), np.uint8)), (w, h), interpolation=cv2.INTER_NEAREST
            )
            == 0
        )
    return ((inner > 0) | (fine > 0)).astype(np.float32), fit


def cast_shadow(lab: np.ndarray, hard: np.ndarray, bg: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Pixels of ``hard`` (bool HxW) that look like a cast shadow on the backdrop ``bg`` (Lab HxWx3).

    A cast shadow is the backdrop in shade: darker than the backdrop model (ΔL* >= 3) with the
    backdrop's chromaticity (Δa*b* small), smooth (blurred |∇L*| < 2.5 per pixel, so the product's
    sharp silhouette stops it), near the mask's outline, below the bulk of the mask, and fading
    out *softly* below its patch (2-4 px further down the floor is still >= 20 % as dark as the
    patch's own lower edge, above twice the noise, and smooth: median |∇²L*| < 0.5 + sigma),
    where a product's edge is a step back to the backdrop. ``sigma`` (the backdrop's noise, ΔE)
    sets the darkness floor. Returns bool HxW (empty when nothing qualifies).
    """
    out = np.zeros(hard.shape, bool)
    if not hard.any():
        return out
    L = cv2.GaussianBlur(lab[..., 0], (0, 0), 1.0)
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    grad = np.hypot(gx, gy)
    texture = cv2.blur(np.abs(cv2.Laplacian(L, cv2.CV_32F, ksize=3)), (5, 5))  # ~0 on a smooth ramp
    dl = bg[..., 0] - L
    dab = np.hypot(lab[..., 1] - bg[..., 1], lab[..., 2] - bg[..., 2])
    cand = hard & (dl >= max(3.0, 4.0 * sigma)) & (dab <= 3.0 + 0.08 * dl) & (grad < 2.5)
    if not cand.any():
        return out
    h8 = hard.astype(np.uint8)
    outline = (h8 - cv2.erode(h8, np.ones((3, 3), np.uint8))) > 0
    near_outline = cv2.dilate(outline.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    n, labels, stats, cents = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=4)
    cy = float(np.nonzero(hard)[0].mean())
    total = float(hard.sum())
    rows = np.arange(hard.shape[0])[:, None]
    k3, k9 = np.ones((3, 3), np.uint8), np.ones((9, 9), np.uint8)
    for i in np.unique(labels[near_outline & cand]):
        area = int(stats[i, cv2.CC_STAT_AREA])
        if i == 0 or area < 0.01 * total or area > 0.5 * total or cents[i][1] <= cy:
            continue
        comp = labels == i
        rest_y = np.nonzero(hard & ~comp)[0]
        # A cast shadow lies on the floor: below the bulk of the product, not beside or above it.
        if not rest_y.size or float(np.median(np.nonzero(comp)[0])) <= float(np.percentile(rest_y, 75)):
            continue
        c8 = comp.astype(np.uint8)
        below = rows > cents[i][1]
        edge_in = comp & (cv2.erode(c8, k3) == 0) & below
        band = (cv2.dilate(c8, k9) > 0) & (cv2.dilate(c8, k3) == 0) & below
        if not edge_in.any() or not band.any():
            continue
        # Soft fade (the floor keeps >= 20 % of the darkness just past the patch, above the noise),
        # not a step back to the backdrop.
        # The floor there is as smooth as a shadow's ramp (fabric or print has texture).
        fade = float(np.median(dl[band]))
        smooth = float(np.median(texture[band])) < 0.5 + sigma
        if smooth and fade >= 0.2 * float(np.median(dl[edge_in])) and fade >= 2.0 * sigma:
            out |= comp
    return out


def mask_warnings(alpha: np.ndarray, rgb: np.ndarray | None = None) -> list[str]:
    """Warnings for a mask that looks wrong: touching the border on >= 3 sides, a cast shadow inside.

    ``alpha`` float32 HxW; ``rgb`` uint8 HxWx3 enables the shadow check (done only where the
    image border is a clean studio backdrop, which the shadow test needs as reference).
    """
    hard = alpha >= 0.5
    warns: list[str] = []
    if not hard.any():
        return warns
    sides = {"top": hard[0], "bottom": hard[-1], "left": hard[:, 0], "right": hard[:, -1]}
    touched = [k for k, v in sides.items() if v.mean() > 0.02]
    if len(touched) >= 3:
        warns.append(
            f"the mask touches the image border on {len(touched)} sides ({', '.join(touched)}): it may "
            "include background; check the mask output or give --mask"
        )
    if rgb is not None:
        lab, scale = _work_lab(rgb)
        size = (lab.shape[1], lab.shape[0])
        hs = cv2.resize(hard.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0 if scale < 1.0 else hard
        bg, sigma, inliers = _fit_background(lab)
        if sigma <= STUDIO_MAX_SIGMA and inliers >= STUDIO_MIN_INLIERS:
            sh = cast_shadow(lab, hs, bg, sigma)
            frac = float(sh.sum()) / max(1.0, float(hs.sum()))
            if frac >= 0.01:
                warns.append(
                    f"the mask seems to include a cast shadow ({frac:.1%} of it is the backdrop in shade, "
                    "below the product); the shadow will be recoloured unless you give --mask"
                )
    return warns


def default_models_dir() -> Path:
    """Where installed model files live: ``$MAYDO_MODELS_DIR``, else ``$MAYDO_DATA_DIR/models``,
    else ``./maydo-data/models`` (the workers' settings pass their configured directory instead)."""
    env = os.environ.get("MAYDO_MODELS_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("MAYDO_DATA_DIR") or "maydo-data") / "models"


def salient_model_path(models_dir: str | Path | None = None) -> Path:
    """Path of the installed U²-Net-p model; ``PipelineInputError`` naming the install command if absent."""
    d = Path(models_dir) if models_dir is not None else default_models_dir()
    path = d / SALIENT_MODEL_FILE
    if not path.is_file():
        raise PipelineInputError(
            f"this photo has no alpha channel, no mask was given and its background is not a plain studio "
            f"backdrop, so the salient-object model is needed, but {path} is missing; install it with "
            f"`{INSTALL_HINT}` (or `make demo` / `make test`), or give --mask",
            field="mask",
        )
    return path


def masks_per_image(mask: Any, n_images: int) -> list[Any]:
    """One mask spec (or None) per image from a ``mask`` param, as both recolor engines take it.

    ``mask``: None (find each image's mask), one mask (only for a single image) or a list/tuple
    with one mask or None per image. Raises ``PipelineInputError`` (field ``mask``) on a count mismatch.
    """
    if mask is None:
        return [None] * n_images
    if isinstance(mask, (list, tuple)):
        masks = list(mask)
        if len(masks) != n_images:
            raise PipelineInputError(f"got {len(masks)} masks for {n_images} images; give one per image", field="mask")
        return masks
    if n_images > 1:
        raise PipelineInputError("one mask given for several images; give a list, one per image", field="mask")
    return [mask]


def product_mask(
    image: Image.Image,
    *,
    mask: np.ndarray | Image.Image | str | Path | None = None,
    onnx_model: str | Path | None = None,
    onnx_preprocess: Mapping[str, Any] | OnnxPreprocess | None = None,
    models_dir: str | Path | None = None,
) -> MaskResult:
    """The product's mask from the first source that applies (the result says which and why).

    1. ``alpha``: the image's own alpha channel; 2. ``given``: ``mask``; 3. ``onnx``: the caller's
    ``onnx_model`` with its declared preprocessing (sidecar JSON or ``onnx_preprocess``);
    4. ``auto``: the studio-backdrop model, when the image border is a clean backdrop (cast
    shadows removed); 5. ``u2netp``: the installed U²-Net-p salient-object model (soft alpha) from
    ``models_dir`` (default :func:`default_models_dir`).

    Raises ``PipelineInputError`` for a mask of the wrong size, an unreadable mask/model, a
    missing U²-Net-p file (naming ``maydo models install``), or a mask covering ~0 % / ~100 %.
    """
    if image.mode == "RGBA":
        a = np.asarray(image.getchannel("A"))
        if a.min() < 255:
            alpha = a.astype(np.float32) / 255.0
            return MaskResult(
                alpha=alpha,
                source="alpha",
                coverage=check_coverage(alpha, "alpha channel"),
                reason="the image has a transparent background (alpha channel)",
            )
    shape = (image.height, image.width)
    rgb = np.asarray(image.convert("RGB"))
    if mask is not None:
        alpha = _given_mask(mask, shape)
        return MaskResult(
            alpha=alpha,
            source="given",
            coverage=check_coverage(alpha, "given"),
            reason="a mask was given",
            warnings=tuple(mask_warnings(alpha, rgb)),
        )
    if onnx_model is not None:
        pre = (
            onnx_preprocess
            if isinstance(onnx_preprocess, OnnxPreprocess)
            else onnx_preprocess_for(onnx_model, onnx_preprocess)
        )
        alpha = onnx_mask(rgb, onnx_model, pre)
        return MaskResult(
            alpha=alpha,
            source="onnx",
            coverage=check_coverage(alpha, "onnx model"),
            reason=f"the given segmentation model {Path(onnx_model).name}",
            warnings=tuple(mask_warnings(alpha, rgb)),
        )
    alpha, fit = studio_mask(rgb)
    cov = float(alpha.mean())
    studio = (
        f"border fits a smooth studio backdrop (residual {fit.sigma:.1f} ΔE, {fit.inliers:.0%} of the "
        f"border) and the product stands clear of it ({fit.ambiguous:.0%} ambiguous pixels)"
    )
    if fit.confident:
        reason = studio + (f"; {fit.shadow_px} px of cast shadow left out" if fit.shadow_px else "")
        return MaskResult(
            alpha=alpha,
            source="auto",
            coverage=check_coverage(alpha, "automatic"),
            reason=reason,
            warnings=tuple(mask_warnings(alpha)),
        )
    if fit.sigma > STUDIO_MAX_SIGMA or fit.inliers < STUDIO_MIN_INLIERS:
        why = (
            f"the border is not a plain studio backdrop (residual {fit.sigma:.1f} ΔE on the {fit.inliers:.0%} of "
            f"it kept by the robust fit; a backdrop needs <= {STUDIO_MAX_SIGMA:.0f} ΔE on >= "
            f"{STUDIO_MIN_INLIERS:.0%})"
        )
    else:
        why = (
            f"the product is too close to its backdrop's colour for the studio mask ({fit.ambiguous:.0%} "
            f"ambiguous pixels, allowed {STUDIO_MAX_AMBIGUOUS:.0%})"
        )
    path = salient_model_path(models_dir)
    alpha = onnx_mask(rgb, path, U2NETP_PREPROCESS)
    return MaskResult(
        alpha=alpha,
        source="u2netp",
        coverage=check_coverage(alpha, "U²-Net-p salient object"),
        reason=f"U²-Net-p salient-object model: {why} (studio mask would cover {cov:.1%})",
        warnings=tuple(mask_warnings(alpha, rgb)),
    )
