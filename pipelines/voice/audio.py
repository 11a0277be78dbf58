"""Voice audio post-processing: resampling (soxr, scipy fallback), silence trimming.

Loudness normalisation, true peak and the limiter are shared with video: ``pipelines/_common/loudness.py``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

OUTPUT_SAMPLE_RATE = 48_000


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


def speech_bounds(audio: np.ndarray, rate: int, threshold_db: float = -45.0) -> tuple[int, int]:
    """First and last sample (exclusive end) of frames louder than ``threshold_db`` below peak."""
    x = np.asarray(audio, dtype=np.float32)
    if x.size == 0 or not np.any(x):
        return 0, 0
    frame = max(1, int(0.01 * rate))
    full = x.size // frame
    sq = np.square(x)
    power = sq[: full * frame].reshape(full, frame).mean(axis=1, dtype=np.float64)
    if full * frame < x.size:  # the last, partial frame counts as if padded with silence
        power = np.append(power, float(np.sum(sq[full * frame :], dtype=np.float64)) / frame)
    rms = np.sqrt(power)
    thr = float(np.max(rms)) * 10.0 ** (threshold_db / 20.0)
    active = np.nonzero(rms > thr)[0]
    if active.size == 0:
        return 0, 0
    return int(active[0] * frame), int(min(x.size, (active[-1] + 1) * frame))


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(max(0, int(round(seconds * rate))), dtype=np.float32)
