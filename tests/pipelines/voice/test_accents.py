"""Accent registry and location -> accent resolver."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines._common.errors import PipelineInputError
from pipelines.voice.accents import fold, load_registry, resolve_accent

EXPECTED_IDS = {
    "vi-north", "vi-central", "vi-south", "en-us", "en-us-nyc", "en-gb", "en-gb-rp", "en-scotland", "en-caribbean",
}  # fmt: skip


def test_registry_has_required_accents_with_licences() -> None:
    reg = load_registry()
    assert set(reg.ids()) >= EXPECTED_IDS
    for spec in reg:
        assert spec.language in ("vi", "en")
        assert spec.licence and isinstance(spec.commercial_use, bool)
        assert spec.sample
    north, south = reg.get("vi-north"), reg.get("vi-south")
    assert (north.voice, north.dialect, north.engine) == ("vi", "north", "espeak")
    assert (south.voice, south.dialect) == ("vi-vn-x-south", "south")
    assert reg.get("vi-central").voice == "vi-vn-x-central"
    assert reg.get("en-us").voice_for("piper").voice == "joe"


def test_unknown_accent_lists_valid_ids() -> None:
    reg = load_registry()
    with pytest.raises(PipelineInputError) as exc:
        reg.get("vi-hanoi")
    assert exc.value.field == "accent"
    for accent_id in ("vi-north", "vi-central", "vi-south", "en-us"):
        assert accent_id in str(exc.value)


def test_accent_without_engine_voice_says_which_engines_exist() -> None:
    with pytest.raises(PipelineInputError, match="engines for it: espeak"):
        load_registry().get("vi-south").voice_for("piper")


def test_bad_registry_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "voices.yaml"
    bad.write_text("accents:\n  x:\n    language: fr\n", encoding="utf-8")
    with pytest.raises(PipelineInputError, match="missing"):
        load_registry(bad)
    with pytest.raises(PipelineInputError, match="not found"):
        load_registry(tmp_path / "nope.yaml")


LOCATIONS = [
    ("Hà Nội", "vi-north"),
    ("Ha Noi", "vi-north"),
    ("hanoi", "vi-north"),
    ("Hải Phòng", "vi-north"),
    ("Huế", "vi-central"),
    ("Hue", "vi-central"),
    ("Thừa Thiên Huế", "vi-central"),
    ("Đà Nẵng", "vi-central"),
    ("Da Nang, Vietnam", "vi-central"),
    ("Nha Trang", "vi-central"),
    ("Vinh, Nghệ An", "vi-central"),
    ("HCM", "vi-south"),
    ("TP.HCM", "vi-south"),
    ("Quận 1, TP. Hồ Chí Minh", "vi-south"),
    ("Sài Gòn", "vi-south"),
    ("Saigon", "vi-south"),
    ("Cần Thơ", "vi-south"),
    ("Vĩnh Long", "vi-south"),
    ("Việt Nam", "vi-north"),
    ("New York City", "en-us-nyc"),
    ("Brooklyn, NY", "en-us-nyc"),
    ("Austin, TX", "en-us"),
    ("California", "en-us"),
    ("USA", "en-us"),
    ("London", "en-gb"),
    ("United Kingdom", "en-gb"),
    ("Edinburgh, United Kingdom", "en-scotland"),
    ("Scotland", "en-scotland"),
    ("Glasgow", "en-scotland"),
    ("Manchester", "en-gb-lancs"),
    ("Birmingham, UK", "en-gb-wmids"),
    ("Kingston, Jamaica", "en-caribbean"),
    ("Trinidad and Tobago", "en-caribbean"),
]


@pytest.mark.parametrize(("location", "accent"), LOCATIONS)
def test_resolve_location(location: str, accent: str) -> None:
    choice = resolve_accent(location, load_registry())
    assert choice.accent_id == accent
    assert location in choice.reason and accent in choice.reason


def test_resolve_fallbacks_give_reasons() -> None:
    reg = load_registry()
    none = resolve_accent(None, reg)
    assert none.accent_id == "vi-north" and "no location" in none.reason
    unknown = resolve_accent("Atlantis", reg, language="en")
    assert unknown.accent_id == "en-us" and "not recognised" in unknown.reason
    mismatch = resolve_accent("Sài Gòn", reg, language="en")
    assert mismatch.accent_id == "en-us" and "vi-south" in mismatch.reason
    with pytest.raises(PipelineInputError, match="language"):
        resolve_accent("Huế", reg, language="fr")


def test_fold_strips_vietnamese_diacritics() -> None:
    assert fold("Đà Nẵng") == "da nang"
    assert fold("TP.HCM") == "tp hcm"


def test_english_defaults_are_intelligible_commercial_voices_and_the_rest_are_labelled() -> None:
    from pipelines.voice.accents import WER_GOAL, intelligibility_note

    reg = load_registry()
    for spec in reg:
        if spec.language != "en":
            continue
        assert spec.commercial_use, spec.id
        assert spec.wer is not None and spec.wer <= WER_GOAL, (spec.id, spec.wer)
        assert spec.note == ""
        measured = [spec.voice_for(e) for e in spec.engines() if spec.voice_for(e).wer is not None]
        cleared = [v for v in measured if v.commercial_use]
        # the default is the best commercial voice of its region, or within 0.05 of the best overall
        assert spec.wer <= min(v.wer for v in cleared if v.wer is not None) + 0.05
        for v in measured:
            assert (v.note != "") == (v.wer is not None and v.wer > WER_GOAL), (spec.id, v)
    nyc_espeak = reg.get("en-us-nyc").voice_for("espeak")
    assert nyc_espeak.note == f"robotic, WER {nyc_espeak.wer:.2f}"
    assert reg.get("en-scotland").voice_for("flite").voice == "awb"
    assert intelligibility_note(0.45, "robotic") == "robotic, WER 0.45"
    assert intelligibility_note(0.1, "robotic") == "" and intelligibility_note(None) == ""


def test_registry_rejects_a_bad_wer(tmp_path: Path) -> None:
    bad = tmp_path / "voices.yaml"
    bad.write_text(
        "accents:\n  x:\n    language: en\n    dialect: us\n    engine: flite\n    voice: slt\n"
        "    licence: BSD\n    commercial_use: true\n    wer: lots\n",
        encoding="utf-8",
    )
    with pytest.raises(PipelineInputError, match="wer must be a number"):
        load_registry(bad)


def test_api_voice_list_carries_wer_and_note() -> None:
    from workers.jsonable import jsonable

    gb = jsonable(load_registry().get("en-gb"))
    assert gb["engine"] == "flite" and gb["wer"] <= 0.15 and gb["note"] == ""
    assert gb["alternatives"]["espeak"]["note"].startswith("robotic, WER ")
