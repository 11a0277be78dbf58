"""Recolor results and their quality metrics (shared by the exact and diffusion engines).

``quality_report(original, result, mask, region, target, edge_ring=...)`` measures one output:

- ``median_de00`` / ``p90_de00``: CIEDE2000 between each fully recolored pixel's colour *at
  matched L** (its L* set to the target's, so intended shading does not count) and the target;
- ``l_ssim``: SSIM of L* inside the region, original vs result, after removing the region's
  mean L* shift (shading/texture kept = 1.0);
- ``mean_l`` / ``mean_dl``: the region's mean L* and its offset from the target's L*;
- ``changed_outside_px`` / ``max_abs_outside_mask``: every pixel outside the product mask
  (alpha < 0.5) whose value changed at all, feather ring included, and the largest change among
  them — the honest "outside Δ";
- ``max_abs_outside``: largest 8-bit change outside the mask and outside ``edge_ring`` (the
  feather ring) — 0 means the background beyond the feather is pixel-identical;
  ``max_abs_edge_ring`` for the ring;
- ``coverage`` (mask mean) and ``region_fraction`` (recolored share of the mask).

``RecolorOutput`` holds one entry per (image, colour) pair, image-major: entry
``i * len(targets_per_image) + j`` is image ``i`` in colour ``j`` (see ``index``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from pipelines._common.colors import NamedColor

if TYPE_CHECKING:
    from pipelines.recolor.masks import MaskResult

_MAX_DE_SAMPLES = 40_000


@dataclass(frozen=True)
class QualityReport:
    """Quality metrics of one recolored image (see module docstring for definitions)."""

    median_de00: float
    p90_de00: float
    l_ssim: float
    max_abs_outside: int
    coverage: float
    region_fraction: float
    mean_l: float = float("nan")
    mean_dl: float = float("nan")
    max_abs_edge_ring: int = 0
    region_pixels: int = 0
    target_hex: str = ""
    changed_outside_px: int = 0
    max_abs_outside_mask: int = 0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in asdict(self).items():
            if isinstance(v, float):
                out[k] = None if math.isnan(v) else round(v, 4)
            else:
                out[k] = v
        return out


@dataclass(frozen=True)
class RecolorOutput:
    """Recolored images, one entry per (image, colour) pair in image-major order.

    ``images[k]`` (PIL, RGB or RGBA like the input), ``masks[k]`` (float32 HxW recolor weights
    actually applied), ``reports[k]`` and ``targets[k]`` belong together; ``n_images`` and
    ``n_targets`` give the grid and ``index(i, j)`` the position of image ``i`` in colour ``j``.
    """

    images: list[Image.Image]
    masks: list[np.ndarray]
    reports: list[QualityReport]
    targets: list[NamedColor]
    n_images: int = 1
    n_targets: int = 1
    mask_sources: list[str] = field(default_factory=list)
    timings_ms: list[dict[str, float]] = field(default_factory=list)
    product_masks: list[np.ndarray] = field(default_factory=list)  # per image: float32 HxW product alpha
    mask_reasons: list[str] = field(default_factory=list)  # per image: why that mask source
    mask_warnings: list[tuple[str, ...]] = field(default_factory=list)  # per image: mask looks wrong, GIF frames
    region_notes: list[str] = field(default_factory=list)  # per image: which colour region moved and why

    def cutout(self, k: int) -> Image.Image:
        """RGBA cut-out of entry ``k``: the recolored product on transparency, soft edge, straight alpha.

        Uses the image's product mask (see ``pipelines._common.images.cutout_rgba`` for the edge
        colour decontamination). Raises ``IndexError`` when the engine kept no product mask.
        """
        from pipelines._common.images import cutout_rgba

        i = k // max(1, self.n_targets)
        return cutout_rgba(np.asarray(self.images[k])[..., :3], self.product_masks[i])

    def index(self, image: int, target: int) -> int:
        """Position of image ``image`` recolored to target ``target`` in the lists."""
        return image * self.n_targets + target

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (no pixels): per entry the target, report, mask source and size."""
        entries = []
        for k, (img, rep, tgt) in enumerate(zip(self.images, self.reports, self.targets, strict=True)):
            i = k // max(1, self.n_targets)
            entries.append(
                {
                    "image_index": i,
                    "target_index": k % max(1, self.n_targets),
                    "target": tgt.to_dict(),
                    "size": [img.width, img.height],
                    "mask_source": self.mask_sources[i] if i < len(self.mask_sources) else None,
                    "mask_reason": self.mask_reasons[i] if i < len(self.mask_reasons) else None,
                    "mask_warnings": list(self.mask_warnings[i]) if i < len(self.mask_warnings) else [],
                    "region": self.region_notes[i] if i < len(self.region_notes) else None,
                    "report": rep.to_dict(),
                    "timings_ms": self.timings_ms[k] if k < len(self.timings_ms) else {},
                }
            )
        return {"n_images": self.n_images, "n_targets": self.n_targets, "entries": entries}


@dataclass(frozen=True)
class RecolorEntry:
    """One (image, colour) result before it joins a :class:`RecolorOutput`."""

    image: Image.Image
    weights: np.ndarray  # float32 HxW recolor weights actually applied
    report: QualityReport
    target: NamedColor
    timings_ms: dict[str, float]


def result_image(rgb: np.ndarray, alpha_u8: np.ndarray | None) -> Image.Image:
    """The output PIL image: uint8 HxWx3 ``rgb``, with the input's own alpha (uint8 HxW) put back if any."""
    if alpha_u8 is not None:
        return Image.fromarray(np.dstack([rgb, alpha_u8]), "RGBA")
    return Image.fromarray(rgb, "RGB")


def build_output(
    entries: Sequence[RecolorEntry],
    masks: Sequence[MaskResult],
    n_targets: int,
    *,
    mask_warnings: Sequence[tuple[str, ...]] | None = None,
    region_notes: Sequence[str] = (),
) -> RecolorOutput:
    """Assemble a :class:`RecolorOutput` (the one place both engines build it).

    ``entries`` image-major (image ``i`` in colour ``j`` at ``i * n_targets + j``); ``masks``: the
    product mask of each image; ``mask_warnings`` overrides the masks' own warnings per image.
    """
    return RecolorOutput(
        images=[e.image for e in entries],
        masks=[e.weights for e in entries],
        reports=[e.report for e in entries],
        targets=[e.target for e in entries],
        n_images=len(masks),
        n_targets=n_targets,
        mask_sources=[str(m.source) for m in masks],
        timings_ms=[e.timings_ms for e in entries],
        product_masks=[m.alpha for m in masks],
        mask_reasons=[m.reason for m in masks],
        mask_warnings=list(mask_warnings) if mask_warnings is not None else [m.warnings for m in masks],
        region_notes=list(region_notes),
    )


def _lab_u8(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def quality_report(
    original: np.ndarray,
    result: np.ndarray,
    mask: np.ndarray,
    region: np.ndarray,
    target: NamedColor,
    *,
    edge_ring: np.ndarray | None = None,
) -> QualityReport:
    """Measure one recolor: colour accuracy, shading kept, background untouched (module doc).

    ``original``/``result`` are uint8 HxWx3 (alpha dropped), ``mask`` the product mask (float or
    bool HxW, before feathering), ``region`` the recolor weights (pixels >= 0.95 count as fully
    recolored), ``edge_ring`` the pixels a feathered edge may touch outside the mask.
    """
    from skimage.color import deltaE_ciede2000, rgb2lab
    from skimage.metrics import structural_similarity

    orig = np.asarray(original)[..., :3]
    res = np.asarray(result)[..., :3]
    m = np.asarray(mask, dtype=np.float32)
    reg = np.asarray(region, dtype=np.float32)
    diff = np.abs(orig.astype(np.int16) - res.astype(np.int16)).max(axis=2)
    outside = m <= 0.0
    not_product = m < 0.5
    changed_out = int(np.count_nonzero(not_product & (diff > 0)))
    max_out_mask = int(diff[not_product].max()) if not_product.any() else 0
    ring = np.zeros_like(outside) if edge_ring is None else np.asarray(edge_ring, bool)
    out_px = outside & ~ring
    max_out = int(diff[out_px].max()) if out_px.any() else 0
    max_ring = int(diff[ring & outside].max()) if (ring & outside).any() else 0
    coverage = float(m.mean())
    inside_count = float(np.count_nonzero(m > 0.5))
    region_fraction = float(np.count_nonzero((reg >= 0.5) & (m > 0.5)) / inside_count) if inside_count else 0.0
    core = reg >= 0.95
    n_core = int(np.count_nonzero(core))
    if n_core == 0:
        nan = float("nan")
        return QualityReport(nan, nan, nan, max_out, coverage, region_fraction, max_abs_edge_ring=max_ring,
                             target_hex=target.hex, changed_outside_px=changed_out,
                             max_abs_outside_mask=max_out_mask)
    idx = np.flatnonzero(core)
    step = max(1, idx.size // _MAX_DE_SAMPLES)
    sample = idx[::step]
    lab = rgb2lab(res.reshape(-1, 3)[sample].astype(np.float64)[None] / 255.0)[0]
    mean_l = float(lab[:, 0].mean())
    matched = lab.copy()
    matched[:, 0] = target.lab[0]
    ref = np.broadcast_to(np.asarray(target.lab, np.float64), matched.shape)
    de = deltaE_ciede2000(matched, ref)
    # SSIM of L* on the region's bounding box, mean over the region, mean shift removed.
    ys, xs = np.nonzero(core)
    pad = 8
    y0, y1 = max(0, ys.min() - pad), min(core.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(core.shape[1], xs.max() + pad + 1)
    lo = _lab_u8(orig[y0:y1, x0:x1])[..., 0]
    lr = _lab_u8(res[y0:y1, x0:x1])[..., 0]
    c = core[y0:y1, x0:x1]
    lr = lr - float(lr[c].mean() - lo[c].mean())
    win = 7 if min(lo.shape) >= 7 else (min(lo.shape) // 2) * 2 + 1
    _, smap = structural_similarity(lo, lr, data_range=100.0, win_size=win, full=True)
    # Only windows lying wholly inside the region: logos and the background are not shifted.
    inner = cv2.erode(c.astype(np.uint8), np.ones((win, win), np.uint8)) > 0
    l_ssim = float(np.asarray(smap)[inner if inner.any() else c].mean())
    return QualityReport(
        median_de00=float(np.median(de)),
        p90_de00=float(np.percentile(de, 90)),
        l_ssim=l_ssim,
        max_abs_outside=max_out,
        coverage=coverage,
        region_fraction=region_fraction,
        mean_l=mean_l,
        mean_dl=mean_l - float(target.lab[0]),
        max_abs_edge_ring=max_ring,
        region_pixels=n_core,
        target_hex=target.hex,
        changed_outside_px=changed_out,
        max_abs_outside_mask=max_out_mask,
    )
