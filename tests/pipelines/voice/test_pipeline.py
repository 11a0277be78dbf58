"""VoicePipeline on the embedded espeak engine: accents, loudness, true peak, timings, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines._common.errors import PipelineInputError
from pipelines._common.loudness import integrated_loudness, true_peak_dbtp
from pipelines.voice.engines.base import SynthSettings
from pipelines.voice.engines.espeak import EspeakEngine
from pipelines.voice.pipeline_voice import VoiceParams, VoicePipeline

from .conftest import assert_timings_valid

VI_TEXT = "Chào bạn! Áo khoác mới chỉ 150.000đ."
EN_TEXT = "Hi there! Our new jacket is only $19.99."


def test_three_vietnamese_accents_differ_in_phonemes_and_audio(pipe: VoicePipeline) -> None:
    phon = {a: pipe.phonemes(VI_TEXT, a) for a in ("vi-north", "vi-central", "vi-south")}
    assert len(set(phon.values())) == 3, phon
    assert "ŋˈi2n" in phon["vi-north"]  # nghìn
    assert "ŋˈi2n" not in phon["vi-south"]  # ngàn
    engine = EspeakEngine()
    audio = {
        a: engine.synthesize("Một trăm năm mươi.", pipe.registry.get(a).voice, SynthSettings()).audio
        for a in ("vi-north", "vi-central", "vi-south")
    }
    keys = list(audio)
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = audio[keys[i]], audio[keys[j]]
            n = min(a.size, b.size)
            assert a.size != b.size or float(np.max(np.abs(a[:n] - b[:n]))) > 0.05


def test_thousand_reading_is_regional(pipe: VoicePipeline) -> None:
    north = pipe("Giá 150.000đ.", VoiceParams(accent="vi-north"))
    south = pipe("Giá 150.000đ.", VoiceParams(accent="vi-south"))
    assert "một trăm năm mươi nghìn đồng" in north.normalized_text
    assert "một trăm năm mươi ngàn đồng" in south.normalized_text
    # captions carry the script's "150.000đ"; the regional reading is what was spoken for it
    assert [w.text for w in south.words] == ["Giá", "150.000đ"]
    assert south.words[-1].spoken == "một trăm năm mươi ngàn đồng"
    assert north.words[-1].spoken == "một trăm năm mươi nghìn đồng"


@pytest.mark.parametrize(
    ("accent", "text", "lufs"),
    [("vi-north", VI_TEXT, -16.0), ("vi-central", VI_TEXT, -23.0), ("vi-south", VI_TEXT, -16.0),
     ("en-us", EN_TEXT, -16.0), ("en-gb-rp", EN_TEXT, -23.0), ("en-scotland", EN_TEXT, -16.0),
     ("en-caribbean", EN_TEXT, -16.0), ("en-us-nyc", EN_TEXT, -14.0)],
)  # fmt: skip
def test_loudness_true_peak_and_timings(pipe: VoicePipeline, accent: str, text: str, lufs: float) -> None:
    out = pipe(text, VoiceParams(accent=accent, target_lufs=lufs))
    assert out.sample_rate == 48_000 and out.audio.dtype == np.float32 and out.audio.ndim == 1
    assert out.duration == pytest.approx(out.audio.size / 48_000)
    # measured independently of the reported figures
    assert abs(integrated_loudness(out.audio, 48_000) - lufs) <= 0.5
    assert abs(out.loudness_lufs - lufs) <= 0.5
    assert true_peak_dbtp(out.audio) <= -1.0 + 1e-6
    assert out.true_peak_dbtp <= -1.0 + 1e-6
    assert out.accent == accent and out.engine == pipe.default_engine(pipe.registry.get(accent))
    assert_timings_valid(out, text)
    assert len(out.sentences) == 2


def test_silence_is_trimmed_to_short_lead_and_tail(pipe: VoicePipeline) -> None:
    out = pipe("Xin chào.", VoiceParams(accent="vi-north"))
    first = out.words[0].start
    assert 0.03 <= first <= 0.35
    env = np.abs(out.audio)
    loud = np.nonzero(env > 0.01)[0]
    assert loud[0] / 48_000 < 0.3 and (out.audio.size - loud[-1]) / 48_000 < 0.5


def test_pause_markup_and_emphasis(pipe: VoicePipeline) -> None:
    plain = pipe("Mua ngay. Giảm giá hôm nay.", VoiceParams(accent="vi-south"))
    paused = pipe("Mua ngay. [pause 800ms] Giảm giá *hôm nay*.", VoiceParams(accent="vi-south"))
    assert paused.duration - plain.duration == pytest.approx(0.8, abs=0.25)
    assert len(paused.sentences) == 2  # emphasis does not split the caption sentence
    assert paused.sentences[1].text == "Giảm giá hôm nay."
    assert_timings_valid(paused, "Mua ngay. [pause 800ms] Giảm giá *hôm nay*.")
    # the silent gap is where the pause was put
    gap_start = paused.sentences[0].end - 0.6
    seg = paused.audio[int(gap_start * 48_000) : int(paused.sentences[0].end * 48_000)]
    assert float(np.max(np.abs(seg))) < 0.01


def test_tone_and_rate_change_duration(pipe: VoicePipeline) -> None:
    base = pipe(EN_TEXT, VoiceParams(accent="en-us"))
    calm = pipe(EN_TEXT, VoiceParams(accent="en-us", tone="calm"))
    fast = pipe(EN_TEXT, VoiceParams(accent="en-us", tone="energetic", rate=1.3))
    assert calm.duration > base.duration * 1.05
    assert fast.duration < base.duration * 0.85


def test_long_script_is_chunked(pipe: VoicePipeline) -> None:
    text = " ".join(f"Câu số {i} nói về sản phẩm mới." for i in range(1, 13))
    out = pipe(text, VoiceParams(accent="vi-north", max_chars=2000))
    assert len(out.sentences) == 12
    assert_timings_valid(out, text)


def test_save_wav_and_to_dict(pipe: VoicePipeline, tmp_path: Path) -> None:
    out = pipe("Xin chào.", VoiceParams(accent="vi-central"))
    path = out.save_wav(tmp_path / "sub" / "v.wav")
    data, rate = sf.read(str(path), dtype="float32")
    assert rate == 48_000 and data.shape == out.audio.shape
    assert np.max(np.abs(data - out.audio)) < 1e-4
    assert [p.name for p in path.parent.iterdir()] == ["v.wav"]  # no temp files left
    d = out.to_dict()
    assert "audio" not in d and d["accent"] == "vi-central" and d["words"][0]["text"] == "Xin"


@pytest.mark.parametrize(
    ("text", "params", "field", "needle"),
    [
        ("", VoiceParams(accent="vi-north"), "text", "empty"),
        ("   [pause 200ms]  ", VoiceParams(accent="vi-north"), "text", "empty"),
        ("Xin chào", VoiceParams(accent="vi-hanoi"), "accent", "vi-north, vi-central, vi-south"),
        ("Xin chào ☃字", VoiceParams(accent="vi-north"), "text", "U+5B57"),
        ("你好", VoiceParams(accent="vi-north"), "text", "unsupported characters"),
        ("a" * 2001, VoiceParams(accent="vi-north"), "text", "maximum is 2000"),
        ("abc " * 30, VoiceParams(accent="vi-north", max_chars=100), "text", "maximum is 100"),
        ("Hi [shout] there", VoiceParams(accent="en-us"), "text", "pause 300ms"),
        ("Hi [pause 9s] there", VoiceParams(accent="en-us"), "text", "maximum pause"),
        ("Hi", VoiceParams(accent="en-us", tone="angry"), "tone", "energetic, calm, empathetic"),
        ("Hi", VoiceParams(accent="en-us", engine="festival"), "engine", "espeak, flite, piper, coqui"),
        ("Chào", VoiceParams(accent="vi-north", engine="piper"), "engine", "engines for it: espeak"),
        ("Hi", VoiceParams(accent="en-us", rate=5.0), "rate", "0.5..2.0"),
        ("Hi", VoiceParams(accent="en-us", word_gap_ms=500), "word_gap_ms", "0..200"),
        ("Hi", VoiceParams(accent="en-us", target_lufs=3.0), "target_lufs", "-23"),
        ("Hi", VoiceParams(accent="en-us", engine="coqui"), "engine", "model directory"),
    ],
)
def test_bad_inputs(pipe: VoicePipeline, text: str, params: VoiceParams, field: str, needle: str) -> None:
    with pytest.raises(PipelineInputError) as exc:
        pipe(text, params)
    assert exc.value.field == field
    assert needle in str(exc.value)


def test_commercial_job_refuses_non_commercial_voice(coqui_pipe: VoicePipeline) -> None:
    with pytest.raises(PipelineInputError) as exc:
        coqui_pipe("Hello there.", VoiceParams(accent="en-gb", engine="coqui", commercial=True))
    msg = str(exc.value)
    assert "does not allow commercial use" in msg and "en-gb/espeak" in msg
    # the same job as non-commercial, and a commercial job on a commercial voice, both run
    assert coqui_pipe("Hello there.", VoiceParams(accent="en-gb", engine="coqui", voice="p225")).duration > 0
    default = coqui_pipe.default_engine(coqui_pipe.registry.get("en-gb"))  # flite (espeak without it)
    assert coqui_pipe("Hello there.", VoiceParams(accent="en-gb", commercial=True)).engine == default


def test_save_compressed_formats(pipe: VoicePipeline, tmp_path: Path) -> None:
    import subprocess

    import imageio_ffmpeg

    out = pipe("Xin chào các bạn.", VoiceParams(accent="vi-north"))
    m4a = out.save(tmp_path / "v.m4a")
    assert m4a.stat().st_size > 1000
    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(m4a)], capture_output=True, text=True
    ).stderr
    assert "aac" in probe and "48000 Hz" in probe
    with pytest.raises(PipelineInputError, match=r"\.mp3"):
        out.save(tmp_path / "v.ogg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.m4a"]


def test_language_mismatch_is_flagged(pipe: VoicePipeline) -> None:
    out = pipe("Chào bạn, áo mới giảm giá hôm nay.", VoiceParams(accent="en-us"))
    assert out.warnings and "looks Vietnamese" in out.warnings[0]
    assert pipe(VI_TEXT, VoiceParams(accent="vi-north")).warnings == []
