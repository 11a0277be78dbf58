"""Issue #13's small inputs, each with the answer it must get: real users' audience files,
prices, copy, templates, media and specs — validated before any render, every error per row."""

from __future__ import annotations

import json
import subprocess
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pipelines._common.data import ASSETS_DIR
from pipelines._common.errors import PipelineInputError
from workers.campaigns import CampaignSpecError, load_spec, read_audience, validate_campaign

DEMO = ASSETS_DIR / "demo"
TEMPLATES = ASSETS_DIR / "templates"
HEADER = ["customer_id", "first_name", "age", "location", "channel", "intent"]


def _csv(rows: list[list[str]], header: list[str] = HEADER, delim: str = ",") -> str:
    def cell(c: str) -> str:
        return f'"{c}"' if any(ch in c for ch in (delim, "\n", '"')) else c

    return "".join(delim.join(cell(c) for c in r) + "\r\n" for r in [header, *rows])


ROWS = [["c1", "Zoë", "30", "London", "tiktok", "browsing"], ["c2", "José", "41", "Texas", "tiktok", "browsing"]]


def _spec(tmp_path: Path, audience_text: str | bytes | None = None, name: str = "a.csv", **over: Any) -> Any:
    if audience_text is not None:
        aud = tmp_path / name
        aud.write_bytes(audience_text if isinstance(audience_text, bytes) else audience_text.encode("utf-8"))
        over["audience"] = str(aud)
    return load_spec(DEMO / "campaign.yaml", **over)


def _rows(path: Path) -> list[tuple[int, Any]]:
    return list(read_audience(path))


# ---------------------------------------------------------------- audience encodings and shapes


def _enc1258(text: str) -> bytes:
    """Vietnamese as Windows writes cp1258: precomposed base letters + combining tone marks."""
    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = b""
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            d = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in d if c not in tones))
            out += (base + "".join(c for c in d if c in tones)).encode("cp1258")
    return out


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"])
def test_western_names_decode_in_every_excel_encoding(settings, tmp_path, encoding):
    v = validate_campaign(_spec(tmp_path, _csv(ROWS).encode(encoding)), settings)
    assert [p.profile.first_name for p in v.planned] == ["Zoë", "José"], v.errors
    assert [p.row for p in v.planned] == [2, 3]


def test_vietnamese_cp1258_decodes_to_nfc(settings, tmp_path):
    rows = [["v1", "Hương", "35", "Huế", "zalo", "browsing"], ["v2", "Tuấn", "29", "Đà Nẵng", "tiktok", "browsing"]]
    data = _enc1258(_csv(rows))
    assert b"\xd0" in data  # Đ in cp1258, not UTF-8
    v = validate_campaign(_spec(tmp_path, data), settings)
    assert [p.profile.first_name for p in v.planned] == ["Hương", "Tuấn"], v.errors
    assert {p.profile.location for p in v.planned} == {"Huế", "Đà Nẵng"}


def test_broken_utf8_is_a_save_as_utf8_error_naming_the_line(tmp_path):
    good = _csv([["c1", "Hương", "35", "Huế", "zalo", "browsing"], ["c2", "Linh", "20", "Hà Nội", "tiktok", "x"]])
    bad = good.encode("utf-8").replace(b"Linh", b"Li\xffnh")
    p = tmp_path / "a.csv"
    p.write_bytes(bad)
    with pytest.raises(PipelineInputError, match=r"line 3 .*not valid UTF-8.*CSV UTF-8") as exc:
        _rows(p)
    assert exc.value.field == "audience"


@pytest.mark.parametrize("delim", [";", "\t", ","])
def test_delimiter_is_sniffed(settings, tmp_path, delim):
    v = validate_campaign(_spec(tmp_path, _csv(ROWS, delim=delim)), settings)
    assert [p.profile.customer_id for p in v.planned] == ["c1", "c2"], v.errors


def test_quoted_line_break_keeps_spreadsheet_row_numbers(settings, tmp_path):
    header = [*HEADER, "message"]
    rows = [
        ["c1", "An", "30", "Huế", "tiktok", "browsing", "first line\nsecond line\nthird"],
        ["c2", "Bình", "9", "Huế", "tiktok", "browsing", ""],  # age 9: an error on spreadsheet row 3
        ["c3", "Chi", "30", "Huế", "snapchat", "browsing", ""],  # row 4
    ]
    v = validate_campaign(_spec(tmp_path, _csv(rows, header)), settings)
    assert [(e.row, e.field) for e in v.errors] == [(3, "age"), (4, "channel")]
    assert v.planned[0].profile.message.startswith("first line\nsecond")


def test_oversized_cell_is_a_row_error(settings, tmp_path):
    header = [*HEADER, "message"]
    rows = [["c1", "An", "30", "Huế", "tiktok", "browsing", "x" * (128 * 1024)],
            ["c2", "Bình", "30", "Huế", "tiktok", "browsing", "hi"]]
    v = validate_campaign(_spec(tmp_path, _csv(rows, header)), settings)
    assert [(e.row, e.customer_id, e.field) for e in v.errors] == [(2, "c1", "message")]
    assert "limit" in v.errors[0].message and [p.row for p in v.planned] == [3]


@pytest.mark.parametrize("name,data", [("people.xlsx", b"PK\x03\x04rest"), ("people.csv", b"PK\x03\x04\x14\x00zip"),
                                       ("old.xls", b"\xd0\xcf\x11\xe0xx")])
def test_excel_workbooks_get_a_clear_error(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(PipelineInputError, match="Excel workbooks are not read directly; save it from Excel as 'CSV UTF-8"):
        _rows(p)


def test_jsonl_invalid_utf8_and_deep_nesting_are_row_errors(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(
        json.dumps({"customer_id": "j1", "first_name": "Lan"}).encode() + b"\n"
        + b'{"customer_id": "j2", "first_name": "L\xff"}\n'
        + b'{"customer_id": "j3", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    )
    rows = _rows(p)
    assert rows[0] == (1, {"customer_id": "j1", "first_name": "Lan"})
    assert rows[1][1].row == 2 and "not valid UTF-8" in rows[1][1].message
    assert rows[2][1].row == 3 and "nested deeper" in rows[2][1].message


def test_corrupt_parquet_is_a_clear_error(tmp_path):
    p = tmp_path / "a.parquet"
    p.write_bytes(b"PAR1" + b"\x00garbage" * 20 + b"PAR1")
    with pytest.raises(PipelineInputError, match="not a readable Parquet file") as exc:
        _rows(p)
    assert exc.value.field == "audience"


# ---------------------------------------------------------------- prices (Babel, per locale)


def _catalogue(prices: dict[str, Any]) -> Any:
    from pipelines.personalization.catalogue import catalogue_from_dict

    raw = yaml.safe_load((DEMO / "catalogue.yaml").read_text(encoding="utf-8"))
    raw["products"][0]["prices"] = prices
    return catalogue_from_dict(raw, base_dir=DEMO)


def test_vnd_prices_as_text_parse_in_vi_vn():
    assert _catalogue({"VND": "249.000"}).products[0].prices["VND"] == 249000
    assert _catalogue({"VND": "1.290.000", "USD": "1,290.50"}).products[0].prices == {"VND": 1290000, "USD": 1290.5}
    cur, text = _catalogue({"VND": "249.000"}).products[0].price_text("VND")
    assert (cur, text) == ("VND", "249.000 ₫")


@pytest.mark.parametrize("value,match", [("12.5", "ambiguous: did you mean '125' or '12,5'"),
                                         ("12,5", "VND allows 0"), (12.5, "VND allows none"),
                                         ("abc", "not an amount in vi_VN"), ("-5", "must be finite and >= 0")])
def test_ambiguous_or_fractional_vnd_is_an_error_never_rescaled(value, match):
    with pytest.raises(PipelineInputError, match=match) as exc:
        _catalogue({"VND": value})
    assert exc.value.field == "catalogue.products[0].prices.VND"


# ---------------------------------------------------------------- template, merge fields, copy


def _store(settings: Any, path: Path) -> str:
    """Asset id of a local file (what the CLI does with a file it is given)."""
    from workers.storage import LocalAssetStore

    return LocalAssetStore(settings.assets_dir).put(path, "application/octet-stream", filename=path.name).id


def _template(settings: Any, tmp_path: Path, name: str = "promo_city", **edit: Any) -> str:
    """Asset id of product_promo (media as registry names) with edits to its raw mapping."""
    raw = yaml.safe_load((TEMPLATES / "product_promo.yaml").read_text(encoding="utf-8"))

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fix(v) for k, v in node.items()}
            if isinstance(out.get("src"), str):
                out["src"] = out["src"].removeprefix("../")
            return out
        return [fix(x) for x in node] if isinstance(node, list) else node

    raw = fix(raw)
    for fn in edit.values():
        fn(raw)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return _store(settings, p)


def _use_city(raw: dict[str, Any]) -> None:
    layer = next(ly for ly in raw["scenes"][0]["layers"] if ly.get("id") == "headline")
    layer["text"] = "{{copy.headline}} · {{customer.city}}"


def test_template_that_does_not_exist_fails_every_row_before_work(settings, tmp_path):
    v = validate_campaign(_spec(tmp_path, _csv(ROWS), template="no_such_template"), settings)
    assert not v.planned and {(e.row, e.field) for e in v.errors} == {(2, "template"), (3, "template")}
    assert "unknown template 'no_such_template'" in v.errors[0].message


def test_audience_column_reaches_templates_as_customer_column(settings, tmp_path):
    tpl = _template(settings, tmp_path, city=_use_city)
    header = [*HEADER, "City"]
    rows = [[*ROWS[0], "London"], [*ROWS[1], ""]]
    v = validate_campaign(_spec(tmp_path, _csv(rows, header), template=tpl), settings)
    assert [p.profile.customer_id for p in v.planned] == ["c1"]
    (err,) = v.errors
    assert (err.row, err.field) == (3, "customer.city") and "no value and no default" in err.message
    from workers.campaigns.checks import merge_data

    pr = v.planned[0]
    data = merge_data(v.spec, v.catalogue, pr.plan, pr.columns)
    assert data["customer"]["city"] == "London" and data["customer"]["first_name"] == "Zoë"
    # Without the column, every row is refused up front (validate used to say "2/2 rows valid").
    v2 = validate_campaign(_spec(tmp_path, _csv(ROWS), template=tpl), settings)
    assert not v2.planned and [(e.row, e.field) for e in v2.errors] == [(2, "customer.city"), (3, "customer.city")]


def _deck(tmp_path: Path, script: str) -> Path:
    raw = yaml.safe_load((DEMO / "copy.yaml").read_text(encoding="utf-8"))
    for variants in raw["copy"].values():
        for tones in variants.values():
            for entry in tones.values():
                entry["script"] = script
    p = tmp_path / "copy.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return p


def test_emoji_is_dropped_from_the_spoken_script_with_a_warning(settings, tmp_path):
    from workers.campaigns import ad_job_spec

    spec = _spec(tmp_path, _csv(ROWS), copy=str(_deck(tmp_path, "Hot 🔥 deal for {first_name}! 👍🏽")))
    v = validate_campaign(spec, settings)
    assert len(v.planned) == 2 and not v.errors
    assert {w.field for w in v.warnings} >= {"copy.script"}
    assert any("'🔥' (U+1F525)" in w.message for w in v.warnings)
    from workers.storage import LocalAssetStore

    params, _ = ad_job_spec(spec, v, v.planned[0], {p.sku: "x" for p in v.catalogue}, tmp_path / "out",
                            LocalAssetStore(settings.assets_dir))
    assert params["voice"]["text"] == "Hot deal for Zoë!"
    from pipelines.voice.prosody import check_characters

    check_characters(params["voice"]["text"])  # what the voice job runs: no error


def test_unspeakable_script_and_too_long_voiceover_are_row_errors(settings, tmp_path):
    long = " ".join(["Ưu đãi lớn hôm nay cho {first_name}."] * 12)  # ~90 words: ~40 s of speech
    v = validate_campaign(_spec(tmp_path, _csv(ROWS[:1]), copy=str(_deck(tmp_path, long + " 中文"))), settings)
    fields = {e.field for e in v.errors}
    assert fields == {"copy.script", "voiceover"}, v.errors
    assert all(e.row == 2 for e in v.errors)  # every error of the row, not only the first
    msg = next(e.message for e in v.errors if e.field == "voiceover")
    assert "scenes last 15.00s" in msg and "estimated" in msg


# ---------------------------------------------------------------- voice length vs scenes (render path)


def test_scenes_stretch_within_max_duration_else_error():
    from pipelines.video.template import load_template, plan_durations, template_from_dict

    tpl = load_template(TEMPLATES / "product_promo.yaml")  # 4 + 6 + 5 s, voice offset 0.3 s
    assert plan_durations(tpl, 14.0) == [4.0, 6.0, 5.0]
    with pytest.raises(PipelineInputError, match=r"voiceover ends at 15.50s .* scenes last 15.00s") as exc:
        plan_durations(tpl, 15.2)
    assert exc.value.field == "voiceover"
    raw = tpl.model_dump(mode="json", exclude={"base_dir"})
    raw["scenes"][2]["max_duration"] = 7.0
    stretched = plan_durations(template_from_dict(raw), 15.2)
    assert stretched[:2] == [4.0, 6.0] and stretched[2] == pytest.approx(5.8)  # ends 0.3 s after the voice
    with pytest.raises(PipelineInputError, match=r"may stretch only to 17.00s"):
        plan_durations(template_from_dict(raw), 17.5)


# ---------------------------------------------------------------- media decode


def _ffmpeg(*args: str) -> None:
    from pipelines.video.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(d / "bed.m4a"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=1", "-pix_fmt", "yuv420p", str(d / "clip.mp4"))
    (d / "broken.m4a").write_bytes(b"not audio at all" * 10)
    return {"m4a": d / "bed.m4a", "clip": d / "clip.mp4", "broken": d / "broken.m4a"}


def test_m4a_music_bed_validates_and_decodes(settings, tmp_path, media):
    from pipelines.video import audio_mix

    v = validate_campaign(_spec(tmp_path, _csv(ROWS), music=_store(settings, media["m4a"])), settings)
    assert len(v.planned) == 2 and not v.errors
    audio = audio_mix.load_audio(media["m4a"])
    assert audio.shape[1] == 2 and abs(audio.shape[0] / audio_mix.SR - 2.0) < 0.1
    spectrum = np.abs(np.fft.rfft(audio[:48000, 0]))
    assert abs(np.argmax(spectrum) * audio_mix.SR / 48000 - 440) < 5  # the real tone, not silence
    bad = validate_campaign(_spec(tmp_path, _csv(ROWS), music=_store(settings, media["broken"])), settings)
    assert "not audio the bundled ffmpeg can decode" in bad.errors[0].message
    local = validate_campaign(_spec(tmp_path, _csv(ROWS), music=str(media["m4a"])), settings)
    assert {e.field for e in local.errors} == {"music"}  # a server path is never opened
    assert not bad.planned and {e.field for e in bad.errors} == {"music"}
    with pytest.raises(PipelineInputError, match="not decodable"):
        audio_mix.load_audio(media["broken"])


def test_m4a_music_bed_renders_into_the_ad(tmp_path, media):
    """Not only crash-free: the bed's 440 Hz tone is in the rendered MP4's audio."""
    from pipelines.video.config import VideoAdParams
    from pipelines.video.ffmpeg import decode_audio
    from pipelines.video.pipeline_video_ad import VideoAdPipeline
    from pipelines.video.template import template_from_dict

    tpl = template_from_dict({"name": "bed", "fps": 10, "formats": ["1:1"], "captions": {"style": "none"},
                              "scenes": [{"id": "s", "duration": 1.5, "background": "#202020"}]})
    params = VideoAdParams(data={}, out_dir=tmp_path, formats=["1:1"], music=media["m4a"], captions="none",
                           scale=0.125, quality="draft")
    (render,) = VideoAdPipeline()(tpl, params).renders
    audio = decode_audio(render.video_path)
    assert abs(len(audio) / 48000 - 1.5) < 0.1
    mid = audio[12000:60000, 0]
    spectrum = np.abs(np.fft.rfft(mid))
    assert abs(np.argmax(spectrum) * 48000 / len(mid) - 440) < 5 and np.sqrt(np.mean(mid**2)) > 1e-3


def test_video_layer_trim_past_end_and_audio_only_file_are_errors(media):
    from pipelines.video.template import template_from_dict, validate_template

    def tpl(src: Path, trim: float) -> Any:
        return template_from_dict({"name": "v", "scenes": [{"id": "s", "duration": 1.0, "layers": [
            {"type": "video", "id": "clip", "src": str(src), "trim_start": trim}]}]})

    assert validate_template(tpl(media["clip"], 0.5), {}).ok
    past = validate_template(tpl(media["clip"], 5.0), {})
    assert any("yields no frame after trim_start 5s" in e for e in past.errors), past.errors
    audio_only = validate_template(tpl(media["m4a"], 0.0), {})
    assert any("has no video stream" in e for e in audio_only.errors), audio_only.errors


# ---------------------------------------------------------------- specs


BOMB = b"""campaign_id: bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


@pytest.mark.parametrize("text,match", [
    (BOMB, "expands to more than|more than 100 YAML aliases"),
    (b"campaign_id: &x [*x]\n", "recursive alias"),
    (b"\x00\x01\x02binary", "binary file"),
    (b"campaign_id: caf\xe9\n", "not UTF-8"),
    (b"a:" + b" [" * 3000, "nested deeper|not valid YAML"),
])
def test_hostile_specs_answer_fast_and_small(tmp_path, text, match):
    p = tmp_path / "c.yaml"
    p.write_bytes(text)
    t0 = time.monotonic()
    with pytest.raises(CampaignSpecError, match=match) as exc:
        load_spec(p)
    assert time.monotonic() - t0 < 2.0 and len(str(exc.value)) < 2000


def test_absurd_cell_values_are_row_errors_not_crashes(settings, tmp_path):
    """Found by the loader fuzz: an age of 1e400 (infinity) used to raise OverflowError."""
    rows = [["c1", "An", "1e400", "Huế", "tiktok", "browsing"], ["c2", "Bình", "nan", "Huế", "tiktok", "browsing"],
            ["c3", "Chi", "30", "Huế", "tiktok", "browsing"]]
    v = validate_campaign(_spec(tmp_path, _csv(rows)), settings)
    assert [(e.row, e.field) for e in v.errors] == [(2, "age"), (3, "age")] and [p.row for p in v.planned] == [4]
