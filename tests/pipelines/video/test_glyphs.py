"""Characters the font has no glyph for are reported (they would render blank), naming layer and character."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines._common.data import ASSETS_DIR
from pipelines._common.errors import PipelineInputError
from pipelines._common.fonts import font_path
from pipelines.video.config import VideoAdParams, Voiceover
from pipelines.video.glyphs import font_codepoints, missing_glyphs
from pipelines.video.pipeline_video_ad import VideoAdPipeline
from pipelines.video.template import load_template, template_from_dict, validate_template

from .conftest import DATA, SCALE, WORDS, tiny_template


def _with_text(media, text: str, **layer):
    raw = tiny_template()
    raw["scenes"][0]["layers"].append(
        {"type": "text", "id": "cta", "text": text, "box": {"x": 0, "y": 0.8, "w": 1, "h": 0.15}, **layer}
    )
    return template_from_dict(raw, base_dir=media["dir"].parent)


def test_missing_glyph_warns_naming_layer_and_character(media):
    report = validate_template(_with_text(media, "Xem ngay →"), DATA, product_image=media["product"])
    assert report.ok, report.errors
    (warn,) = [w for w in report.warnings if "glyph" in w]
    assert "scenes[0] 'one' layer cta" in warn and "'→' (U+2192 RIGHTWARDS ARROW)" in warn
    assert "Be Vietnam Pro Bold" in warn
    # Vietnamese, the đồng sign and the middle dot are covered: no false alarms.
    report = validate_template(_with_text(media, "Đồng giá 99.000 ₫ · Ưu đãi"), DATA, product_image=media["product"])
    assert not [w for w in report.warnings if "glyph" in w]


def test_text_made_only_of_missing_glyphs_is_an_error_and_blocks_render(media, tmp_path: Path):
    tpl = _with_text(media, "→ ★ →", font_weight="Regular")
    report = validate_template(tpl, DATA, product_image=media["product"])
    (err,) = [e for e in report.errors if "glyph" in e]
    assert "layer cta" in err and "'→'" in err and "'★'" in err and "would render blank" in err
    with pytest.raises(PipelineInputError, match="render blank"):
        VideoAdPipeline()(tpl, VideoAdParams(data=DATA, out_dir=tmp_path, product_image=media["product"], scale=SCALE))


def test_merged_and_uppercased_text_is_checked(media):
    tpl = _with_text(media, "Chào {{customer.first_name}}", uppercase=True)
    report = validate_template(tpl, {"customer": {"first_name": "Hương ✓"}}, product_image=media["product"])
    warns = [w for w in report.warnings if "glyph" in w]
    assert len(warns) == 2  # the 'hello' layer merges the same name
    assert all("'✓' (U+2713" in w for w in warns)
    assert {w.split(":")[0] for w in warns} == {"scenes[0] 'one' layer hello (text)", "scenes[0] 'one' layer cta (text)"}


def test_caption_text_from_the_voiceover_is_checked(media, tmp_path: Path):
    vo = Voiceover.from_timings(media["short_voice"], [("Xin chào ☺ Hương!", 0.2, 1.4)], WORDS[:3])
    params = VideoAdParams(
        data=DATA, out_dir=tmp_path, voiceover=vo, product_image=media["product"], scale=SCALE, captions="words"
    )
    tpl = template_from_dict(tiny_template(), base_dir=media["dir"].parent)
    checked = VideoAdPipeline().check_inputs(tpl, params)
    (warn,) = [w for w in checked["validation"]["warnings"] if "glyph" in w]
    assert warn.startswith("captions") and "'☺' (U+263A" in warn
    params = VideoAdParams(data=DATA, out_dir=tmp_path, voiceover=vo, product_image=media["product"], captions="none")
    assert not [w for w in VideoAdPipeline().check_inputs(tpl, params)["validation"]["warnings"] if "glyph" in w]


def test_cmap_read_once_per_font_and_spaces_ignored():
    path = str(font_path("Bold"))
    font_codepoints.cache_clear()
    assert missing_glyphs("a \t\n\u200db", path) == []
    assert missing_glyphs("→x→", path) == ["→"]
    info = font_codepoints.cache_info()
    assert (info.misses, info.hits) == (1, 1)


@pytest.mark.parametrize("name", ["product_promo", "regional_greeting", "bumper_6s"])
def test_sample_templates_have_every_glyph(name):
    tpl = load_template(ASSETS_DIR / "templates" / f"{name}.yaml")
    data = json.loads((ASSETS_DIR / "templates" / f"{name}.sample.json").read_text(encoding="utf-8"))
    report = validate_template(tpl, data, voice_duration=7.0)
    assert not [m for m in report.errors + report.warnings if "glyph" in m]
