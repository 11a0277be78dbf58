from __future__ import annotations

import numpy as np
import pytest

from pipelines.video import audio_mix
from pipelines.video.captions import build_cues, caption_state, to_srt, to_webvtt
from pipelines.video.config import Voiceover

from .conftest import MUSIC_HZ, SENTENCES, WORDS

SR = audio_mix.SR


def tone_level(x: np.ndarray, hz: float) -> float:
    """Amplitude of a sine at ``hz`` in a mono window (single-bin DFT)."""
    t = np.arange(len(x)) / SR
    return float(2 * abs(np.dot(x, np.exp(-2j * np.pi * hz * t))) / len(x))


def test_mix_ducks_music_under_words_and_hits_loudness(media):
    voice = audio_mix.load_audio(media["voice"])
    music = audio_mix.load_audio(media["music"])
    res = audio_mix.mix(
        4.0,
        voice=voice,
        voice_offset=0.5,
        voice_timings=[(s, e) for _, s, e in WORDS],
        music=music,
        music_db=-12,
        duck_db=-18,
        music_fade_in=0.0,
        music_fade_out=0.0,
        target_lufs=-23.0,  # headroom: the limiter must not touch the bed, so the ratio is pure ducking
    )
    a = res.audio
    assert a.shape == (4 * SR, 2)
    mono = a.mean(axis=1)
    # Speech (words at 0.5+0.95..1.4) vs a pause (0.5+1.6..1.9 -> ramp excluded).
    speech = mono[int(1.55 * SR) : int(1.85 * SR)]
    pause = mono[int(3.8 * SR) : int(4.0 * SR)]  # after the last word + release ramp
    ratio_db = 20 * np.log10(tone_level(speech, MUSIC_HZ) / tone_level(pause, MUSIC_HZ))
    assert ratio_db == pytest.approx(-18, abs=1.5)
    assert res.stats["integrated_lufs"] == pytest.approx(-23, abs=0.5)
    assert res.stats["true_peak_dbtp"] <= -1.0
    assert res.stats["duck_source"] == "timings"
    loud = audio_mix.mix(4.0, voice=voice, voice_offset=0.5, music=music, music_db=-12)
    assert loud.stats["integrated_lufs"] == pytest.approx(-16, abs=0.5)
    assert loud.stats["true_peak_dbtp"] <= -1.0


def test_envelope_ducking_without_timings(media):
    voice = audio_mix.load_audio(media["voice"])
    music = audio_mix.load_audio(media["music"])
    res = audio_mix.mix(3.2, voice=voice, music=music, duck_db=-12, music_fade_in=0, music_fade_out=0, target_lufs=-23)
    mono = res.audio.mean(axis=1)
    during = tone_level(mono[int(1.0 * SR) : int(1.3 * SR)], MUSIC_HZ)
    after = tone_level(mono[int(3.0 * SR) : int(3.2 * SR)], MUSIC_HZ)
    assert 20 * np.log10(during / after) == pytest.approx(-12, abs=1.5)
    assert res.stats["duck_source"] == "envelope"


def test_limiter_keeps_true_peak_under_ceiling():
    t = np.arange(SR) / SR
    x = np.stack([np.sign(np.sin(2 * np.pi * 100 * t)) * 0.9] * 2, axis=1).astype(np.float32)  # square: peaky
    res = audio_mix.mix(1.0, music=x, music_db=0, music_fade_in=0, music_fade_out=0, target_lufs=-8)
    assert res.stats["true_peak_dbtp"] <= -1.0


def test_cues_vtt_srt_and_word_state():
    cues = build_cues(SENTENCES, WORDS, offset=0.3)
    assert [c.text for c in cues] == ["Xin chào Hương!", "Mua ngay."]
    assert cues[0].start == pytest.approx(0.5) and cues[0].end == pytest.approx(1.7)
    vtt = to_webvtt(cues)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.700\nXin chào Hương!\n")
    srt = to_srt(cues)
    assert "2\n00:00:02,300 --> 00:00:03,100\nMua ngay.\n" in srt
    assert caption_state(cues, 0.4, "words") is None
    assert caption_state(cues, 0.9, "words") == (0, 1)  # "chào" starts at 0.55 + 0.3
    assert caption_state(cues, 0.9, "sentence") == (0, -1)
    assert caption_state(cues, 2.5, "words") == (1, 0)


def test_long_sentence_splits_at_word_boundaries():
    words = [(f"w{i}", i * 0.3, i * 0.3 + 0.25) for i in range(20)]
    sentence = [(" ".join(w for w, _, _ in words), 0.0, 6.0)]
    cues = build_cues(sentence, words, max_chars=20)
    assert len(cues) > 2 and all(len(c.text) <= 20 for c in cues)
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))


def test_voiceover_from_timing_objects(media):
    class T:
        def __init__(self, text, start, end):
            self.text, self.start, self.end = text, start, end

    vo = Voiceover.from_timings(media["voice"], [T(*s) for s in SENTENCES], [T(*w) for w in WORDS])
    assert vo.sentences[0] == SENTENCES[0] and vo.words[-1] == WORDS[-1]
    assert vo.duration == pytest.approx(3.2, abs=1e-3)
