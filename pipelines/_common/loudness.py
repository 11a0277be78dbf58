"""Loudness for the voice and video pipelines: one meter, one true-peak measure, one limiter.

- ``integrated_loudness``: ITU-R BS.1770 integrated loudness in LUFS (pyloudnorm).
- ``true_peak_dbtp``: true peak by 4x oversampling (BS.1770-4 Annex 2), mono or multichannel.
- ``normalize_loudness``: gain to a target LUFS with the true peak held under a ceiling (EBU
  R128 / social -16 LUFS, -1 dBTP); ``measure`` gives the before/after figures both pipelines report.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

MIN_LOUDNESS_SECONDS = 0.4  # one BS.1770 gating block
TRUE_PEAK_CEILING_DBTP = -1.0
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770: gating blocks under this never count


def _loudness_blocks(audio: np.ndarray, rate: int) -> tuple[float, np.ndarray]:
    """Integrated loudness (LUFS) and the loudness of every 400 ms gating block (LUFS, 75 %
    overlap) of mono ``(n,)`` or ``(n, ch)`` audio, by pyloudnorm (a fresh Meter per call: it
    keeps the blocks of its last measurement). Audio shorter than one gating block is padded
    with silence (pyloudnorm needs a full block)."""
    import pyloudnorm

    x = np.asarray(audio, dtype=np.float64)
    min_len = int(math.ceil(MIN_LOUDNESS_SECONDS * rate)) + 1
    if x.shape[0] < min_len:
        x = np.pad(x, [(0, min_len - x.shape[0])] + [(0, 0)] * (x.ndim - 1))
    meter = pyloudnorm.Meter(rate)
    loud = float(meter.integrated_loudness(x))
    return loud, np.asarray(meter.blockwise_loudness, dtype=np.float64)


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770, pyloudnorm) of mono ``(n,)`` or multichannel
    ``(n, ch)`` audio, at most 5 channels; ``-inf`` for silence. Short audio is padded to one block."""
    return _loudness_blocks(audio, rate)[0]


_BLOCK = 1024
_PAD = 32  # > half the 4x interpolation filter's length per phase
_UP = 4
_HALF_LEN = 10 * _UP  # resample_poly's default filter for up=4: 81-tap Kaiser(5.0) low-pass at 1/4
_TAPS = _HALF_LEN // _UP  # each polyphase branch is centred _TAPS input samples late
_FAST_MARGIN_DB = 1e-3  # float32 oversampling error is ~1e-6 dB; this keeps the exact peak <= ceiling


@functools.lru_cache(maxsize=1)
def _up_filter() -> np.ndarray:
    """The FIR resample_poly(x, 4, 1) uses (float64): 81-tap Kaiser(5.0) low-pass at 1/4, gain 4."""
    from scipy.signal import firwin

    return np.asarray(firwin(2 * _HALF_LEN + 1, 1.0 / _UP, window=("kaiser", 5.0)) * _UP)


@functools.lru_cache(maxsize=1)
def _overshoot() -> float:
    """The most an oversampled value can exceed the largest |sample| within ``_TAPS`` of it: the
    largest L1 norm of a polyphase branch (2.24, +7.0 dB, the half-sample branch). A bound, not
    an estimate: blocks whose reachable samples are this far under a level cannot reach it."""
    h = _up_filter()
    return float(max(np.sum(np.abs(h[p::_UP])) for p in range(_UP)))


@functools.lru_cache(maxsize=1)
def _up_branches() -> tuple[float, int, np.ndarray]:
    """The interpolation FIR split into its 4 polyphase branches (branch p gives the sub-sample
    p/4 after each input sample): branch 0's centre tap (the rest of it is ~1e-17), the FFT
    length for one padded block, and branches 1-3's spectra at that length (complex64)."""
    from scipy.fft import next_fast_len, rfft

    h = _up_filter()
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
    for ch in [x] if x.ndim == 1 else list(x.T):
        np.maximum(env[: x.shape[0]], np.abs(ch), out=env[: x.shape[0]])
    return env


def _reachable_peaks(peaks: np.ndarray) -> np.ndarray:
    """Per block, the largest |sample| its oversampled values see: its own and the ``_TAPS``
    nearest of each neighbour. ``peaks``: per-sample |x| over whole blocks (:func:`_sample_peaks`)."""
    blocks = peaks.reshape(-1, _BLOCK)
    out = blocks.max(axis=1)
    out[1:] = np.maximum(out[1:], blocks[:-1, -_TAPS:].max(axis=1))
    out[:-1] = np.maximum(out[:-1], blocks[1:, :_TAPS].max(axis=1))
    return out


def _peak_envelope(
    x: np.ndarray, threshold: float | None = None, *, fast: bool = False, peaks: np.ndarray | None = None
) -> np.ndarray:
    """Per-sample peak of the 4x-oversampled mono ``(n,)`` or ``(n, ch)`` signal (max of the 4
    sub-samples at each sample, and over channels), padded to whole ``_BLOCK``s.

    Exact wherever it is >= ``threshold``: only blocks whose reachable samples come within the
    filter's overshoot bound (:func:`_overshoot`) of ``threshold`` can reach it, so only those
    are oversampled (in one vectorised call); elsewhere it is |x|. ``fast`` oversamples in
    float32 with the same filter (differs from the float64 path by ~1e-6 dB). ``threshold``
    defaults to the sample peak (the envelope is then exact at its maximum, the true peak);
    ``peaks``: :func:`_sample_peaks` of ``x`` if already at hand.
    """
    env = _sample_peaks(x) if peaks is None else peaks.copy()
    if threshold is None:
        threshold = float(np.max(env))
    sel = np.nonzero(_reachable_peaks(env) * _overshoot() >= threshold)[0]
    if sel.size:
        blocks = env.reshape(-1, _BLOCK)
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
    return _db(float(np.max(_peak_envelope(x, fast=fast))))


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
        self._env = np.zeros(0)  # oversampled per-sample peak, exact where >= _floor
        self._reach = np.zeros(0)  # max of _env over the samples each gain value affects
        self._block_env = self._block_reach = np.zeros(0)  # their maxima per _BLOCK
        # how many blocks the reach (1.5 windows each side) and the gain's 5 ms mean (half a window
        # each side) spread past the block they start in
        self._reach_blocks = -(-3 * self.window // (2 * _BLOCK))
        self._mean_blocks = -(-self.window // (2 * _BLOCK))
        self._floor = math.inf
        self._peaks = _sample_peaks(self.x)
        cell_peaks = self._peaks.reshape(-1, _CELL).max(axis=1)
        self._cell_reach = maximum_filter1d(cell_peaks, size=-(-3 * self.window // _CELL) + 1)
        energy = np.zeros(self._peaks.size)
        for ch in [self.x] if self.x.ndim == 1 else list(self.x.T):
            energy[: self.x.shape[0]] += np.square(ch)
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
            self._floor = min(ceiling * 10.0 ** (-1.0 / 20.0), float(np.max(self._peaks)))  # 1 dB spare
            self._env = _peak_envelope(self.x, self._floor, fast=True, peaks=self._peaks)
            env = self._env.reshape(-1, _BLOCK)
            self._block_env = env.max(axis=1)
            # the reach can exceed the floor only near a block whose envelope does; elsewhere 0 stands
            # for "under every ceiling tried"
            rows = np.nonzero(_with_neighbours(self._block_env > self._floor, self._reach_blocks))[0]
            self._reach = np.zeros_like(self._env)
            if rows.size:
                reach = maximum_filter1d(env[rows].ravel(), size=3 * self.window)
                self._reach.reshape(-1, _BLOCK)[rows] = reach.reshape(-1, _BLOCK)
            self._block_reach = self._reach.reshape(-1, _BLOCK).max(axis=1)

    def __call__(self, ceiling_dbtp: float) -> tuple[np.ndarray, float]:
        """Limit to ``ceiling_dbtp``; returns the float64 audio and its true peak (dBTP, fast path).

        Only blocks where the gain can be < 1 (reach over the ceiling, and their neighbours: the
        5 ms mean spreads a dip half a window) are computed; each run of them starts and ends
        with a block of unit gain, so running the mean over the runs laid end to end is exact.
        """
        ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self._envelope(ceiling)
        n = self.x.shape[0]
        y = np.zeros((self._env.size, *self.x.shape[1:]))
        y[:n] = self.x
        rows = np.nonzero(_with_neighbours(self._block_reach > ceiling, self._mean_blocks))[0]
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
        reachable = _reachable_peaks(_sample_peaks(y))[sel]
        # as in _peak_envelope: a block whose reachable samples are more than the overshoot bound
        # under a peak already known cannot hold the maximum
        known = max(clean_peak, float(np.max(reachable, initial=0.0)))
        sel = sel[reachable * _overshoot() >= known]
        new_peak = float(np.max(_block_peaks(y[:n], sel, fast=True), initial=0.0))
        return y[:n], _db(max(clean_peak, new_peak))


def _with_neighbours(blocks: np.ndarray, k: int = 1) -> np.ndarray:
    """A block mask widened by ``k`` blocks on each side."""
    out = blocks.copy()
    for i in range(1, min(k, blocks.size) + 1):
        out[i:] |= blocks[:-i]
        out[:-i] |= blocks[i:]
    return out


_MAX_LIMIT_DB = 60.0  # deepest limiting normalisation considers, below the aimed-at peak
_ACCEPT_DB = 0.5  # a final peak this far under the ceiling is close enough
_LAST_RESORT_DB = 0.01  # the final peak when the gain has to give way, under the ceiling


def normalize_loudness(
    audio: np.ndarray,
    rate: int,
    target_lufs: float = -16.0,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
    iterations: int = 6,
) -> tuple[np.ndarray, float, float]:
    """Gain to ``target_lufs`` and limit true peak to ``ceiling_dbtp``; returns (audio, LUFS, dBTP).

    ``audio``: float mono ``(n,)`` or ``(n, ch)`` (at most 5 channels, as BS.1770 weights them),
    full scale 1.0; ``rate`` in Hz. The returned audio is float32 of the same shape; LUFS is
    ITU-R BS.1770 integrated loudness (pyloudnorm), dBTP the 4x-oversampled true peak, both of
    the returned audio. Silence is returned as is (``-inf`` both); audio BS.1770 cannot measure
    even when brought up (e.g. only infrasound) is only lowered under the ceiling if need be
    (LUFS ``-inf``). Raises ValueError (pyloudnorm) for more than 5 channels.

    A gain shifts loudness by exactly itself unless it moves a gating block across the -70 LUFS
    absolute gate; then the gained audio is measured again (:func:`_gain_to`). Gained to the
    target, if the true peak is over the ceiling the audio is limited at a depth ``d`` (dBTP):
    limiting lowers the loudness, so the make-up gain, and with it the final peak ``p(d)``,
    rises. ``d`` solves ``p(d) = ceiling - 0.2 dB`` on the limiter's coarse drop model (Brent's
    method) plus the model's error at the last depth tried; each try is measured (loudness, and
    the true peak of the blocks it touched) and the first with ``p`` within 0.5 dB under the
    ceiling is kept, usually the first. Where no depth reaches it (limiting that costs as much
    loudness as it removes peak, e.g. a steady tone or a lone click), the least limiting within
    0.1 dB of the best the model finds is tried, and the gain gives way so the ceiling holds:
    the loudness falls short, and is measured.
    """
    x0 = np.asarray(audio, dtype=np.float64)
    if x0.size == 0 or not np.any(x0):
        return x0.astype(np.float32), -math.inf, -math.inf
    x, loud, _ = _gain_to(x0, rate, target_lufs)
    if not math.isfinite(loud):
        tp0 = true_peak_dbtp(x0)
        gain_db = min(0.0, ceiling_dbtp - _LAST_RESORT_DB - tp0)
        return (x0 * 10.0 ** (gain_db / 20.0)).astype(np.float32), -math.inf, tp0 + gain_db
    x, loud, tp = _limited(x, loud, rate, target_lufs, ceiling_dbtp, iterations)
    gain_db = target_lufs - loud
    if tp + gain_db > ceiling_dbtp - _FAST_MARGIN_DB:  # last resort: less gain, so the ceiling holds
        gain_db = ceiling_dbtp - _LAST_RESORT_DB - tp
    out = (x * 10.0 ** (gain_db / 20.0)).astype(np.float32)
    return out, (loud if gain_db == 0 else integrated_loudness(out, rate)), tp + gain_db


def _gain_to(x: np.ndarray, rate: int, target_lufs: float) -> tuple[np.ndarray, float, float]:
    """``x`` gained to ``target_lufs``: returns (audio, its LUFS, the gain applied in dB).

    The LUFS is the target itself when the gain moved no gating block across the absolute gate;
    otherwise the gained audio is measured and the gain refined (a few times; then the last
    measure stands). Audio with no measurable loudness is first brought to a -20 dBFS peak;
    still unmeasurable, the LUFS is ``-inf``."""
    loud, blocks = _loudness_blocks(x, rate)
    total = 0.0
    if not math.isfinite(loud):
        total = -20.0 - _db(float(np.max(np.abs(x))))
        x = x * 10.0 ** (total / 20.0)
        loud, blocks = _loudness_blocks(x, rate)
    for _ in range(4):
        if not math.isfinite(loud):
            break
        step = target_lufs - loud
        x, total = x * 10.0 ** (step / 20.0), total + step
        low, high = sorted((ABSOLUTE_GATE_LUFS, ABSOLUTE_GATE_LUFS - step))
        if not np.any((blocks >= low) & (blocks <= high)):
            return x, target_lufs, total
        loud, blocks = _loudness_blocks(x, rate)
    return x, loud, total


def _limited(
    x: np.ndarray, loud: float, rate: int, target_lufs: float, ceiling_dbtp: float, iterations: int
) -> tuple[np.ndarray, float, float]:
    """``x`` (``loud`` LUFS, near the target) limited so that the make-up gain to ``target_lufs``
    keeps its true peak under ``ceiling_dbtp``, as :func:`normalize_loudness` describes; returns
    (audio, its LUFS, its dBTP). Unchanged when no limiting is needed or none helps."""
    from scipy.optimize import brentq

    ceiling, make_up = ceiling_dbtp - _FAST_MARGIN_DB, target_lufs - loud
    if _db(float(np.max(np.abs(x)))) + make_up <= ceiling or iterations <= 0:  # the true peak may be too
        tp = true_peak_dbtp(x, fast=True)
        if tp + make_up <= ceiling or iterations <= 0:
            return x, loud, tp
    limiter = _Limiter(x, rate)
    aim = ceiling - 0.2 - make_up  # the depth whose final peak is the aim, if limiting cost no loudness

    def miss(depth: float, error: float) -> float:  # modelled final peak - the aim
        return depth + limiter.estimated_drop(depth) + error - aim

    def next_depth(tries: list[tuple[float, float]]) -> float:
        """The model, shifted by its error at the last try; past two tries, a secant on the
        measured peaks (the model's slope can be far off where limiting costs nearly 1:1)."""
        error = tries[-1][1] - tries[-1][0] - limiter.estimated_drop(tries[-1][0]) if tries else 0.0
        if miss(lo, error) >= 0:  # no depth reaches the aim: the least limiting within 0.1 dB of the best
            floor = miss(lo, error) + 0.1
            return aim if miss(aim, error) <= floor else float(brentq(miss, lo, aim, (error - floor,), xtol=0.01))
        if len(tries) >= 2 and tries[-1][0] != tries[-2][0]:
            (d1, q1), (d2, q2) = tries[-2:]
            slope = min(1.0, max(0.05, (q2 - q1) / (d2 - d1)))
            return min(aim, max(lo, d2 - (q2 - aim) / slope))
        return aim if miss(aim, error) <= 0 else float(brentq(miss, lo, aim, (error,), xtol=0.01))

    kept: tuple[np.ndarray, float, float] | None = None
    tries: list[tuple[float, float]] = []  # (depth, measured final peak - make_up), both dB
    lo = aim - _MAX_LIMIT_DB
    for _ in range(iterations):
        depth = next_depth(tries)
        if tries and depth == tries[-1][0]:
            break
        y, tp = limiter(depth)
        y, loud_y, up_db = _gain_to(y, rate, target_lufs)  # the make-up gain, measured if it moves gating blocks
        if not math.isfinite(loud_y):  # nothing above the gate left: limiting cannot help
            break
        kept = (y, loud_y, tp + up_db)
        peak = tp + up_db + target_lufs - loud_y
        if ceiling - _ACCEPT_DB <= peak <= ceiling:
            break
        tries.append((depth, peak - make_up))
    return kept if kept is not None else (x, loud, true_peak_dbtp(x, fast=True))


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
