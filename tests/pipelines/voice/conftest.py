"""Voice test fixtures: one espeak pipeline per session, a tiny random VITS model dir."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.voice.pipeline_output import Timing, VoiceOutput
from pipelines.voice.pipeline_voice import VoiceConfig, VoicePipeline
from pipelines.voice.prosody import plain_text


@pytest.fixture(scope="session")
def pipe() -> VoicePipeline:
    return VoicePipeline()


@pytest.fixture(scope="session")
def tiny_vits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from maydo_testing.coqui_tiny import build_tiny_vits

    out = tmp_path_factory.mktemp("tiny_vits")
    build_tiny_vits(out, speakers=("p225", "p294"))
    return out


@pytest.fixture(scope="session")
def coqui_pipe(tiny_vits_dir: Path) -> VoicePipeline:
    return VoicePipeline(VoiceConfig(coqui_model_dir=tiny_vits_dir))


def assert_timings_valid(out: VoiceOutput, script: str | None = None) -> None:
    """Sentences tile [0, duration]; words are monotonic, non-overlapping, inside the audio; each
    word's spoken form appears in the normalised text in order, and (given ``script``) each word
    and each sentence is the script's own text, every script word exactly once, in order."""
    eps = 1e-6
    assert out.sentences, "no sentence timings"
    assert out.sentences[0].start == 0.0
    assert out.sentences[-1].end == pytest.approx(out.duration)
    for a, b in zip(out.sentences, out.sentences[1:], strict=False):
        assert a.end == pytest.approx(b.start)
    for s in out.sentences:
        assert s.end > s.start
    assert out.words, "no word timings"
    prev: Timing | None = None
    for w in out.words:
        assert 0.0 <= w.start < w.end <= out.duration + eps, w
        if prev is not None:
            assert w.start >= prev.end - eps, (prev, w)
        prev = w
    # words cover the speech: first word near the start, last near the end
    assert out.words[0].start < 0.5
    assert out.words[-1].end > out.duration - 1.0
    spoken = out.normalized_text.lower()
    pos = 0
    for w in out.words:  # the spoken words appear in the normalised text, in order
        assert w.spoken is not None, w
        idx = spoken.find(w.spoken.lower(), pos)
        assert idx >= 0, (w.spoken, spoken[pos : pos + 40])
        pos = idx + len(w.spoken)
    if script is not None:
        source = re.sub(r"\s+([.,!?;:…])", r"\1", " ".join(plain_text(script).split()))
        assert " ".join(s.text for s in out.sentences) == source
        pos = 0
        for w in out.words:  # every word is script text, in order, none repeated
            idx = source.find(w.text, pos)
            assert idx >= 0, (w.text, source[pos : pos + 40])
            pos = idx + len(w.text)
        said = [t for w in out.words for t in w.text.split()]
        assert len(said) == len([t for t in source.split() if any(c.isalnum() for c in t)]), said
