from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipelines._common.data import ASSETS_DIR
from workers.cli import app

from .conftest import DATA, SCALE, tiny_template

runner = CliRunner()
TPL = ASSETS_DIR / "templates"


def test_template_validate_ok_and_errors(tmp_path: Path):
    ok = runner.invoke(
        app, ["template", "validate", str(TPL / "bumper_6s.yaml"), "-d", str(TPL / "bumper_6s.sample.json")]
    )
    assert ok.exit_code == 0, ok.output
    assert "valid (0 errors" in ok.output
    (tmp_path / "d.json").write_text(json.dumps({"product": {"price": "x"}}), encoding="utf-8")
    bad = runner.invoke(
        app, ["template", "validate", str(TPL / "bumper_6s.yaml"), "-d", str(tmp_path / "d.json"), "--json"]
    )
    assert bad.exit_code == 2
    report = json.loads(bad.stdout)
    assert not report["ok"] and len(report["errors"]) == 2  # product.name missing + price not a number


def test_template_validate_schema_errors_listed(tmp_path: Path):
    raw = tiny_template()
    raw["scenes"][0]["layers"][0]["wat"] = 1
    raw["scenes"][1]["layers"][0]["fit"] = "stretch"
    (tmp_path / "t.json").write_text(json.dumps(raw), encoding="utf-8")
    res = runner.invoke(app, ["template", "validate", str(tmp_path / "t.json")])
    assert res.exit_code == 2
    assert "wat: unknown key" in res.output and "fit" in res.output


def test_render_cli_json(media, tmp_path: Path):
    raw = tiny_template()
    raw["scenes"] = raw["scenes"][:1]
    (media["dir"].parent / "t.json").write_text(json.dumps(raw), encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps(DATA), encoding="utf-8")
    res = runner.invoke(
        app,
        [
            "render",
            str(media["dir"].parent / "t.json"),
            "--data",
            str(tmp_path / "d.json"),
            "-f",
            "1:1",
            "--scale",
            str(SCALE),
            "-o",
            str(tmp_path / "out"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    (r,) = out["renders"]
    assert r["format"] == "1:1" and Path(r["video_path"]).is_file() and r["metadata"]["width"] == 180


def test_render_takes_the_timings_json_that_maydo_voice_writes(media, tmp_path: Path):
    # found by break-cli: `--timings` with `maydo voice --json` output ({"text","start","end"}
    # objects) crashed with AttributeError: 'dict' object has no attribute 'text'
    raw = tiny_template()
    (media["dir"].parent / "t.json").write_text(json.dumps(raw), encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps(DATA), encoding="utf-8")
    voice_json = {"sentences": [{"text": "Xin chào Hương", "start": 0.0, "end": 1.2, "spoken": "Xin chào Hương"}],
                  "words": [{"text": "Xin", "start": 0.0, "end": 0.4}, {"text": "chào", "start": 0.4, "end": 0.8},
                            {"text": "Hương", "start": 0.8, "end": 1.2}]}
    (tmp_path / "tm.json").write_text(json.dumps(voice_json), encoding="utf-8")
    args = ["render", str(media["dir"].parent / "t.json"), "--data", str(tmp_path / "d.json"), "-f", "1:1",
            "--scale", str(SCALE), "--quality", "draft", "--voiceover", str(media["short_voice"]),
            "--product", str(media["product"]), "--timings", str(tmp_path / "tm.json"), "-o", str(tmp_path / "out"), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    (r,) = json.loads(res.stdout)["renders"]
    assert "Xin chào Hương" in Path(r["vtt_path"]).read_text(encoding="utf-8")
    # malformed timings: exit 2 naming --timings and the expected shape, never a traceback
    (tmp_path / "bad.json").write_text(json.dumps({"words": [{"text": "x"}]}), encoding="utf-8")
    res = runner.invoke(app, [*args[:-4], str(tmp_path / "bad.json"), "-o", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "--timings" in res.output and "start" in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    (tmp_path / "bin.json").write_bytes(bytes(range(256)))
    res = runner.invoke(app, [*args[:-4], str(tmp_path / "bin.json"), "-o", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "--timings" in res.output and "--data" not in res.output, res.output


def test_render_voiceover_in_an_unreadable_format_says_what_is_allowed(media, tmp_path: Path):
    # found by break-cli: an .m4a voiceover answered only "Format not recognised."
    (media["dir"].parent / "t.json").write_text(json.dumps(tiny_template()), encoding="utf-8")
    (tmp_path / "vo.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00" + bytes(64))
    res = runner.invoke(app, ["render", str(media["dir"].parent / "t.json"), "--product", str(media["product"]),
                              "--voiceover", str(tmp_path / "vo.m4a"), "--scale", str(SCALE), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "vo.m4a" in res.output and "allowed: WAV" in res.output, res.output
