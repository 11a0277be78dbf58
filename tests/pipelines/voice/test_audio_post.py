"""Fast post-processing paths agree with the reference measures (full float64 4x oversampling,
pyloudnorm) and hold the loudness / true-peak targets on every accent."""

from __future__ import annotations

import numpy as np
import pytest

from maydo_testing.audio import full_oversampled_dbtp
from pipelines._common.loudness import integrated_loudness, normalize_loudness, true_peak_dbtp
from pipelines.voice.audio import OUTPUT_SAMPLE_RATE
from pipelines.voice.pipeline_voice import VoiceParams, VoicePipeline


def _peaky(seed: int, seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * OUTPUT_SAMPLE_RATE)
    t = np.arange(n) / OUTPUT_SAMPLE_RATE
    x = 0.1 * rng.standard_normal(n) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x[rng.integers(0, n, 40)] += rng.choice([-0.3, 0.3], 40)  # clicks
    burst = slice(n // 3, n // 3 + n // 10)  # fs/4 tone sampled 45 deg off its crests: +3 dB between samples
    x[burst] += 0.8 * np.sin(2 * np.pi * (OUTPUT_SAMPLE_RATE / 4) * t[burst] + np.pi / 4)
    return x.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_true_peak_matches_full_oversampling(seed: int) -> None:
    x = _peaky(seed)
    full = full_oversampled_dbtp(x)
    assert true_peak_dbtp(x) == pytest.approx(full, abs=1e-9)
    assert true_peak_dbtp(x, fast=True) == pytest.approx(full, abs=1e-4)
    assert full > 20 * np.log10(np.max(np.abs(x))) + 0.5  # the signal really has inter-sample peaks


@pytest.mark.parametrize(("seed", "target"), [(0, -16.0), (1, -14.0), (2, -23.0), (3, -9.0)])
def test_normalize_hits_loudness_and_holds_ceiling_by_the_full_measure(seed: int, target: float) -> None:
    x = _peaky(seed)
    out, lufs, tp = normalize_loudness(x, OUTPUT_SAMPLE_RATE, target)
    measured = integrated_loudness(out, OUTPUT_SAMPLE_RATE)
    assert abs(lufs - measured) <= 0.01  # reported loudness (analytic after the gain) is the measured one
    if tp < -1.0 - 0.06:  # not forced to trade loudness for the ceiling
        assert abs(measured - target) <= 0.5
    full = full_oversampled_dbtp(out)
    assert full <= -1.0 + 1e-6
    assert abs(full - tp) <= 1e-3


def test_every_accent_meets_loudness_and_true_peak(pipe: VoicePipeline) -> None:
    texts = {"vi": "Chào bạn, giảm giá hôm nay!", "en": "Hi there, big sale today!"}
    for accent in pipe.registry.ids():
        spec = pipe.registry.get(accent)
        if spec.engine != "espeak":
            continue
        out = pipe(texts[spec.language], VoiceParams(accent=accent, target_lufs=-16.0))
        assert out.sample_rate == OUTPUT_SAMPLE_RATE
        assert abs(integrated_loudness(out.audio, OUTPUT_SAMPLE_RATE) + 16.0) <= 0.5, accent
        assert full_oversampled_dbtp(out.audio) <= -1.0 + 1e-6, accent
        assert out.true_peak_dbtp <= -1.0 + 1e-6, accent
