import json

from typer.testing import CliRunner

from workers.cli import app

runner = CliRunner()


def test_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("version", "doctor", "demo"):
        assert cmd in res.output


def test_version():
    res = runner.invoke(app, ["version"])
    assert res.exit_code == 0 and res.output.startswith("maydo ")


def test_doctor_json_reports_truth(tmp_path, monkeypatch):
    monkeypatch.setenv("MAYDO_DATA_DIR", str(tmp_path / "d"))
    res = runner.invoke(app, ["doctor", "--json", "--skip-ray"])
    assert res.exit_code == 0, res.output
    checks = {c["name"]: c for c in json.loads(res.output)}
    assert checks["ffmpeg"]["ok"] and "ffmpeg version" in checks["ffmpeg"]["detail"]
    assert checks["espeak-ng voices"]["ok"] and "vi-vn-x-south" in checks["espeak-ng voices"]["detail"]
    assert checks["data dir"]["ok"] and str(tmp_path / "d") in checks["data dir"]["detail"]
    assert (tmp_path / "d").is_dir()
    assert "0 CUDA" in checks["GPUs (torch)"]["detail"] or "CUDA device" in checks["GPUs (torch)"]["detail"]


def test_bad_settings_exit_2(monkeypatch):
    monkeypatch.setenv("MAYDO_STORAGE__BACKEND", "s3")
    res = runner.invoke(app, ["doctor", "--skip-ray"])
    assert res.exit_code == 2
    assert "storage.backend" in res.output


def test_render_help_names_the_poster_format_it_writes():
    # found by break-cli: `maydo render --help` promised a "poster JPEG"; the file written is a PNG
    result = runner.invoke(app, ["render", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "poster PNG" in result.output
    assert "JPEG" not in result.output
