"""Ad craft (issue 14): cutout products, motion everywhere, clean captions, delivery checks,
transparent letterbox, brand styling and the new templates, asserted on real pixels and files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines._common.data import ASSETS_DIR
from pipelines._common.errors import PipelineInputError
from pipelines.video.captions import Cue
from pipelines.video.compositor.cache import RenderCache
from pipelines.video.compositor.context import RenderContext
from pipelines.video.compositor.frames import frames, still_frame
from pipelines.video.compositor.raster import make_sprite
from pipelines.video.compositor.scene_plan import plan_scene
from pipelines.video.config import VideoAdParams, Voiceover
from pipelines.video.effects import EASINGS, TRANSITIONS, Enter, Exit, Key, Keyframes, fold
from pipelines.video.ffmpeg import grab_frame, still_spans
from pipelines.video.layout import layer_rect
from pipelines.video.pipeline_video_ad import VideoAdPipeline
from pipelines.video.specs import AD_SPECS, delivery_check
from pipelines.video.template import (
    load_template,
    merge_template,
    plan_durations,
    template_from_dict,
    validate_template,
)

from .conftest import DATA, SENTENCES, WORDS, tiny_template

TEMPLATES = ASSETS_DIR / "templates"
SHIPPED = ["product_promo", "regional_greeting", "bumper_6s", "price_badge", "lookbook", "brand_bumper"]
DEMO_IMAGES = ASSETS_DIR / "demo" / "images"


def _sample(name: str) -> dict:
    return json.loads((TEMPLATES / f"{name}.sample.json").read_text(encoding="utf-8"))


def _ctx(tpl, fmt: str = "9:16", scale: float = 1 / 6, product: Path | None = None, fps: int = 10) -> RenderContext:
    return RenderContext(tpl, fmt, scale, fps, product, None, RenderCache())


# ---------------------------------------------------------------- effects


def test_easings_and_keyframes_interpolate_between_keys() -> None:
    for name, f in EASINGS.items():
        assert f(0.0) == pytest.approx(0.0, abs=1e-9) and f(1.0) == pytest.approx(1.0), name
    assert EASINGS["ease_in"](0.5) < 0.5 < EASINGS["ease_out"](0.5)
    assert max(EASINGS["back_out"](p / 100) for p in range(101)) > 1.0  # overshoots
    kf = Keyframes((Key(0.0, dx=0.0, scale=1.0), Key(2.0, dx=100.0, scale=1.5, ease="linear")))
    tr = kf.at(1.0)
    assert tr is not None and tr.dx == pytest.approx(50.0) and tr.scale == pytest.approx(1.25)
    assert kf.at(-1.0).dx == 0.0 and kf.at(5.0).dx == 100.0  # type: ignore[union-attr]


def test_enter_exit_mirror_and_fold_hides() -> None:
    enter = Enter("slide_left", 0.5, 0.2, (1000, 1000))
    exit_ = Exit("slide_left", 0.5, 0.0, 3.0, (1000, 1000))
    assert enter.at(0.1) is None  # before its delay
    a, b = enter.at(0.3), exit_.at(3.0 - 0.1 * 0.5 / 0.5 * 0.5 - 0.0)
    assert a is not None and a.dx > 0
    assert b is not None and b.dx < 0  # leaves the other way
    assert enter.at(1.0) == exit_.at(1.0)  # identity in between
    assert fold([enter, exit_], 3.5) is None


def test_transitions_blend_between_frames() -> None:
    prev = np.zeros((40, 60, 3), np.uint8)
    cur = np.full((40, 60, 3), 200, np.uint8)
    for name, tr in TRANSITIONS.items():
        start, mid, end = tr.apply(prev, cur, 0.0), tr.apply(prev, cur, 0.5), tr.apply(prev, cur, 0.999)
        assert start.shape == cur.shape and start.dtype == np.uint8, name
        assert start.mean() < 20 and end.mean() > 170, name
        assert 20 < mid.mean() < 190, name


# ---------------------------------------------------------------- product presentation


def test_product_is_a_large_cutout_without_the_photo_backdrop() -> None:
    tpl, _ = merge_template(load_template(TEMPLATES / "product_promo.yaml"), _sample("product_promo"))
    photo = DEMO_IMAGES / "tee-lotus.png"  # opaque studio photo on a grey backdrop
    ctx = _ctx(tpl, "9:16", 0.25, photo)
    layer = next(la for la in tpl.scenes[1].layers if la.type == "product")
    rect = layer_rect(layer, "9:16", 0.25)
    assert rect is not None
    sp = make_sprite(ctx, layer, rect)
    alpha = sp.px[:, :, 3]
    W, H = ctx.size
    # The product (its opaque pixels' bounding box) covers >= 35 % of the 9:16 frame.
    ys, xs = np.nonzero(alpha > 128)
    area = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
    assert area / (W * H) >= 0.35, area / (W * H)
    # Cutout: the photo's grey backdrop corners are transparent, not an opaque tile.
    assert not sp.opaque and alpha[0, 0] == 0 and alpha[-1, -1] == 0
    # The white print on the tee is kept (the recolor mask leaves it out; the cutout fills it).
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    assert alpha[cy - 6 : cy + 6, cx - 6 : cx + 6].min() > 200
    # Contact shadow: soft dark pixels below the product's lowest opaque row.
    below = sp.px[ys.max() + 2 : ys.max() + 12, cx - 10 : cx + 10]
    assert below[:, :, 3].max() > 10 and below[:, :, :3].max() < 40


def test_product_recolor_and_swatches() -> None:
    raw = {
        "name": "t",
        "fps": 10,
        "scenes": [
            {
                "id": "a",
                "duration": 1,
                "layers": [
                    {"type": "product", "src": "media/product_sneaker.png", "color": "#1F9E6B", "shadow": False},
                    {
                        "type": "swatches",
                        "colors": ["#FF0000,#00FF00", "#0000FF"],
                        "selected": "#00ff00",
                        "box": {"x": 0, "y": 0.8, "w": 1, "h": 0.1},
                    },
                ],
            }
        ],
    }
    tpl = template_from_dict(raw, base_dir=TEMPLATES)
    ctx = _ctx(tpl, "1:1", 0.5)
    prod, sw = tpl.scenes[0].layers
    sp = make_sprite(ctx, prod, layer_rect(prod, "1:1", 0.5))  # type: ignore[arg-type]
    from skimage.color import deltaE_ciede2000, rgb2lab

    px = sp.px[sp.px[:, :, 3] == 255][:, :3]
    main = np.median(px[px.max(axis=1) - px.min(axis=1) > 60], axis=0)  # coloured (not the white sole)
    target = np.array([[[0x1F, 0x9E, 0x6B]]], np.float64) / 255
    assert deltaE_ciede2000(rgb2lab(main[None, None] / 255), rgb2lab(target))[0, 0] < 8
    ssp = make_sprite(ctx, sw, layer_rect(sw, "1:1", 0.5))  # type: ignore[arg-type]
    row = ssp.px[ssp.px.shape[0] // 2]
    reds = (row[:, 0] > 200) & (row[:, 1] < 60) & (row[:, 3] > 200)
    blues = (row[:, 2] > 200) & (row[:, 0] < 60) & (row[:, 3] > 200)
    assert reds.sum() > 5 and blues.sum() > 5
    # The selected (green) dot is ringed: white pixels on the row around the green fill.
    greens = np.flatnonzero((row[:, 1] > 200) & (row[:, 0] < 60) & (row[:, 3] > 200))
    ring = row[greens.min() - 12 : greens.min(), :3]
    assert (ring.min(axis=1) > 220).any()


# ---------------------------------------------------------------- motion everywhere


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_templates_never_hold_a_still_frame(name: str, tmp_path: Path) -> None:
    tpl = load_template(TEMPLATES / f"{name}.yaml")
    out = VideoAdPipeline()(
        tpl,
        VideoAdParams(
            data=_sample(name),
            out_dir=tmp_path,
            formats=[tpl.formats[0]],
            scale=0.25,
            fps=10,
            product_image=DEMO_IMAGES / "tote-hoian.png",
            captions="none",
        ),
    )
    spans = still_spans(out.renders[0].video_path, min_duration=1.5)
    assert spans == [], spans


def test_freezedetect_finds_a_held_shot(tmp_path: Path, media) -> None:
    raw = tiny_template()
    raw["scenes"][1]["duration"] = 3.0  # a still scene (no motion) of 3 s
    tpl = template_from_dict(raw, base_dir=media["dir"].parent)
    out = VideoAdPipeline()(
        tpl, VideoAdParams(data=DATA, out_dir=tmp_path, scale=0.25, fps=10, product_image=media["product"])
    )
    spans = still_spans(out.renders[0].video_path, min_duration=1.5)
    assert spans and spans[0][1] - spans[0][0] >= 1.5


# ---------------------------------------------------------------- captions


def _caption_template(transition: str) -> dict:
    raw = tiny_template()
    raw["scenes"][1]["transition"] = {"type": transition, "duration": 0.6}
    raw["scenes"][0]["layers"][0]["motion"] = {"type": "drift", "distance": 200}  # every frame composed
    raw["captions"] = {
        "style": "sentence",
        "color": "#00FF00",
        "background": None,
        "stroke": None,
        "box": {"x": 0, "y": 0.85, "w": 1, "h": 0.15},
    }
    return raw


def _green(frame: np.ndarray) -> int:
    f = frame.astype(int)
    return int(((f[:, :, 1] > 200) & (f[:, :, 0] < 80) & (f[:, :, 2] < 80)).sum())


def test_caption_is_drawn_once_across_a_slide_transition(media) -> None:
    tpl = template_from_dict(_caption_template("slide_up"), base_dir=media["dir"].parent)
    tpl, _ = merge_template(tpl, DATA)
    ctx = _ctx(tpl, "9:16", 0.5, media["product"])
    cues = [Cue(0.2, 1.9, "Xin chào")]
    out: dict[int, np.ndarray] = {}
    last = None
    for f in frames(ctx, [1.0, 1.0], cues=cues, caption_style="sentence"):
        last = f.rgb if f.rgb is not None else last  # repeats show the last composed frame
        out[f.index] = last
    steady = _green_bands(out[8])  # scene one, caption on screen, no transition
    mid = _green_bands(out[11])  # scene two, 0.1 s into the 0.6 s slide: the old frame is 40 % up
    assert len(steady) == 1 and mid == steady, (steady, mid)  # one caption, in the same rows


def _green_bands(frame: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges holding caption-green pixels (a doubled caption gives two bands)."""
    f = frame.astype(int)
    rows = np.flatnonzero(((f[:, :, 1] > 200) & (f[:, :, 0] < 80) & (f[:, :, 2] < 80)).any(axis=1))
    if rows.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(rows) > 8)
    starts = [rows[0], *rows[cuts + 1]]
    ends = [*rows[cuts], rows[-1]]
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def test_poster_has_no_caption_and_is_png(media, tmp_path: Path) -> None:
    tpl = template_from_dict(_caption_template("crossfade"), base_dir=media["dir"].parent)
    vo = Voiceover.from_timings(media["short_voice"], SENTENCES[:1], WORDS[:3])  # fits the 2 s template
    r = (
        VideoAdPipeline()(
            tpl,
            VideoAdParams(
                data=DATA, out_dir=tmp_path, voiceover=vo, product_image=media["product"], scale=0.5, fps=10
            ),
        )
    ).renders[0]
    assert r.poster_path.suffix == ".png" and r.poster_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(r.poster_path) as im:
        poster = np.asarray(im.convert("RGB"))
    t = r.metadata["timing"]["poster_time"]
    assert _green(grab_frame(r.video_path, t)) > 50  # the video shows the caption then...
    assert _green(poster) == 0  # ...the poster does not
    assert r.metadata["captions_burned_in"] is True
    # The caption-free still composed on its own (the cached-segment path) equals the poster.
    merged, _ = merge_template(tpl, DATA)
    ctx = _ctx(merged, "9:16", 0.5, media["product"])
    assert np.array_equal(still_frame(ctx, r.metadata["scene_durations"], t), poster)


def test_caption_box_overlapping_a_text_layer_warns() -> None:
    raw = tiny_template()
    raw["scenes"][0]["layers"][1]["box"] = {"x": 0, "y": 0.8, "w": 1, "h": 0.15}  # into the caption strip
    report = validate_template(template_from_dict(raw), DATA, formats=["9:16"])
    hits = [w for w in report.warnings if "overlaps the caption box" in w]
    assert len(hits) == 1 and "'one' layer hello [9:16]" in hits[0]
    raw["captions"] = {"style": "none"}
    report = validate_template(template_from_dict(raw), DATA, formats=["9:16"])
    assert not [w for w in report.warnings if "overlaps the caption box" in w]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_templates_keep_text_clear_of_captions(name: str) -> None:
    tpl = load_template(TEMPLATES / f"{name}.yaml")
    voice_s = 5.0 if "bumper" in name else 7.0  # a 6 s bumper holds at most 5.7 s of voice
    report = validate_template(tpl, _sample(name), voice_duration=voice_s)
    assert report.ok, report.errors
    assert not [w for w in report.warnings if "caption box" in w or "not used" in w], report.warnings


# ---------------------------------------------------------------- delivery


def test_bitrate_floor_and_delivery_check(tmp_path: Path, media) -> None:
    raw = tiny_template(spec="tiktok")
    raw["scenes"][0]["duration"] = 3.0  # tiktok needs >= 5 s
    raw["scenes"][1]["duration"] = 2.0
    tpl = template_from_dict(raw, base_dir=media["dir"].parent)
    r = (
        VideoAdPipeline()(
            tpl, VideoAdParams(data=DATA, out_dir=tmp_path, scale=0.5, fps=10, product_image=media["product"])
        )
    ).renders[0]
    m = r.metadata
    # TikTok's CRF floor is used at its resolution; flat colours still encode to a few kbps with
    # CRF, so the CBR re-encode holds TikTok's 516 kbps.
    assert m["timing"]["crf"] == AD_SPECS["tiktok"].crf_max
    assert m["timing"]["bitrate_floor_s"] is not None
    assert m["video_kbps"] >= AD_SPECS["tiktok"].min_video_kbps
    d = m["delivery"]
    assert d["ok"], d["problems"]
    assert {c["check"] for c in d["checks"]} >= {"codec", "pix_fmt", "audio", "loudness", "bitrate", "duration", "size"}
    # Any one failing check turns the whole verdict off, and says which.
    bad = json.loads(json.dumps(m))
    next(s for s in bad["streams"] if s["type"] == "video")["pix_fmt"] = "yuv444p"
    bad["video_kbps"] = 300.0
    d2 = delivery_check(
        bad, "9:16", AD_SPECS["tiktok"], planned_duration=5.0, fps=10, target_lufs=-16.0, true_peak_db=-1.0
    )
    assert not d2["ok"] and {p.split(":")[0] for p in d2["problems"]} == {"pix_fmt", "bitrate"}


# ---------------------------------------------------------------- letterbox, masks, fonts


def test_video_contain_letterbox_is_transparent(tmp_path: Path) -> None:
    raw = {
        "name": "lb",
        "fps": 10,
        "background": "#FF0000",
        "scenes": [
            {
                "id": "a",
                "duration": 1,
                "layers": [
                    {"type": "video", "src": "media/stripes.mp4", "region": "full", "fit": "contain"},
                ],
            }
        ],
    }
    tpl = template_from_dict(raw, base_dir=TEMPLATES)
    ctx = _ctx(tpl, "16:9", 0.25)
    frame = next(f.rgb for f in frames(ctx, [1.0]) if f.rgb is not None)
    assert frame is not None
    H, W = frame.shape[:2]
    # 9:16 clip inside a 16:9 canvas: the side bars show the red background, not black.
    assert tuple(frame[H // 2, 2]) == (255, 0, 0) and tuple(frame[H // 2, W - 3]) == (255, 0, 0)
    assert tuple(frame[H // 2, W // 2]) != (255, 0, 0)


def test_image_masks_round_and_circle() -> None:
    raw = {
        "name": "m",
        "fps": 10,
        "scenes": [
            {
                "id": "a",
                "duration": 1,
                "layers": [
                    {"type": "image", "src": "media/bg_warm.png", "box": {"x": 0, "y": 0, "w": 0.5, "h": 0.5},
                     "mask": {"shape": "circle"}},
                    {"type": "image", "src": "media/bg_warm.png", "box": {"x": 0.5, "y": 0, "w": 0.5, "h": 0.5},
                     "mask": {"shape": "rounded", "radius": 60}},
                ],
            }
        ],
    }
    tpl = template_from_dict(raw, base_dir=TEMPLATES)
    ctx = _ctx(tpl, "1:1", 0.5)
    circ, rnd = (make_sprite(ctx, la, layer_rect(la, "1:1", 0.5)) for la in tpl.scenes[0].layers)  # type: ignore[arg-type]
    for sp in (circ, rnd):
        a = sp.px[:, :, 3]
        h, w = a.shape
        assert a[0, 0] == 0 and a[h // 2, w // 2] == 255 and a[h // 2, 1] > 200
    assert circ.px[h // 8, w // 8, 3] == 0 and rnd.px[h // 8, w // 8, 3] == 255


def _font_template(tmp_path: Path, fonts: dict, text: str = "Lookbook Hội An", **layer) -> dict:
    shutil.copy(TEMPLATES / "media" / "fonts" / "DejaVuSerif-Bold.ttf", tmp_path / "brand.ttf")
    return {
        "name": "f",
        "fps": 10,
        "fonts": fonts,
        "scenes": [{"id": "a", "duration": 1, "layers": [{"type": "text", "text": text, **layer}]}],
    }


def test_brand_font_letter_spacing_and_gradient(tmp_path: Path) -> None:
    base = template_from_dict(_font_template(tmp_path, {}), base_dir=tmp_path)
    brand = template_from_dict(_font_template(tmp_path, {"brand": "brand.ttf"}, font="brand"), base_dir=tmp_path)
    spaced = template_from_dict(
        _font_template(tmp_path, {"brand": "brand.ttf"}, font="brand", letter_spacing=12), base_dir=tmp_path
    )
    grad = template_from_dict(
        _font_template(
            tmp_path, {}, gradient={"colors": ["#FF0000", "#0000FF"], "angle": 90}, size=200, text="HHHH"
        ),
        base_dir=tmp_path,
    )
    sprites = []
    for tpl in (base, brand, spaced, grad):
        la = tpl.scenes[0].layers[0]
        sprites.append(make_sprite(_ctx(tpl, "1:1", 0.5), la, layer_rect(la, "1:1", 0.5)))  # type: ignore[arg-type]
    b, f, s, g = sprites
    assert b.px.shape != f.px.shape or not np.array_equal(b.px, f.px)  # another typeface
    wf = np.flatnonzero(f.px[:, :, 3].max(axis=0) > 0)
    ws = np.flatnonzero(s.px[:, :, 3].max(axis=0) > 0)
    assert (ws[-1] - ws[0]) > (wf[-1] - wf[0]) + 12 * 0.5 * 10  # 14 gaps of 12 px at k=0.5
    opaque = g.px[:, :, 3] > 250
    rows = np.flatnonzero(opaque.any(axis=1))
    top = g.px[rows[2]][opaque[rows[2]]][:, :3].mean(axis=0)
    bottom = g.px[rows[-3]][opaque[rows[-3]]][:, :3].mean(axis=0)
    assert top[0] > top[2] and bottom[2] > bottom[0]  # red at the top, blue at the bottom


def test_brand_font_errors_and_glyph_coverage(tmp_path: Path) -> None:
    with pytest.raises(PipelineInputError, match="must be a .ttf/.otf file name relative"):
        template_from_dict(_font_template(tmp_path, {"brand": "/etc/fonts/x.ttf"}, font="brand"))
    with pytest.raises(PipelineInputError, match="unknown font 'nope'; allowed: brand"):
        template_from_dict(_font_template(tmp_path, {"brand": "brand.ttf"}, font="nope"))
    tpl = template_from_dict(_font_template(tmp_path, {"brand": "brand.ttf"}, text="Hội An 漢", font="brand"), base_dir=tmp_path)
    report = validate_template(tpl, {})
    assert any("font brand has no glyph for '漢'" in w for w in report.warnings), report.warnings
    (tmp_path / "bad.ttf").write_bytes(b"not a font")
    tpl = template_from_dict(_font_template(tmp_path, {"bad": "bad.ttf"}, font="bad"), base_dir=tmp_path)
    report = validate_template(tpl, {})
    assert any("not a readable TrueType/OpenType font" in e for e in report.errors), report.errors


# ---------------------------------------------------------------- new templates


def test_lookbook_shows_three_recolored_colourways_side_by_side() -> None:
    tpl, _ = merge_template(load_template(TEMPLATES / "lookbook.yaml"), _sample("lookbook"))
    ctx = _ctx(tpl, "4:5", 0.25, DEMO_IMAGES / "tote-hoian.png")
    plan = plan_scene(ctx, tpl.scenes[1], plan_durations(tpl, None)[1])
    looks = [lr for lr in plan.upper if lr.layer.type == "product"]
    assert len(looks) == 3
    xs = [lr.sprite.x for lr in looks]  # type: ignore[union-attr]
    assert xs == sorted(xs)
    from skimage.color import deltaE_ciede2000, rgb2lab

    for lr, key in zip(looks, ("one", "two", "three"), strict=True):
        px = lr.sprite.px  # type: ignore[union-attr]
        body = px[px[:, :, 3] == 255][:, :3]
        sat = body[body.max(axis=1).astype(int) - body.min(axis=1) > 60]
        target = _sample("lookbook")["looks"][key]["colour"]
        t = np.array([[[int(target[i : i + 2], 16) for i in (1, 3, 5)]]], np.float64) / 255
        de = deltaE_ciede2000(rgb2lab(np.median(sat, axis=0)[None, None] / 255), rgb2lab(t))[0, 0]
        assert de < 10, (key, de)
    plan.close()


@pytest.mark.parametrize("name", ["tee-lotus", "mug-caphe", "hat-nonla", "tote-hoian"])
def test_auto_cutout_of_a_studio_photo_leaves_out_backdrop_and_floor_shadow(name: str) -> None:
    from pipelines.video.compositor.product import cutout_alpha

    img = Image.open(DEMO_IMAGES / f"{name}.png").convert("RGB")
    auto = cutout_alpha(img, None)  # no mask file: the studio-backdrop auto mask alone
    truth = np.asarray(Image.open(DEMO_IMAGES / f"{name}.mask.png").convert("L")) > 127  # the product
    assert auto is not None
    a = auto > 0.5
    iou = (a & truth).sum() / (a | truth).sum()
    assert iou > 0.9, iou
    # The floor shadow under the product is not part of the cutout.
    rows = np.flatnonzero(truth.any(axis=1))
    assert a[rows[-1] + 4 :].sum() < 0.002 * a.size


def test_still_frame_composes_exactly_the_streamed_frame() -> None:
    """Posters of cached segments are composed alone: same pixels as the streamed frame (also
    inside a transition and a Ken Burns scene)."""
    tpl, _ = merge_template(load_template(TEMPLATES / "product_promo.yaml"), _sample("product_promo"))
    d = plan_durations(tpl, None)
    ctx = _ctx(tpl, "9:16", 1 / 6)
    out: dict[int, np.ndarray] = {}
    last = None
    for f in frames(ctx, d):
        last = f.rgb if f.rgb is not None else last
        out[f.index] = last
    for t in (0.5, 4.1, 6.5, 10.2, 14.9):
        assert np.array_equal(still_frame(ctx, d, t), out[int(t * 10 + 1e-9)]), t
