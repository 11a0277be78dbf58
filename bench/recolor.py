"""Benchmark of the exact recolor engine vs two baselines on the synthetic product suite.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/recolor.py [--sizes 512 1024 2048] [--repeat 3]``

Per image size: ms per image (automatic/alpha mask, main-colour region, colour apply; median over
the suite, single thread) and quality over the suite, measured on the ground-truth main-colour
region: median / worst median ΔE00 at matched L*, worst p90, worst L* SSIM, largest change
outside the mask (feather ring excluded), largest logo ΔE00. Baselines get the same mask:
``hsv-rotate`` (OpenCV HSV, hue set to the target's, S and V kept) and ``reinhard`` (Reinhard et
al. 2001 mean/std transfer, per channel in CIELAB, to the target colour with the source's spread).

Real-photo rows (``--photos``, on by default): the full pipeline (mask chain -> region -> apply ->
report) on scikit-image's real coffee photo and on the hard synthetic cases (white fabric tee on
a light gradient, 16-bit grey bottle with a floor shadow and a white logo), each resized to
1024x1024: mask source, mask ms, recolor ms (colour model + region + apply), ΔE00 median / p90 at
matched L*, and pixels changed outside the product mask (the report's honest count; for the
synthetic cases also against the ground-truth silhouette). Needs U²-Net-p (`maydo models install`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from skimage.color import deltaE_ciede2000, rgb2lab  # noqa: E402

from maydo_testing.synthetic import (  # noqa: E402
    SyntheticProduct,
    render_grey16,
    render_white_tee,
    synthetic_suite,
)
from pipelines._common.colors import NamedColor, parse_color  # noqa: E402
from pipelines.recolor.colour_shift import (  # noqa: E402
    apply_target_color,
    color_weights,
    feather_mask,
    fit_color_model,
    source_stats,
)
from pipelines.recolor.masks import product_mask  # noqa: E402
from pipelines.recolor.pipeline_output import quality_report  # noqa: E402

cv2.setNumThreads(1)


def hsv_rotate(rgb: np.ndarray, mask: np.ndarray, target: NamedColor) -> np.ndarray:
    """Baseline: set the hue (OpenCV HSV) of every masked pixel to the target's; keep S, V."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    t_h = cv2.cvtColor(np.array([[target.rgb]], np.uint8), cv2.COLOR_RGB2HSV_FULL)[0, 0, 0]
    hsv2 = hsv.copy()
    hsv2[..., 0] = t_h
    out = cv2.cvtColor(hsv2, cv2.COLOR_HSV2RGB_FULL)
    m = mask[..., None] > 0.5
    return np.where(m, out, rgb)


def reinhard(rgb: np.ndarray, mask: np.ndarray, target: NamedColor) -> np.ndarray:
    """Baseline: Reinhard colour transfer in CIELAB: (x - mu_s) / sd_s * sd_t + mu_t, sd_t = sd_s."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    m = mask > 0.5
    mu = lab[m].mean(axis=0)
    new = lab - mu + np.asarray(target.lab, np.float32)
    out = (np.clip(cv2.cvtColor(new, cv2.COLOR_Lab2RGB), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.where(m[..., None], out, rgb)


def logo_de(p: SyntheticProduct, res: np.ndarray) -> float:
    if not p.logo.any():
        return 0.0
    a = rgb2lab(p.rgb[p.logo][None] / 255.0)[0]
    b = rgb2lab(res[p.logo][None] / 255.0)[0]
    return float(deltaE_ciede2000(a, b).max())


def run_size(size: int, repeat: int) -> dict[str, dict[str, float]]:
    suite = synthetic_suite(size)
    times: dict[str, list[float]] = {"mask": [], "region": [], "apply": []}
    rows: dict[str, dict[str, list[float]]] = {k: {} for k in ("exact", "hsv-rotate", "reinhard")}
    for p, spec in suite:
        target = parse_color(spec)
        img = Image.fromarray(p.image)
        t_mask, t_region, t_apply = [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            mres = product_mask(img)
            t1 = time.perf_counter()
            alpha, ring = feather_mask(mres.alpha, 1.5) if mres.is_hard else (mres.alpha, np.zeros_like(p.mask))
            model = fit_color_model([p.rgb], [alpha])
            weights = color_weights(p.rgb, alpha, model)
            src = source_stats(p.rgb, weights)
            t2 = time.perf_counter()
            res = apply_target_color(p.rgb, weights, target, source_lab_mean=src)
            t3 = time.perf_counter()
            t_mask.append(t1 - t0)
            t_region.append(t2 - t1)
            t_apply.append(t3 - t2)
        times["mask"].append(min(t_mask) * 1000)
        times["region"].append(min(t_region) * 1000)
        times["apply"].append(min(t_apply) * 1000)
        gt = p.region.astype(np.float32)
        outputs = {"exact": (res, ring), "hsv-rotate": (hsv_rotate(p.rgb, alpha, target), ring),
                   "reinhard": (reinhard(p.rgb, alpha, target), ring)}
        for name, (out, edge) in outputs.items():
            rep = quality_report(p.rgb, out, mres.alpha, gt, target, edge_ring=edge)
            d = rows[name]
            for key, val in (("median_de00", rep.median_de00), ("p90_de00", rep.p90_de00), ("l_ssim", rep.l_ssim),
                             ("max_abs_outside", float(rep.max_abs_outside)), ("logo_de00", logo_de(p, out))):
                d.setdefault(key, []).append(val)
    summary: dict[str, dict[str, float]] = {
        "timing": {k: statistics.median(v) for k, v in times.items()},
    }
    for name, d in rows.items():
        summary[name] = {
            "median_de00": statistics.median(d["median_de00"]),
            "worst_median_de00": max(d["median_de00"]),
            "worst_p90_de00": max(d["p90_de00"]),
            "worst_l_ssim": min(d["l_ssim"]),
            "max_abs_outside": max(d["max_abs_outside"]),
            "worst_logo_de00": max(d["logo_de00"]),
        }
    summary["timing"]["recolor"] = summary["timing"]["region"] + summary["timing"]["apply"]
    summary["timing"]["n"] = len(suite)
    return summary


def _photo_cases(side: int) -> list[tuple[str, np.ndarray, np.ndarray | None, str]]:
    """(name, uint8 RGB side x side, ground-truth silhouette or None, target spec)."""
    from skimage import data

    from pipelines._common.images import load_image

    def sq(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(rgb).resize((side, side), Image.Resampling.LANCZOS))

    cup = sq(np.ascontiguousarray(data.coffee()))
    tee = render_white_tee(side, seed=3)
    g16 = render_grey16(side, seed=4)
    grey = np.asarray(load_image(Image.fromarray(g16.image)))[..., :3]
    return [
        ("coffee (real photo)", cup, None, "navy"),
        ("coffee (real photo)", cup, None, "#7FA38A"),
        ("white fabric tee, light gradient", tee.image, tee.mask, "#1E5AA8"),
        ("16-bit grey bottle, shadow + logo", grey, g16.mask, "#D9467A"),
    ]


def run_photos(side: int, repeat: int, models_dir: str | None) -> list[dict[str, object]]:
    from pipelines.recolor.config import RecolorParams
    from pipelines.recolor.pipeline_recolor import RecolorPipeline

    pipe = RecolorPipeline(models_dir=models_dir)
    rows: list[dict[str, object]] = []
    for name, rgb, gt, spec in _photo_cases(side):
        best: dict[str, float] = {}
        out = None
        for _ in range(repeat):
            out = pipe(rgb, RecolorParams(to_colors=spec))
            t = out.timings_ms[0]
            for key, val in (("mask", t["mask"]), ("recolor", t["model"] + t["weights"] + t["recolor"])):
                best[key] = min(best.get(key, float("inf")), val)
        assert out is not None
        rep = out.reports[0]
        res = np.asarray(out.images[0])[..., :3]
        gt_out = "-"
        if gt is not None:
            gt_out = str(int(np.count_nonzero((np.abs(res.astype(int) - rgb).max(axis=2) > 0) & ~gt)))
        rows.append({"photo": name, "target": out.targets[0].hex, "source": out.mask_sources[0],
                     "mask_ms": best["mask"], "recolor_ms": best["recolor"], "med": rep.median_de00,
                     "p90": rep.p90_de00, "out_px": rep.changed_outside_px, "out_max": rep.max_abs_outside_mask,
                     "gt_out": gt_out, "cover": rep.coverage})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats per image (min taken)")
    ap.add_argument("--photos", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the real-photo rows at 1024x1024 (needs `maydo models install`)")
    ap.add_argument("--models-dir", default=None, help="where u2netp.onnx is (default: maydo-data/models)")
    args = ap.parse_args()
    console = Console(width=200)  # tables are wide; never wrap them into unreadable columns
    if args.photos:
        table = Table(title="recolor bench — real photos and hard products at 1024x1024, full pipeline, 1 thread "
                            "(ms: min of repeats; ΔE00 at matched L*; outside = changed pixels outside the mask)")
        for col in ("photo", "target", "mask source", "mask ms", "recolor ms", "ΔE00 med", "ΔE00 p90",
                    "outside px (max Δ)", "outside GT px", "cover"):
            table.add_column(col, justify="right")
        for r in run_photos(1024, args.repeat, args.models_dir):
            table.add_row(str(r["photo"]), str(r["target"]), str(r["source"]), f"{r['mask_ms']:.0f}",
                          f"{r['recolor_ms']:.0f}", f"{r['med']:.2f}", f"{r['p90']:.2f}",
                          f"{r['out_px']} ({r['out_max']})", str(r["gt_out"]), f"{r['cover']:.1%}")
        console.print(table)
    for size in args.sizes:
        s = run_size(size, args.repeat)
        t = s["timing"]
        table = Table(title=f"recolor bench {size}x{size} — {int(t['n'])} synthetic products, 1 thread; "
                            f"ms/image (median): mask {t['mask']:.1f} | region {t['region']:.1f} | "
                            f"apply {t['apply']:.1f} | recolor step {t['recolor']:.1f}")
        for col in ("method", "ΔE00 med", "worst med", "worst p90", "worst L*SSIM", "outside max", "logo ΔE00 max"):
            table.add_column(col, justify="right")
        for name in ("exact", "hsv-rotate", "reinhard"):
            r = s[name]
            table.add_row(name, f"{r['median_de00']:.2f}", f"{r['worst_median_de00']:.2f}",
                          f"{r['worst_p90_de00']:.2f}", f"{r['worst_l_ssim']:.3f}", f"{r['max_abs_outside']:.0f}",
                          f"{r['worst_logo_de00']:.2f}")
        console.print(table)


if __name__ == "__main__":
    main()
