"""Audio mix: voiceover + music bed ducked under speech + sound effects, loudness-normalised.

Ducking is a sidechain driven by the voice's word timings (or, without timings, by its RMS
envelope), with short attack/release ramps. The mix is normalised to the target integrated
loudness (ITU-R BS.1770 via pyloudnorm) and a look-ahead limiter keeps the 4x-oversampled true
peak at or below the ceiling: both are ``pipelines/_common/loudness.py``, shared with voice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines._common import loudness

SR = 48000


def load_audio(path: Path, *, sample_rate: int = SR) -> np.ndarray:
    """Read a WAV/FLAC/OGG as float32 stereo at ``sample_rate``."""
    import soundfile as sf
    from scipy.signal import resample_poly

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != sample_rate:
        g = np.gcd(int(sr), sample_rate)
        data = resample_poly(data, sample_rate // g, int(sr) // g, axis=0).astype(np.float32)
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    return np.ascontiguousarray(data[:, :2])


def db(x: float) -> float:
    return float(10 ** (x / 20))


def measure(audio: np.ndarray, sample_rate: int = SR) -> dict[str, Any]:
    """Integrated loudness (LUFS, None for silence/too short) and true peak (dBTP): ``_common.loudness.measure``."""
    return loudness.measure(audio, sample_rate)


def speech_mask(
    n: int, timings: Sequence[tuple[float, float]], *, sample_rate: int = SR, pre: float = 0.12, post: float = 0.25
) -> np.ndarray:
    """1.0 where speech is (padded by ``pre``/``post`` seconds), else 0.0."""
    mask = np.zeros(n, dtype=np.float32)
    for start, end in timings:
        a = max(0, int((start - pre) * sample_rate))
        b = min(n, int((end + post) * sample_rate))
        if b > a:
            mask[a:b] = 1.0
    return mask


def envelope_mask(voice: np.ndarray, *, sample_rate: int = SR, threshold_db: float = -40.0) -> np.ndarray:
    """Speech mask from the voice's 20 ms RMS envelope (used when no timings are known)."""
    mono = voice.mean(axis=1) if voice.ndim == 2 else voice
    hop = int(0.02 * sample_rate)
    nblk = max(1, len(mono) // hop)
    blocks = mono[: nblk * hop].reshape(nblk, hop)
    rms = np.sqrt(np.mean(blocks**2, axis=1) + 1e-12)
    on = (20 * np.log10(rms) > threshold_db).astype(np.float32)
    mask = np.repeat(on, hop)
    return np.pad(mask, (0, len(mono) - len(mask)))


def smooth_gain(mask: np.ndarray, duck_db: float, *, sample_rate: int = SR, ramp: float = 0.15) -> np.ndarray:
    """Gain curve: 1.0 outside speech, ``duck_db`` inside, with linear ramps of ``ramp`` seconds."""
    k = max(1, int(ramp * sample_rate))
    # Dilate first so the ramp finishes before speech starts, then average for the ramp shape.
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    dil = maximum_filter1d(mask, size=k)
    sm = uniform_filter1d(dil, size=k)
    depth = 1.0 - db(duck_db)
    return (1.0 - depth * sm).astype(np.float32)


def fade(n: int, fade_in: float, fade_out: float, sample_rate: int = SR) -> np.ndarray:
    g = np.ones(n, dtype=np.float32)
    a = min(n, int(fade_in * sample_rate))
    b = min(n, int(fade_out * sample_rate))
    if a > 0:
        g[:a] = np.linspace(0, 1, a, dtype=np.float32)
    if b > 0:
        g[n - b :] *= np.linspace(1, 0, b, dtype=np.float32)
    return g


@dataclass(frozen=True)
class MixResult:
    audio: np.ndarray  # float32 (n, 2) at SR
    stats: dict[str, Any]


def mix(
    duration: float,
    *,
    voice: np.ndarray | None = None,
    voice_offset: float = 0.0,
    voice_timings: Sequence[tuple[float, float]] | None = None,
    voice_db: float = 0.0,
    music: np.ndarray | None = None,
    music_db: float = -16.0,
    duck_db: float = -12.0,
    music_fade_in: float = 0.5,
    music_fade_out: float = 1.5,
    sfx: Sequence[tuple[np.ndarray, float, float]] = (),
    target_lufs: float = -16.0,
    true_peak_ceiling: float = -1.0,
    sample_rate: int = SR,
) -> MixResult:
    """Build the final stereo mix of exactly ``duration`` seconds.

    ``voice_timings`` are (start, end) seconds relative to the voice file; the voice is placed at
    ``voice_offset``. ``sfx`` items are (audio, at_seconds, gain_db).
    """
    n = int(round(duration * sample_rate))
    out = np.zeros((n, 2), dtype=np.float32)
    stats: dict[str, Any] = {"duck_db": None}
    voice_track = np.zeros((n, 2), dtype=np.float32)
    if voice is not None:
        a = int(round(voice_offset * sample_rate))
        seg = voice[: max(0, n - a)]
        voice_track[a : a + len(seg)] = seg * db(voice_db)
        out += voice_track
    if music is not None and len(music):
        reps = int(np.ceil(n / len(music)))
        bed = np.tile(music, (reps, 1))[:n] * db(music_db)
        bed *= fade(n, music_fade_in, music_fade_out, sample_rate)[:, None]
        if voice is not None:
            if voice_timings:
                mask = speech_mask(n, [(s + voice_offset, e + voice_offset) for s, e in voice_timings])
                stats["duck_source"] = "timings"
            else:
                mask = envelope_mask(voice_track)
                stats["duck_source"] = "envelope"
            gain = smooth_gain(mask, duck_db, sample_rate=sample_rate)
            bed *= gain[:, None]
            stats["duck_db"] = duck_db
        out += bed
    for clip, at, gain_db in sfx:
        a = int(round(at * sample_rate))
        if a >= n:
            continue
        seg = clip[: n - a]
        out[a : a + len(seg)] += seg * db(gain_db)
    before = measure(out, sample_rate)
    after = dict(before)
    if before["integrated_lufs"] is not None:
        # the limiter aims 0.5 dB under the ceiling: AAC adds a little overshoot
        out, lufs, tp = loudness.normalize_loudness(out, sample_rate, target_lufs, true_peak_ceiling - 0.5)
        after = {"integrated_lufs": round(lufs, 2), "true_peak_dbtp": round(tp, 2)}
    stats.update(pre_norm=before, integrated_lufs=after["integrated_lufs"], true_peak_dbtp=after["true_peak_dbtp"])
    return MixResult(np.ascontiguousarray(out, dtype=np.float32), stats)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SR) -> None:
    import soundfile as sf

    sf.write(str(path), audio, sample_rate, subtype="FLOAT")
