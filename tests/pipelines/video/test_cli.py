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
