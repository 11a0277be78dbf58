"""Loudness for the voice and video pipelines: one meter, one true-peak measure, one limiter.

- ``integrated_loudness``: ITU-R BS.1770 integrated loudness in LUFS (pyloudnorm, cached Meter).
- ``true_peak_dbtp``: true peak by 4x oversampling (BS.1770-4 Annex 2), mono or multichannel.
- ``normalize_loudness``: gain to a target LUFS with the true peak held under a ceiling (EBU
  R128 / social -16 LUFS, -1 dBTP); ``measure`` gives the before/after figures both pipelines report.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d
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
_TAPS = _HALF_LEN // _UP  # each polyphase branch is centred _TAPS input samples late
_FAST_MARGIN_DB = 1e-3  # float32 oversampling error is ~1e-6 dB; this keeps the exact peak <= ceiling


@functools.lru_cache(maxsize=1)
def _up_branches() -> tuple[float, int, np.ndarray]:
    """The FIR resample_poly(x, 4, 1) uses, split into its 4 polyphase branches (branch p gives the
    sub-sample p/4 after each input sample): branch 0's centre tap (the rest of it is ~1e-17),
    the FFT length for one padded block, and branches 1-3's spectra at that length (complex64)."""
    from scipy.fft import next_fast_len, rfft
    from scipy.signal import firwin

    h = firwin(2 * _HALF_LEN + 1, 1.0 / _UP, window=("kaiser", 5.0)) * _UP
    nfft = next_fast_len(_BLOCK + 2 * _PAD + 2 * _TAPS, real=True)
    branches = np.stack([h[p::_UP] for p in range(1, _UP)]).astype(np.float32)
    return float(h[_HALF_LEN]), nfft, rfft(branches, n=nfft, axis=1)


def _oversampled_block_peaks(segs: np.ndarray, fast: bool) -> np.ndarray:
    """|4x-oversampled| max per original sample for each padded block row of ``segs``.

    ``fast``: float32, the 3 fractional polyphase branches as FFT convolutions sharing one forward
    transform per block (the integer branch is the input times the centre tap); otherwise
    float64 resample_poly. Both use the same filter and agree to ~1e-6 dB.
    """
    if not fast:
        up = resample_poly(segs, _UP, 1, axis=1)[:, _UP * _PAD : _UP * (_PAD + _BLOCK)]
        return np.asarray(np.abs(up).reshape(segs.shape[0], _BLOCK, _UP).max(axis=2))
    from scipy.fft import irfft, rfft

    centre, nfft, spectra = _up_branches()
    segs = segs.astype(np.float32, copy=False)
    out = np.abs(segs[:, _PAD : _PAD + _BLOCK]) * np.float32(abs(centre))
    seg_spec = rfft(segs, n=nfft, axis=1)
    for branch in spectra:
        conv = irfft(seg_spec * branch, n=nfft, axis=1)[:, _PAD + _TAPS : _PAD + _TAPS + _BLOCK]
        np.maximum(out, np.abs(conv), out=out)
    return out


def _block_peaks(x: np.ndarray, blocks: np.ndarray, fast: bool) -> np.ndarray:
    """4x-oversampled peak per sample of the listed ``_BLOCK``-sample blocks of mono ``(n,)`` or
    ``(n, ch)`` audio (max over channels), shape ``(len(blocks), _BLOCK)``."""
    n = x.shape[0]
    idx = blocks[:, None] * _BLOCK + np.arange(_BLOCK + 2 * _PAD)[None, :]
    out: np.ndarray | None = None
    for ch in [x] if x.ndim == 1 else list(x.T):
        padded = np.zeros(-(-n // _BLOCK) * _BLOCK + 2 * _PAD, dtype=np.float32 if fast else np.float64)
        padded[_PAD : _PAD + n] = ch
        peaks = _oversampled_block_peaks(padded[idx], fast)
        out = peaks if out is None else np.maximum(out, peaks, out=out)
    assert out is not None
    return out


def _sample_peaks(x: np.ndarray) -> np.ndarray:
    """|x| per sample (max over channels), zero-padded to whole ``_BLOCK``s."""
    env = np.zeros(-(-x.shape[0] // _BLOCK) * _BLOCK)
    env[: x.shape[0]] = np.abs(x) if x.ndim == 1 else np.max(np.abs(x), axis=1)
    return env


def _peak_envelope(x: np.ndarray, threshold: float, *, fast: bool = False) -> np.ndarray:
    """Per-sample peak of the 4x-oversampled mono ``(n,)`` or ``(n, ch)`` signal (max of the 4
    sub-samples at each sample, and over channels), padded to whole ``_BLOCK``s.

    Only blocks whose sample peak is within ``_OVERSHOOT_DB`` of ``threshold`` can reach it, so
    only those are oversampled (in one vectorised call); elsewhere |x| is exact enough. ``fast``
    oversamples in float32 with the same filter (differs from the float64 path by ~1e-6 dB).
    """
    env = _sample_peaks(x)
    blocks = env.reshape(-1, _BLOCK)
    sel = np.nonzero(blocks.max(axis=1) >= threshold * 10.0 ** (-_OVERSHOOT_DB / 20.0))[0]
    if sel.size:
        blocks[sel] = np.maximum(blocks[sel], _block_peaks(x, sel, fast))
    return env


def _db(v: float) -> float:
    return 20.0 * math.log10(v) if v > 0 else -math.inf


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
    return _db(float(np.max(_peak_envelope(x, float(np.max(np.abs(x))), fast=fast))))


_CELL = 16  # samples per cell of the limiter's coarse loudness-drop model


class _Limiter:
    """Look-ahead limiter for one signal (channels linked, 5 ms attack and release).

    Gain per sample = the 5 ms mean of ``min(1, ceiling / e)``, ``e`` the max of the 4x-oversampled
    peak envelope over the 3 windows (look-ahead, attack, release) that gain value reaches: at
    every peak the averaged gain is <= the gain that peak needs. The envelope is computed once
    (again only for a ceiling deeper than it covers) and reused; after limiting, the true peak
    is re-measured only in blocks within the interpolation filter's reach of a changed sample
    (elsewhere the output *is* the input). ``estimated_drop`` predicts a ceiling's loudness cost.
    """

    def __init__(self, audio: np.ndarray, rate: int) -> None:
        self.x = np.asarray(audio, dtype=np.float64)
        self.window = max(3, int(0.005 * rate))  # 5 ms attack/release
        self._env = np.zeros(0)  # oversampled per-sample peak, exact where >= _floor - _OVERSHOOT_DB
        self._reach = np.zeros(0)  # max of _env over the samples each gain value affects
        self._block_env = self._block_reach = np.zeros(0)  # their maxima per _BLOCK
        self._floor = math.inf
        peaks = _sample_peaks(self.x).reshape(-1, _CELL).max(axis=1)
        self._cell_reach = maximum_filter1d(peaks, size=-(-3 * self.window // _CELL) + 1)
        energy = np.zeros(peaks.size * _CELL)
        energy[: self.x.shape[0]] = self.x**2 if self.x.ndim == 1 else np.sum(self.x**2, axis=1)
        self._cell_energy = energy.reshape(-1, _CELL).sum(axis=1)

    def estimated_drop(self, ceiling_dbtp: float) -> float:
        """Loudness drop (dB) limiting to ``ceiling_dbtp`` is expected to cost: the energy lost in
        16-sample cells, sample peaks standing in for true peaks, no K-weighting (a model to aim
        with, typically within 10% of the measured drop; the result is always measured)."""
        gain = np.minimum(1.0, 10.0 ** (ceiling_dbtp / 20.0) / np.maximum(self._cell_reach, 1e-12))
        gain = uniform_filter1d(gain, size=max(1, self.window // _CELL))
        return -10.0 * math.log10(float(np.dot(gain**2, self._cell_energy) / np.sum(self._cell_energy)))

    def _envelope(self, ceiling: float) -> None:
        """Make the oversampled envelope (and its reach) exact for every level down to ``ceiling``."""
        if ceiling < self._floor:
            self._floor = min(ceiling * 10.0 ** (-1.0 / 20.0), float(np.max(np.abs(self.x))))  # 1 dB spare
            self._env = _peak_envelope(self.x, self._floor, fast=True)
            env = self._env.reshape(-1, _BLOCK)
            self._block_env = env.max(axis=1)
            # the reach (1.5 windows < a block each side) can exceed the floor only in blocks next to
            # one whose envelope does; elsewhere 0 stands for "under every ceiling tried"
            rows = np.nonzero(_with_neighbours(self._block_env > self._floor))[0]
            self._reach = np.zeros_like(self._env)
            if rows.size:
                reach = maximum_filter1d(env[rows].ravel(), size=3 * self.window)
                self._reach.reshape(-1, _BLOCK)[rows] = reach.reshape(-1, _BLOCK)
            self._block_reach = self._reach.reshape(-1, _BLOCK).max(axis=1)

    def __call__(self, ceiling_dbtp: float) -> tuple[np.ndarray, float]:
        """Limit to ``ceiling_dbtp``; returns (float64 audio, its true peak in dBTP, fast path).

        Only blocks where the gain can be < 1 (reach over the ceiling, and their neighbours: the
        5 ms mean spreads a dip half a window) are computed; each run of them starts and ends
        with a block of unit gain, so running the mean over the runs laid end to end is exact.
        """
        ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self._envelope(ceiling)
        n = self.x.shape[0]
        y = np.zeros((self._env.size, *self.x.shape[1:]))
        y[:n] = self.x
        rows = np.nonzero(_with_neighbours(self._block_reach > ceiling))[0]
        reach = np.maximum(self._reach.reshape(-1, _BLOCK)[rows].ravel(), 1e-12)
        gain = uniform_filter1d(np.minimum(1.0, ceiling / reach), size=self.window).reshape(-1, _BLOCK)
        gain[gain > 1.0 - 1e-12] = 1.0  # the running mean's rounding residue is no change
        blocks = y.reshape(-1, _BLOCK, *self.x.shape[1:])
        blocks[rows] *= gain[..., None] if self.x.ndim == 2 else gain
        changed, last = gain < 1.0, self._block_env.size - 1
        dirty = np.zeros(self._block_env.size, dtype=bool)
        dirty[rows[changed.any(axis=1)]] = True
        # oversampled peaks at a sample see the _TAPS samples each side: a change at a block's
        # edge reaches into its neighbour
        dirty[np.maximum(rows[changed[:, :_TAPS].any(axis=1)] - 1, 0)] = True
        dirty[np.minimum(rows[changed[:, -_TAPS:].any(axis=1)] + 1, last)] = True
        clean_peak = float(np.max(self._block_env[~dirty], initial=0.0))
        sel = np.nonzero(dirty)[0]
        sample_peak = np.abs(blocks[sel]).reshape(sel.size, -1).max(axis=1, initial=0.0)
        # as in true_peak_dbtp: a block more than _OVERSHOOT_DB under a known peak can't hold the max
        known = max(clean_peak, float(np.max(sample_peak, initial=0.0)))
        sel = sel[sample_peak >= known * 10.0 ** (-_OVERSHOOT_DB / 20.0)]
        new_peak = float(np.max(_block_peaks(y[:n], sel, fast=True), initial=0.0))
        return y[:n], _db(max(clean_peak, new_peak))


def _with_neighbours(blocks: np.ndarray) -> np.ndarray:
    """A block mask widened by one block on each side."""
    out = blocks.copy()
    out[1:] |= blocks[:-1]
    out[:-1] |= blocks[1:]
    return out


_MAX_LIMIT_DB = 24.0  # deepest limiting normalisation considers, below the aimed-at peak
_ACCEPT_DB = 0.5  # a peak after make-up gain this far under the ceiling is close enough


def normalize_loudness(
    audio: np.ndarray,
    rate: int,
    target_lufs: float = -16.0,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
    iterations: int = 4,
) -> tuple[np.ndarray, float, float]:
    """Gain to ``target_lufs`` and limit true peak to ``ceiling_dbtp``; returns (audio, LUFS, dBTP).

    ``audio``: float mono ``(n,)`` or ``(n, ch)``, full scale 1.0; ``rate`` in Hz. The returned
    audio is float32 of the same shape; LUFS is ITU-R BS.1770 integrated loudness (pyloudnorm),
    dBTP the 4x-oversampled true peak (``-inf`` both for silence; silence is returned as is).

    Gain is linear, so both the true peak and the loudness after a pure gain are known without
    re-measuring (BS.1770's relative gate moves with the gain; only blocks near the -70 LUFS
    absolute gate, which carry no weight, could change). The signal is first gained to the
    target; if its true peak is then over the ceiling it is limited at a depth ``d`` (dBTP):
    limiting lowers the loudness, so the make-up gain, and with it the final peak
    ``p(d) = tp(d) + target - L(d)``, rises. ``d`` solves ``p(d) = ceiling - 0.2 dB`` on the
    limiter's coarse drop model (Brent's method) plus the model's error at the last depth tried;
    each try is measured (loudness, and the true peak of the blocks it touched) and the first
    with ``p`` within 0.5 dB under the ceiling is kept, usually the first. If none is (limiting
    that costs as much loudness as it removes peak, e.g. a steady tone), the make-up gain is
    lowered so the ceiling still holds and the loudness falls short.
    """
    from scipy.optimize import brentq

    x0 = np.asarray(audio, dtype=np.float64)
    if x0.size == 0 or not np.any(x0):
        return x0.astype(np.float32), -math.inf, -math.inf
    loud0 = integrated_loudness(x0, rate)
    if not math.isfinite(loud0):
        return x0.astype(np.float32), loud0, true_peak_dbtp(x0)
    x, loud = x0 * 10.0 ** ((target_lufs - loud0) / 20.0), target_lufs
    ceiling = ceiling_dbtp - _FAST_MARGIN_DB
    tp = _db(float(np.max(np.abs(x))))  # the sample peak: the true peak is at least this
    if tp <= ceiling:
        tp = true_peak_dbtp(x, fast=True)
    if tp > ceiling:
        limiter = _Limiter(x, rate)
        aim = ceiling - 0.2

        def miss(depth: float, error: float) -> float:  # modelled final peak - aim
            return depth + limiter.estimated_drop(depth) + error - aim

        error, lo, depth = 0.0, aim - _MAX_LIMIT_DB, math.nan
        for _ in range(iterations):
            if miss(lo, error) >= 0:  # even the deepest limiting misses: take it, the gain will give way
                if depth == lo:
                    break
                depth = lo
            elif miss(aim, error) <= 0:
                depth = aim
            else:
                depth = brentq(miss, lo, aim, (error,), xtol=0.01)
            y, tp_y = limiter(depth)
            loud_y = integrated_loudness(y, rate)
            if not math.isfinite(loud_y):
                break
            x, tp, loud = y, tp_y, loud_y
            if ceiling - _ACCEPT_DB <= tp + target_lufs - loud <= ceiling:
                break
            error = (target_lufs - loud) - limiter.estimated_drop(depth) + (tp - depth)
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
