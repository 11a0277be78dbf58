"""Loudness for the voice and video pipelines: one meter, one true-peak measure, one limiter.

- ``integrated_loudness``: ITU-R BS.1770 integrated loudness in LUFS (pyloudnorm, cached Meter).
- ``true_peak_dbtp``: true peak by 4x oversampling (BS.1770-4 Annex 2), mono or multichannel.
- ``limit_true_peak``: look-ahead limiter on that oversampled envelope (channels linked).
- ``normalize_loudness``: gain to a target LUFS with the true peak held under a ceiling (EBU
  R128 / social -16 LUFS, -1 dBTP); ``measure`` gives the before/after figures both pipelines report.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

MIN_LOUDNESS_SECONDS = 0.4  # one BS.1770 gating block
TRUE_PEAK_CEILING_DBTP = -1.0


@functools.lru_cache(maxsize=8)
def meter(rate: int) -> Any:
    """One pyloudnorm Meter (K-weighting filters) per sample rate, reused across calls."""
    import pyloudnorm

    return pyloudnorm.Meter(rate)


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS of mono ``(n,)`` or multichannel ``(n, ch)`` audio (``-inf`` for silence).

    Audio shorter than one gating block is padded with silence (pyloudnorm needs a full block).
    """
    x = np.asarray(audio, dtype=np.float64)
    min_len = int(math.ceil(MIN_LOUDNESS_SECONDS * rate)) + 1
    if x.shape[0] < min_len:
        x = np.pad(x, [(0, min_len - x.shape[0])] + [(0, 0)] * (x.ndim - 1))
    return float(meter(rate).integrated_loudness(x))


_BLOCK = 1024
_PAD = 32  # > half the 4x interpolation filter's length per phase
_OVERSHOOT_DB = 6.0  # inter-sample peaks of band-limited audio stay well within this of the samples
_UP = 4
_HALF_LEN = 10 * _UP  # resample_poly's default filter for up=4: 81-tap Kaiser(5.0) low-pass at 1/4
_FAST_MARGIN_DB = 1e-3  # float32 oversampling error is ~1e-6 dB; this keeps the exact peak <= ceiling


@functools.lru_cache(maxsize=1)
def _up_filter32() -> np.ndarray:
    """The FIR resample_poly(x, 4, 1) uses, as float32 for the fast path."""
    from scipy.signal import firwin

    h = firwin(2 * _HALF_LEN + 1, 1.0 / _UP, window=("kaiser", 5.0)) * _UP
    return np.asarray(h, dtype=np.float32)


def _oversampled_block_peaks(segs: np.ndarray, fast: bool) -> np.ndarray:
    """|4x-oversampled| max per original sample for each padded block row of ``segs``."""
    if not fast:
        up = resample_poly(segs, _UP, 1, axis=1)[:, _UP * _PAD : _UP * (_PAD + _BLOCK)]
        return np.asarray(np.abs(up).reshape(segs.shape[0], _BLOCK, _UP).max(axis=2))
    from scipy.signal import upfirdn

    lo = _HALF_LEN + _UP * _PAD
    up = np.abs(upfirdn(_up_filter32(), segs.astype(np.float32), _UP, axis=1)[:, lo : lo + _UP * _BLOCK])
    # strided phases: much faster than a max over a length-4 trailing axis
    return np.maximum(np.maximum(up[:, 0::4], up[:, 1::4]), np.maximum(up[:, 2::4], up[:, 3::4]))


def _peak_envelope(x: np.ndarray, threshold: float, *, fast: bool = False) -> np.ndarray:
    """Per-sample peak of the 4x-oversampled signal (max of the 4 sub-samples at each sample).

    Only blocks whose sample peak is within ``_OVERSHOOT_DB`` of ``threshold`` can reach it, so
    only those are oversampled (in one vectorised call); elsewhere |x| is exact enough. ``fast``
    oversamples in float32 with the same filter (differs from the float64 path by ~1e-6 dB).
    """
    n = x.size
    nb = -(-n // _BLOCK)
    env = np.zeros(nb * _BLOCK)
    np.abs(x, out=env[:n])
    blocks = env.reshape(nb, _BLOCK)
    sel = np.nonzero(blocks.max(axis=1) >= threshold * 10.0 ** (-_OVERSHOOT_DB / 20.0))[0]
    if sel.size:
        padded = np.zeros(nb * _BLOCK + 2 * _PAD, dtype=np.float32 if fast else np.float64)
        padded[_PAD : _PAD + n] = x
        idx = sel[:, None] * _BLOCK + np.arange(_BLOCK + 2 * _PAD)[None, :]
        blocks[sel] = np.maximum(blocks[sel], _oversampled_block_peaks(padded[idx], fast))
    return env[:n]


def _channels_peak_envelope(x: np.ndarray, threshold: float, *, fast: bool = False) -> np.ndarray:
    """:func:`_peak_envelope` of mono ``(n,)`` audio, or its max over the channels of ``(n, ch)``."""
    if x.ndim == 1:
        return _peak_envelope(x, threshold, fast=fast)
    env = _peak_envelope(np.ascontiguousarray(x[:, 0]), threshold, fast=fast)
    for c in range(1, x.shape[1]):
        np.maximum(env, _peak_envelope(np.ascontiguousarray(x[:, c]), threshold, fast=fast), out=env)
    return env


def true_peak_dbtp(audio: np.ndarray, *, fast: bool = False) -> float:
    """True peak (dBTP) of mono ``(n,)`` or multichannel ``(n, ch)`` audio (full scale = 1.0).

    Estimated from 4x oversampling as ITU-R BS.1770-4 Annex 2 describes (the interpolation
    filter is scipy's ``resample_poly`` 81-tap Kaiser low-pass); ``-inf`` for silence.
    ``fast=True`` oversamples in float32 (used inside normalisation, with a safety margin); the
    default float64 path is the reference measure.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0 or not np.any(x):
        return -math.inf
    peak = float(np.max(_channels_peak_envelope(x, float(np.max(np.abs(x))), fast=fast)))
    return 20.0 * math.log10(peak)


class _Limiter:
    """Look-ahead limiter for one signal: the oversampled, max-filtered envelope is computed once
    and reused for every ceiling (normalisation may need a few, each a little deeper)."""

    def __init__(self, audio: np.ndarray, rate: int) -> None:
        self.x = np.asarray(audio, dtype=np.float64)
        self.window = max(3, int(0.005 * rate))  # 5 ms attack/release
        self._env: np.ndarray | None = None
        self._env_floor = math.inf  # envelope is exact for every ceiling >= this

    def _envelope(self, ceiling: float) -> np.ndarray:
        if self._env is None or ceiling < self._env_floor:
            floor = ceiling * 10.0 ** (-3.0 / 20.0)  # a little headroom for deeper rounds
            env = _channels_peak_envelope(self.x, min(floor, float(np.max(np.abs(self.x)))), fast=True)
            self._env = maximum_filter1d(env, size=self.window)
            self._env_floor = floor
        return self._env

    def __call__(self, ceiling_dbtp: float) -> np.ndarray:
        if self.x.size == 0:
            return self.x.astype(np.float32)
        ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        env = self._envelope(ceiling)
        gain = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
        # min-filter then average: at every peak the averaged gain is <= the gain that peak needs
        gain = minimum_filter1d(gain, size=2 * self.window + 1)
        gain = uniform_filter1d(gain, size=self.window)
        # one gain for every channel (linked), so the stereo image does not move
        return (self.x * (gain[:, None] if self.x.ndim == 2 else gain)).astype(np.float32)


def limit_true_peak(audio: np.ndarray, rate: int, ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP) -> np.ndarray:
    """Look-ahead limiter: smooth gain reduction so the oversampled peak stays under the ceiling.

    ``audio``: float mono ``(n,)`` or ``(n, ch)`` (channels share one gain); ``rate`` in Hz;
    ``ceiling_dbtp`` in dBTP. Returns float32 of the same shape; gain only ever goes down
    (5 ms look-ahead attack and release).
    """
    return _Limiter(audio, rate)(ceiling_dbtp)


def normalize_loudness(
    audio: np.ndarray,
    rate: int,
    target_lufs: float = -16.0,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
    iterations: int = 8,
) -> tuple[np.ndarray, float, float]:
    """Gain to ``target_lufs`` and limit true peak to ``ceiling_dbtp``; returns (audio, LUFS, dBTP).

    ``audio``: float mono ``(n,)`` or ``(n, ch)``, full scale 1.0; ``rate`` in Hz. The returned
    audio is float32 of the same shape; LUFS is ITU-R BS.1770 integrated loudness (pyloudnorm),
    dBTP the 4x-oversampled true peak (``-inf`` both for silence; silence is returned as is).

    Gain is linear, so both the true peak and the loudness after a pure gain are known without
    re-measuring (BS.1770's relative gate moves with the gain; only blocks near the -70 LUFS
    absolute gate, which carry no weight, could change). Loudness and peak are re-measured only
    after the limiter changed samples. Each round limits the *original* signal a little deeper
    (limiting lowers loudness and the make-up gain raises the peaks again), reusing its envelope.
    """
    x0 = np.asarray(audio, dtype=np.float64)
    if x0.size == 0 or not np.any(x0):
        return x0.astype(np.float32), -math.inf, -math.inf
    loud = integrated_loudness(x0, rate)
    if not math.isfinite(loud):
        return x0.astype(np.float32), loud, true_peak_dbtp(x0)
    tp = true_peak_dbtp(x0, fast=True)
    ceiling = ceiling_dbtp - _FAST_MARGIN_DB
    x = x0
    limiter = _Limiter(x0, rate)
    depth = 0.0  # limiter ceiling relative to the pre-gain domain, deepened every round
    for i in range(iterations):
        gain_db = target_lufs - loud
        if tp + gain_db <= ceiling:
            break
        # limit in the pre-gain domain to where the ceiling will be after the make-up gain
        level = ceiling_dbtp - 0.5 - 0.3 * i - gain_db
        depth = level if i == 0 else min(level, depth - 0.3)
        x = limiter(depth).astype(np.float64)
        loud, tp = integrated_loudness(x, rate), true_peak_dbtp(x, fast=True)
    gain_db = target_lufs - loud
    if tp + gain_db > ceiling:  # last resort: less gain, so the ceiling always holds
        gain_db = ceiling_dbtp - 0.05 - tp
    out = (x * 10.0 ** (gain_db / 20.0)).astype(np.float32)
    return out, loud + gain_db, tp + gain_db


def measure(audio: np.ndarray, rate: int) -> dict[str, float | None]:
    """Loudness figures of mono ``(n,)`` or ``(n, ch)`` audio, rounded to 0.01: ``integrated_lufs``
    (None for silence or audio shorter than one 0.4 s gating block) and ``true_peak_dbtp`` (None for silence)."""
    x = np.asarray(audio)
    lufs: float | None = None
    if x.shape[0] >= int(MIN_LOUDNESS_SECONDS * rate):
        val = integrated_loudness(x, rate)
        lufs = round(val, 2) if np.isfinite(val) else None
    tp = true_peak_dbtp(x)
    return {"integrated_lufs": lufs, "true_peak_dbtp": round(tp, 2) if np.isfinite(tp) else None}
