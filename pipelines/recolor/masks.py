"""Product masks for recolor: which pixels belong to the product.

``product_mask(image, mask=..., onnx_model=...)`` takes the first source that applies:

1. ``alpha`` — the image's own alpha channel (RGBA cut-outs), used as a soft mask;
2. ``given`` — a caller's mask (array, PIL image or file; any non-zero/bright pixel counts,
   soft 8-bit masks are kept soft);
3. ``onnx`` — a local segmentation model (``.onnx`` file, run with onnxruntime, CPU): input
   ``[1, 3, H, W]`` float32 RGB in ``[0, 1]``; output ``[1, 1, h, w]`` / ``[1, h, w]``
   probabilities or logits (sigmoid applied when outside ``[0, 1]``), or ``[1, C, h, w]`` class
   scores with class 0 = background;
4. ``auto`` — studio shots: the background colour is modelled from the image border as a smooth
   (quadratic) field in CIELAB, so plain and gradient backgrounds work; pixels far from it are the
   product, cleaned with morphology, holes filled, specks dropped, refined at full resolution.

A mask covering ~0 % or ~100 % of the image is a ``PipelineInputError``, not a silent result.
"""

from __future__ import annotations

import functools
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


@dataclass(frozen=True)
class MaskResult:
    """A product mask: ``alpha`` float32 HxW in [0, 1], where it came from, and its coverage."""

    alpha: np.ndarray  # float32 HxW in [0,1]
    source: str  # 'alpha' | 'given' | 'auto' | 'onnx'
    coverage: float

    @property
    def is_hard(self) -> bool:
        """True when the mask is (nearly) binary, so the recolor step should feather its edge."""
        a = self.alpha
        soft = np.count_nonzero((a > 0.02) & (a < 0.98))
        edge = max(1, int(np.count_nonzero(cv2.morphologyEx((a > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT,
                                                              np.ones((3, 3), np.uint8)))))
        return bool(soft < 0.25 * edge)


def check_coverage(alpha: np.ndarray, source: str, *, min_coverage: float = MIN_COVERAGE,
                   max_coverage: float = MAX_COVERAGE) -> float:
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


def onnx_mask(rgb: np.ndarray, model: str | Path) -> np.ndarray:
    """Run a local ONNX segmentation model on ``rgb`` (uint8 HxWx3); returns float32 HxW in [0, 1]."""
    p = Path(model)
    if not p.is_file():
        raise PipelineInputError(f"onnx_model: file not found: {p}", field="onnx_model")
    sess = _onnx_session(str(p.resolve()), p.stat().st_mtime)
    inp = sess.get_inputs()[0]
    h, w = rgb.shape[:2]
    dims = list(inp.shape)
    if len(dims) != 4:
        raise PipelineInputError(f"onnx_model: input must be [N, 3, H, W], model has {dims}", field="onnx_model")
    mh, mw = dims[2], dims[3]
    if isinstance(mh, int) and isinstance(mw, int) and mh > 0 and mw > 0:
        size = (mw, mh)
    else:
        scale = min(1.0, _AUTO_WORK_SIDE / max(h, w))
        size = (max(32, int(round(w * scale / 32)) * 32), max(32, int(round(h * scale / 32)) * 32))
    x = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    out = np.asarray(sess.run(None, {inp.name: x})[0], dtype=np.float32)
    if out.ndim == 4 and out.shape[1] > 1:
        if out.shape[1] == 2:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            prob = (e[:, 1] / e.sum(axis=1))[0]
        else:
            prob = (out[0].argmax(axis=0) != 0).astype(np.float32)
    else:
        prob = out.reshape(out.shape[-2], out.shape[-1])
        if prob.min() < 0.0 or prob.max() > 1.0:
            prob = 1.0 / (1.0 + np.exp(-prob))
    prob = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return (prob >= 0.5).astype(np.float32)


def _fit_background(lab: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit a quadratic colour field to the border of ``lab``; returns (bg image, noise sigma)."""
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
    return bg, sigma


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def auto_mask(rgb: np.ndarray) -> np.ndarray:
    """Automatic product mask for studio shots (plain/gradient background); float32 HxW 0/1."""
    h, w = rgb.shape[:2]
    scale = min(1.0, _AUTO_WORK_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else rgb
    lab = _lab(small)
    bg, sigma = _fit_background(lab)
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
    if scale >= 1.0:
        return filled.astype(np.float32)
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
    return ((inner > 0) | (fine > 0)).astype(np.float32)


def product_mask(
    image: Image.Image,
    *,
    mask: np.ndarray | Image.Image | str | Path | None = None,
    onnx_model: str | Path | None = None,
) -> MaskResult:
    """The product's mask from the first source that applies: alpha, given, onnx, auto.

    Raises ``PipelineInputError`` for a mask of the wrong size, an unreadable mask/model, or a
    mask covering ~0 % / ~100 % of the image.
    """
    if image.mode == "RGBA":
        a = np.asarray(image.getchannel("A"))
        if a.min() < 255:
            alpha = a.astype(np.float32) / 255.0
            return MaskResult(alpha=alpha, source="alpha", coverage=check_coverage(alpha, "alpha channel"))
    shape = (image.height, image.width)
    if mask is not None:
        alpha = _given_mask(mask, shape)
        return MaskResult(alpha=alpha, source="given", coverage=check_coverage(alpha, "given"))
    rgb = np.asarray(image.convert("RGB"))
    if onnx_model is not None:
        alpha = onnx_mask(rgb, onnx_model)
        return MaskResult(alpha=alpha, source="onnx", coverage=check_coverage(alpha, "onnx model"))
    alpha = auto_mask(rgb)
    return MaskResult(alpha=alpha, source="auto", coverage=check_coverage(alpha, "automatic"))
