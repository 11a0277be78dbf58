"""Exact recolor on synthetic products with ground truth: colour accuracy, shading, untouched pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from maydo_testing.synthetic import render_product, synthetic_suite
from pipelines._common.colors import delta_e00, parse_color
from pipelines._common.errors import PipelineInputError
from pipelines.recolor.colour_shift import apply_target_color, main_color_weights
from pipelines.recolor.config import RecolorParams
from pipelines.recolor.pipeline_output import QualityReport, RecolorOutput, quality_report
from pipelines.recolor.pipeline_recolor import RecolorPipeline
from tests.pipelines.recolor.conftest import SIZE, de00, lab_of

SUITE = synthetic_suite(SIZE)


@pytest.mark.parametrize("case", range(len(SUITE)), ids=[f"{p.name}->{t}" for p, t in SUITE])
def test_synthetic_suite_meets_targets(pipe: RecolorPipeline, case: int) -> None:
    p, target = SUITE[case]
    out = pipe(p.image, RecolorParams(to_colors=target))
    rep = out.reports[0]
    res = np.asarray(out.images[0])
    assert res.shape == p.image.shape  # RGBA stays RGBA
    assert rep.median_de00 <= 2.0, rep
    assert rep.l_ssim >= 0.95, rep
    assert rep.max_abs_outside == 0, rep
    # ground truth: the whole main-colour region was recolored...
    w = out.masks[0]
    assert (w[p.region] >= 0.95).mean() >= 0.98
    # ...and the logo was not (ΔE00 < 1 against the original)
    if p.logo.any():
        assert de00(p.rgb[p.logo], res[..., :3][p.logo]).max() < 1.0
    # outside the mask and its feather ring: bit-identical
    far = ~p.mask
    from scipy.ndimage import binary_dilation

    far &= ~binary_dilation(p.coverage > 0, iterations=4)
    assert np.array_equal(res[far], p.image[far])


def test_alpha_png_keeps_alpha_and_transparent_pixels(pipe: RecolorPipeline) -> None:
    p = render_product("shirt", SIZE, color=(230, 120, 30), alpha=True, seed=9)
    out = pipe(Image.fromarray(p.image, "RGBA"), RecolorParams(to_colors="xanh dương"))
    res = np.asarray(out.images[0])
    assert out.images[0].mode == "RGBA" and out.mask_sources == ["alpha"]
    assert np.array_equal(res[..., 3], p.image[..., 3])
    clear = p.image[..., 3] == 0
    assert np.array_equal(res[clear], p.image[clear])


@pytest.mark.parametrize(
    ("color", "target"),
    [((30, 30, 32), "white"), ((245, 245, 240), "black"), ((200, 40, 40), "xám"), ((128, 128, 128), "#1E5AA8")],
)
def test_achromatic_sources_and_targets(pipe: RecolorPipeline, color: tuple[int, int, int], target: str) -> None:
    p = render_product("sphere", SIZE, color=color, logo_color=(200, 160, 30), background="gradient", seed=11)
    out = pipe(p.image, RecolorParams(to_colors=target))
    rep, tgt = out.reports[0], out.targets[0]
    res = np.asarray(out.images[0])
    lab = lab_of(res[p.region])
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    if tgt.is_achromatic:
        assert np.median(chroma) < 2.0  # a neutral stays neutral: no tint left from the source hue
    else:
        hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
        t_hue = np.degrees(np.arctan2(tgt.lab[2], tgt.lab[1]))
        assert np.median(np.abs((hue - t_hue + 180) % 360 - 180)) < 3.0
    assert rep.median_de00 <= 2.0 and rep.l_ssim >= 0.95 and rep.max_abs_outside == 0
    # lightness lands on the target's unless the kept shading would clip at L*=0/100: a white
    # sphere's 45-unit shading range cannot sit around #000000, its shadows reach black instead
    if tgt.lab[0] < 5:
        assert rep.mean_l < 20.0 and np.percentile(lab_of(res[p.region])[:, 0], 1) < 2.0
    else:
        assert abs(rep.mean_dl) < 12.0
    assert de00(p.rgb[p.logo], res[p.logo]).max() < 1.0


def test_mean_lightness_meets_target(pipe: RecolorPipeline) -> None:
    p = render_product("mug", SIZE, color=(40, 140, 70), seed=12)
    out = pipe(p.image, RecolorParams(to_colors="#C8643B"))
    assert abs(out.reports[0].mean_dl) < 1.0


def two_colour_shirt() -> object:
    return render_product("shirt", SIZE, color=(40, 140, 70), second_color=(240, 200, 30), logo_color=None, seed=13)


def test_from_color_on_two_colour_product(pipe: RecolorPipeline) -> None:
    p = two_colour_shirt()
    target = parse_color("acme:ocean")
    default = pipe(p.image, RecolorParams(to_colors="acme:ocean"))
    picked = pipe(p.image, RecolorParams(to_colors="acme:ocean", from_color="vàng"))
    d_res = np.asarray(default.images[0])
    p_res = np.asarray(picked.images[0])
    # default: the dominant body colour changes, the sleeves keep theirs
    assert de00(p.rgb[p.second], d_res[p.second]).max() < 1.0
    assert np.median(de00(p.rgb[p.region], d_res[p.region])) > 20
    # from_color='vàng': the yellow sleeves change, the green body stays
    assert de00(p.rgb[p.region], p_res[p.region]).max() < 1.0
    lab = lab_of(p_res[p.second])
    lab[:, 0] = target.lab[0]
    assert np.median([delta_e00(x, target.lab) for x in lab[::7]]) < 2.0


def test_from_color_not_on_product(pipe: RecolorPipeline) -> None:
    p = two_colour_shirt()
    with pytest.raises(PipelineInputError, match="not on the product") as ei:
        pipe(p.image, RecolorParams(to_colors="red", from_color="magenta"))
    assert ei.value.field == "from_color"


def test_multiple_targets_order_and_colours(pipe: RecolorPipeline) -> None:
    views = [render_product("sphere", SIZE, color=(200, 40, 40), seed=14),
             render_product("mug", SIZE, color=(200, 40, 40), seed=15)]
    targets = ["navy", "xanh lá", "acme:sunflower"]
    out = pipe([v.image for v in views], RecolorParams(to_colors=targets))
    assert isinstance(out, RecolorOutput)
    assert len(out.images) == len(out.reports) == len(out.targets) == len(out.masks) == 6
    assert (out.n_images, out.n_targets) == (2, 3)
    for i, v in enumerate(views):
        for j, spec in enumerate(targets):
            k = out.index(i, j)
            assert out.targets[k] == parse_color(spec)
            assert out.reports[k].target_hex == out.targets[k].hex
            res = np.asarray(out.images[k])
            lab = lab_of(res[v.region]).mean(axis=0)
            assert abs(np.degrees(np.arctan2(lab[2], lab[1]) - np.arctan2(out.targets[k].lab[2],
                                                                          out.targets[k].lab[1]))) % 360 < 4
    d = out.to_dict()
    json.dumps(d)
    assert d["entries"][4]["image_index"] == 1 and d["entries"][4]["target_index"] == 1


def test_consistent_colour_across_views(pipe: RecolorPipeline) -> None:
    sku = (35, 110, 60)
    views = [
        render_product("sphere", SIZE, color=sku, light=(-0.5, -0.5), seed=16),
        render_product("sphere", SIZE, color=sku, light=(0.6, -0.2), scale=0.8, background="gradient", seed=17),
        render_product("mug", SIZE, color=sku, light=(0.3, -0.4), seed=18),
    ]
    out = pipe([v.image for v in views], RecolorParams(to_colors="#7E3FA0"))
    means = [lab_of(np.asarray(img)[v.region]).mean(axis=0) for img, v in zip(out.images, views, strict=True)]
    for m in means[1:]:
        assert delta_e00(means[0], m) < 1.5
    for rep in out.reports:
        assert rep.median_de00 <= 2.0 and rep.max_abs_outside == 0


def test_module_functions_for_the_diffusion_hue_lock() -> None:
    p = render_product("mug", SIZE, color=(30, 90, 170), logo_color=(240, 200, 40), seed=19)
    w = main_color_weights(p.rgb, p.mask.astype(np.float32))
    assert w.dtype == np.float32 and w.shape == p.mask.shape
    assert w.min() >= 0.0 and w.max() <= 1.0
    assert (w[p.region] > 0.95).mean() > 0.98 and w[p.logo].max() == 0.0 and w[~p.mask].max() == 0.0
    tgt = parse_color("đỏ")
    res = apply_target_color(p.rgb, w, tgt)
    assert res.dtype == np.uint8 and res.shape == p.rgb.shape
    assert np.array_equal(res[w == 0], p.rgb[w == 0])
    same = apply_target_color(p.rgb, np.zeros_like(w), tgt)
    assert np.array_equal(same, p.rgb)
    # a fixed source mean (shared across views) is honoured
    res2 = apply_target_color(p.rgb, w, tgt, source_lab_mean=(60.0, 0.0, -40.0))
    assert not np.array_equal(res, res2)
    rep = quality_report(p.rgb, res, p.mask, w, tgt)
    assert isinstance(rep, QualityReport) and rep.median_de00 <= 2.0 and rep.max_abs_outside == 0
    json.dumps(rep.to_dict())


def test_quality_report_detects_damage() -> None:
    p = render_product("sphere", SIZE, color=(200, 40, 40), seed=20)
    tgt = parse_color("#1E5AA8")
    w = main_color_weights(p.rgb, p.mask.astype(np.float32))
    good = apply_target_color(p.rgb, w, tgt)
    bad = good.copy()
    bad[0, 0] = 255 - bad[0, 0]  # background touched
    flat = good.copy()
    flat[p.mask] = good[p.mask].mean(axis=0).astype(np.uint8)  # shading destroyed
    assert quality_report(p.rgb, bad, p.mask, w, tgt).max_abs_outside > 0
    assert quality_report(p.rgb, good, p.mask, w, tgt).l_ssim > 0.98
    assert quality_report(p.rgb, flat, p.mask, w, tgt).l_ssim < 0.92
    assert quality_report(p.rgb, p.rgb, p.mask, w, tgt).median_de00 > 20


def test_bad_inputs(pipe: RecolorPipeline) -> None:
    p = render_product("sphere", SIZE, seed=21)
    with pytest.raises(PipelineInputError, match="did you mean"):
        pipe(p.image, RecolorParams(to_colors="reddd"))
    with pytest.raises(PipelineInputError, match="empty"):
        pipe(p.image, RecolorParams(to_colors=[]))
    with pytest.raises(PipelineInputError, match="corrupt|not a readable"):
        pipe(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, RecolorParams(to_colors="red"))
    with pytest.raises(PipelineInputError, match="whole frame"):
        pipe(p.image, RecolorParams(to_colors="red", mask=np.ones(p.mask.shape, np.uint8)))
    with pytest.raises(PipelineInputError, match="no product"):
        pipe(p.image, RecolorParams(to_colors="red", mask=np.zeros(p.mask.shape, np.uint8)))
    with pytest.raises(PipelineInputError, match="one per image"):
        pipe([p.image, p.image], RecolorParams(to_colors="red", mask=p.mask))
    with pytest.raises(PipelineInputError, match="feather"):
        pipe(p.image, RecolorParams(to_colors="red", feather_px=-1))


def test_feather_off_is_strict_inside_mask(pipe: RecolorPipeline) -> None:
    p = render_product("mug", SIZE, color=(30, 90, 170), seed=22)
    out = pipe(p.image, RecolorParams(to_colors="red", mask=p.mask, feather_px=0))
    res = np.asarray(out.images[0])
    assert np.array_equal(res[~p.mask], p.image[~p.mask])
    assert out.reports[0].max_abs_edge_ring == 0
