"""Audio post-processing with kept libraries: resampling (scipy), BS.1770 loudness (pyloudnorm),
true peak by 4x oversampling, a look-ahead peak limiter, silence trimming."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

OUTPUT_SAMPLE_RATE = 48_000
TRUE_PEAK_CEILING_DBTP = -1.0
_MIN_LOUDNESS_SECONDS = 0.4  # one BS.1770 gating block


def resample(audio: np.ndarray, src_rate: int, dst_rate: int = OUTPUT_SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from ``src_rate`` to ``dst_rate``; float32 out."""
    x = np.asarray(audio, dtype=np.float64)
    if src_rate == dst_rate or x.size == 0:
        return x.astype(np.float32)
    ratio = Fraction(dst_rate, src_rate).limit_denominator(10_000)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """ITU-R BS.1770-4 integrated loudness in LUFS (``-inf`` for silence)."""
    import pyloudnorm

    x = np.asarray(audio, dtype=np.float64)
    min_len = int(math.ceil(_MIN_LOUDNESS_SECONDS * rate)) + 1
    if x.size < min_len:  # pyloudnorm needs one full gating block; silence is gated out anyway
        x = np.pad(x, (0, min_len - x.size))
    return float(pyloudnorm.Meter(rate).integrated_loudness(x))


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak (dBTP) estimated from 4x oversampling, as BS.1770 Annex 2 describes."""
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0:
        return -math.inf
    peak = float(np.max(np.abs(resample_poly(x, 4, 1))))
    peak = max(peak, float(np.max(np.abs(x))))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def limit_true_peak(audio: np.ndarray, rate: int, ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP) -> np.ndarray:
    """Look-ahead limiter: smooth gain reduction so the oversampled peak stays under the ceiling."""
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    up = np.abs(resample_poly(x, 4, 1))[: x.size * 4]
    if up.size < x.size * 4:
        up = np.pad(up, (0, x.size * 4 - up.size))
    env = np.maximum(up.reshape(-1, 4).max(axis=1), np.abs(x))
    window = max(3, int(0.005 * rate))  # 5 ms attack/release
    env = maximum_filter1d(env, size=window)
    gain = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    # min-filter then average: at every peak the averaged gain is <= the gain that peak needs
    gain = minimum_filter1d(gain, size=2 * window + 1)
    gain = uniform_filter1d(gain, size=window)
    return (x * gain).astype(np.float32)


def normalize_loudness(
    audio: np.ndarray,
    rate: int,
    target_lufs: float = -16.0,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
    iterations: int = 8,
) -> tuple[np.ndarray, float, float]:
    """Gain to ``target_lufs`` and limit true peak to ``ceiling_dbtp``; returns (audio, LUFS, dBTP).

    Limiting lowers loudness a little, so gain and limiting alternate until both hold; the
    limiter aims 0.2 dB under the ceiling so the final gain step does not cross it.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0 or not np.any(x):
        return x.astype(np.float32), -math.inf, -math.inf
    for i in range(iterations):
        loud = integrated_loudness(x, rate)
        if not math.isfinite(loud):
            break
        x = x * 10.0 ** ((target_lufs - loud) / 20.0)
        if true_peak_dbtp(x) <= ceiling_dbtp:
            break
        # each round limits a little deeper, so the make-up gain of the next round stays under
        x = limit_true_peak(x, rate, ceiling_dbtp - 0.3 * (i + 1)).astype(np.float64)
    tp = true_peak_dbtp(x)
    if tp > ceiling_dbtp:  # last resort: plain gain so the ceiling always holds
        x = x * 10.0 ** ((ceiling_dbtp - 0.05 - tp) / 20.0)
        tp = true_peak_dbtp(x)
    out = x.astype(np.float32)
    return out, integrated_loudness(out, rate), tp


def speech_bounds(audio: np.ndarray, rate: int, threshold_db: float = -45.0) -> tuple[int, int]:
    """First and last sample (exclusive end) of frames louder than ``threshold_db`` below peak."""
    x = np.abs(np.asarray(audio, dtype=np.float64))
    if x.size == 0 or not np.any(x):
        return 0, 0
    frame = max(1, int(0.01 * rate))
    n = int(math.ceil(x.size / frame))
    padded = np.pad(x, (0, n * frame - x.size))
    rms = np.sqrt(np.mean(padded.reshape(n, frame) ** 2, axis=1))
    thr = float(np.max(rms)) * 10.0 ** (threshold_db / 20.0)
    active = np.nonzero(rms > thr)[0]
    if active.size == 0:
        return 0, 0
    return int(active[0] * frame), int(min(x.size, (active[-1] + 1) * frame))


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(max(0, int(round(seconds * rate))), dtype=np.float32)
