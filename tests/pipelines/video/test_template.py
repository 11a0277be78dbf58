from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines._common.data import ASSETS_DIR
from pipelines._common.errors import PipelineInputError
from pipelines.video.template import (
    load_template,
    plan_durations,
    template_from_dict,
    template_json_schema,
    validate_template,
)

from .conftest import DATA, tiny_template

SAMPLES = ["product_promo", "regional_greeting", "bumper_6s", "price_badge", "lookbook", "brand_bumper"]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_templates_are_valid_with_their_sample_data(name):
    tpl = load_template(ASSETS_DIR / "templates" / f"{name}.yaml")
    data = json.loads((ASSETS_DIR / "templates" / f"{name}.sample.json").read_text(encoding="utf-8"))
    voice_s = 5.0 if "bumper" in name else 7.0  # a 6 s bumper holds at most 5.7 s of voice
    report = validate_template(tpl, data, voice_duration=voice_s)
    assert report.ok, report.errors
    assert not [w for w in report.warnings if "not used" in w]
    if name == "bumper_6s":  # a longer voiceover is an error naming the lengths, never a silent cut
        long = validate_template(tpl, data, voice_duration=7.0)
        assert any("voiceover ends at 7.30s" in e and "6.00s" in e for e in long.errors), long.errors


def test_committed_json_schema_matches_models_and_accepts_samples():
    import jsonschema

    committed = json.loads((ASSETS_DIR / "templates" / "template.schema.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(template_json_schema()))
    from pipelines._common.data import load_data_file

    for name in SAMPLES:
        jsonschema.validate(load_data_file(ASSETS_DIR / "templates" / f"{name}.yaml"), committed)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "scenes": [{"id": "a", "duration": 1, "bogus": 1}]}, committed)


def test_bad_template_gives_all_schema_errors_at_once():
    raw = tiny_template()
    raw["scenes"][0]["layers"][0]["colour"] = "#FFF"  # unknown key
    raw["scenes"][0]["layers"].append({"type": "sparkle"})  # unknown layer type
    raw["scenes"][1]["layers"][2]["color"] = "not-a-colour"  # bad colour
    raw["scenes"][1]["duration"] = -3  # bad duration
    raw["formats"] = ["9:16", "3:2"]  # unknown format
    with pytest.raises(PipelineInputError) as exc:
        template_from_dict(raw)
    msg = exc.value.message
    assert msg.startswith("5 error(s)")
    assert "scenes.0.layers.0.shape.colour: unknown key" in msg
    assert "unknown layer type" in msg
    assert "invalid colour 'not-a-colour'" in msg
    assert "scene duration must be between" in msg
    assert "unknown format(s) ['3:2']" in msg


def test_yaml_and_json_load(tmp_path: Path):
    (tmp_path / "t.json").write_text(json.dumps(tiny_template()), encoding="utf-8")
    (tmp_path / "t.yaml").write_text("name: y\nscenes: [{id: a, duration: 2}]\n", encoding="utf-8")
    assert load_template(tmp_path / "t.json").name == "tiny"
    assert load_template(tmp_path / "t.yaml").scenes[0].duration == 2
    with pytest.raises(PipelineInputError, match="not found"):
        load_template(tmp_path / "missing.yaml")


def test_validation_reports_every_problem_class(media):
    raw = tiny_template(spec="youtube_bumper")  # 6 s max; we make it longer below
    raw["scenes"][1]["duration"] = 6.0
    raw["scenes"][1]["layers"][0]["src"] = "media/nope.png"  # missing asset
    raw["scenes"][0]["layers"].append(
        {"type": "text", "text": "{{offer.headline}}", "box": {"w": 0.2, "h": 0.05}, "min_size": 60, "max_lines": 1}
    )
    long_text = "Một câu quảng cáo thật dài không thể nào vừa trong một ô nhỏ như thế này được"
    raw["scenes"][0]["layers"].append(
        {"type": "text", "text": long_text, "box": {"w": 0.3, "h": 0.05}, "min_size": 40, "max_lines": 1}
    )
    tpl = template_from_dict(raw, base_dir=media["dir"].parent)
    data = {**DATA, "unused": {"thing": 1}}
    report = validate_template(tpl, data, formats=["9:16", "2:1"])
    errs = "\n".join(report.errors)
    assert not report.ok
    assert "media file not found: media/nope.png" in errs
    assert "merge field 'offer.headline' has no value and no default" in errs
    assert "overflows its box even at min_size 40" in errs
    assert "outside YouTube bumper limits" in errs
    assert "unknown format '2:1'" in errs
    assert "product slot has no image" in errs
    assert any("data field 'unused.thing' is not used" in w for w in report.warnings)
    assert len(report.errors) >= 6
    with pytest.raises(PipelineInputError) as exc:
        report.raise_for_errors()
    assert exc.value.message.count("\n- ") == len(report.errors)


def test_product_image_satisfies_slot_and_merged_data_is_clean(media):
    tpl = template_from_dict(tiny_template(), base_dir=media["dir"].parent)
    report = validate_template(tpl, DATA, product_image=media["product"])
    assert report.ok, report.errors
    assert not [w for w in report.warnings if "not used" in w]


def test_auto_scenes_follow_voiceover():
    raw = tiny_template()
    raw["scenes"][0]["duration"] = "auto"
    raw["scenes"][1]["duration"] = "auto"
    tpl = template_from_dict(raw)
    assert plan_durations(tpl, None) == [3.0, 3.0]
    d = plan_durations(tpl, 9.4)
    assert d == [5.0, 5.0]
    raw["scenes"][1]["duration"] = 2.0
    assert plan_durations(template_from_dict(raw), 9.4) == pytest.approx([8.0, 2.0])
