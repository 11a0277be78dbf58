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
    try:  # soxr (VHQ) is several times faster than a long polyphase FIR; scipy is the fallback
        import soxr

        return np.asarray(soxr.resample(x, src_rate, dst_rate, quality="VHQ"), dtype=np.float32)
    except ImportError:
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


_BLOCK = 1024
_PAD = 32  # > half the 4x interpolation filter's length per phase
_OVERSHOOT_DB = 6.0  # inter-sample peaks of band-limited audio stay well within this of the samples


def _peak_envelope(x: np.ndarray, threshold: float) -> np.ndarray:
    """Per-sample peak of the 4x-oversampled signal (max of the 4 sub-samples at each sample).

    Only blocks whose sample peak is within ``_OVERSHOOT_DB`` of ``threshold`` can reach it, so
    only those are oversampled (in one vectorised call); elsewhere |x| is exact enough.
    """
    a = np.abs(x)
    n = a.size
    nb = -(-n // _BLOCK)
    env = np.zeros(nb * _BLOCK)
    env[:n] = a
    blocks = env.reshape(nb, _BLOCK)
    sel = np.nonzero(blocks.max(axis=1) >= threshold * 10.0 ** (-_OVERSHOOT_DB / 20.0))[0]
    if sel.size:
        padded = np.pad(x, (_PAD, nb * _BLOCK - n + _PAD))
        idx = sel[:, None] * _BLOCK + np.arange(_BLOCK + 2 * _PAD)[None, :]
        up = resample_poly(padded[idx], 4, 1, axis=1)[:, 4 * _PAD : 4 * (_PAD + _BLOCK)]
        blocks[sel] = np.maximum(blocks[sel], np.abs(up).reshape(sel.size, _BLOCK, 4).max(axis=2))
    return env[:n]


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak (dBTP) estimated from 4x oversampling, as BS.1770 Annex 2 describes."""
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0 or not np.any(x):
        return -math.inf
    peak = float(np.max(_peak_envelope(x, float(np.max(np.abs(x))))))
    return 20.0 * math.log10(peak)


def limit_true_peak(audio: np.ndarray, rate: int, ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP) -> np.ndarray:
    """Look-ahead limiter: smooth gain reduction so the oversampled peak stays under the ceiling."""
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    env = _peak_envelope(x, min(ceiling, float(np.max(np.abs(x)))))
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

    Gain is linear, so the true peak after a gain is known without re-measuring; only when the
    gained peak would cross the ceiling does the limiter run (each round a little deeper, since
    limiting lowers loudness and the make-up gain raises the peaks again).
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0 or not np.any(x):
        return x.astype(np.float32), -math.inf, -math.inf
    loud = integrated_loudness(x, rate)
    if not math.isfinite(loud):
        return x.astype(np.float32), loud, true_peak_dbtp(x)
    tp = true_peak_dbtp(x)
    for i in range(iterations):
        gain_db = target_lufs - loud
        if tp + gain_db <= ceiling_dbtp:
            break
        # limit in the pre-gain domain to where the ceiling will be after the make-up gain
        x = limit_true_peak(x, rate, ceiling_dbtp - 0.5 - 0.3 * i - gain_db).astype(np.float64)
        loud, tp = integrated_loudness(x, rate), true_peak_dbtp(x)
    gain_db = target_lufs - loud
    if tp + gain_db > ceiling_dbtp:  # last resort: less gain, so the ceiling always holds
        gain_db = ceiling_dbtp - 0.05 - tp
    out = (x * 10.0 ** (gain_db / 20.0)).astype(np.float32)
    return out, integrated_loudness(out, rate), tp + gain_db


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
