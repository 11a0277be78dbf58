"""`maydo voice` and `maydo voices` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf
from typer.testing import CliRunner

from workers.cli import app

runner = CliRunner()


def test_voices_lists_accents_with_licence_and_commercial_flag() -> None:
    res = runner.invoke(app, ["voices", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    by_key = {(r["accent"], r["engine"]): r for r in rows}
    assert by_key[("vi-south", "espeak")]["commercial_use"] is True
    assert by_key[("en-us", "piper")]["commercial_use"] is False
    assert by_key[("en-us", "flite")]["default"] is True and by_key[("en-us", "flite")]["wer"] <= 0.15
    assert by_key[("en-gb-wmids", "espeak")]["note"].startswith("robotic, WER ")
    table = runner.invoke(app, ["voices"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "vi-central" in table.stdout and "commercial" in table.stdout
    assert "robotic, WER" in table.stdout


def test_voice_writes_wav_and_json(tmp_path: Path) -> None:
    out = tmp_path / "ad.wav"
    res = runner.invoke(
        app, ["voice", "Chào bạn! Chỉ 150.000đ.", "--location", "Sài Gòn", "-o", str(out), "--json", "--lufs", "-23"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["accent"] == "vi-south" and "ngàn đồng" in data["normalized_text"]
    assert abs(data["loudness_lufs"] + 23) <= 0.5 and data["words"]
    audio, rate = sf.read(str(out))
    assert rate == 48_000 and abs(len(audio) / rate - data["duration"]) < 1e-3


def test_voice_from_file_and_bad_inputs(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("Hello there. [pause 200ms] Only $5.", encoding="utf-8")
    ok = runner.invoke(app, ["voice", "--file", str(script), "--accent", "en-gb", "-o", str(tmp_path / "a.wav")])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["voice", "Hi", "--accent", "vi-hanoi", "-o", str(tmp_path / "b.wav")])
    assert bad.exit_code == 2 and "vi-north" in bad.output
    neither = runner.invoke(app, ["voice", "--accent", "en-us", "-o", str(tmp_path / "c.wav")])
    assert neither.exit_code == 2
    assert not (tmp_path / "b.wav").exists()
