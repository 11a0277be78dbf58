"""Audio mix: voiceover + music bed ducked under speech + sound effects, loudness-normalised.

Ducking is a sidechain driven by the voice's word timings (or, without timings, by its RMS
envelope), with short attack/release ramps. The mix is normalised to the target integrated
loudness (ITU-R BS.1770 via pyloudnorm) and a look-ahead limiter keeps the 4x-oversampled true
peak at or below the ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SR = 48000


def load_audio(path: Path, *, sample_rate: int = SR) -> np.ndarray:
    """Read audio as float32 stereo (n, 2) at ``sample_rate``: WAV/FLAC through libsndfile, and
    anything else (M4A/AAC, MP3, OGG, ...) — or a WAV libsndfile refuses — through the bundled
    ffmpeg. Raises PipelineInputError (field ``audio``) when neither decodes it."""
    import soundfile as sf
    from scipy.signal import resample_poly

    data: np.ndarray | None = None
    if Path(path).suffix.lower() in (".wav", ".flac"):
        try:
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError):
            data = None
    if data is None:
        return _ffmpeg_decode(Path(path), sample_rate)
    if sr != sample_rate:
        g = np.gcd(int(sr), sample_rate)
        data = resample_poly(data, sample_rate // g, int(sr) // g, axis=0).astype(np.float32)
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    return np.ascontiguousarray(data[:, :2])


def _ffmpeg_decode(path: Path, sample_rate: int) -> np.ndarray:
    import subprocess

    from pipelines._common.errors import PipelineInputError
    from pipelines.video.ffmpeg import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
           "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "2", "-ar", str(sample_rate), "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PipelineInputError(
            f"audio {path.name}: not decodable by the bundled ffmpeg ({(err[-1] if err else 'no samples')[:200]})",
            field="audio",
        )
    return np.frombuffer(proc.stdout, dtype=np.float32).reshape(-1, 2).copy()


def db(x: float) -> float:
    return float(10 ** (x / 20))


_BLOCK = 4096


def _chan_absmax(x: np.ndarray) -> np.ndarray:
    """max |x| across channels per sample (a reduce over a 2-wide axis is slow in numpy)."""
    if x.ndim == 1:
        return np.abs(x)
    out = np.abs(x[:, 0])
    for c in range(1, x.shape[1]):
        np.maximum(out, np.abs(x[:, c]), out=out)
    return out


_PAD = 64


def _hot_blocks(audio: np.ndarray, threshold: float) -> list[int]:
    """Indices of blocks whose sample peak is within reach of ``threshold`` (inter-sample peaks of
    band-limited audio rarely exceed the sample peak by more than ~3 dB; we allow 6 dB)."""
    n = len(audio)
    nblk = (n + _BLOCK - 1) // _BLOCK
    pad = np.zeros((nblk * _BLOCK - n, audio.shape[1]), audio.dtype)
    peaks = _chan_absmax(np.concatenate([audio, pad])).reshape(nblk, _BLOCK).max(axis=1)
    return [int(i) for i in np.flatnonzero(peaks >= threshold * 0.5)]


def _oversampled_peaks(audio: np.ndarray, blocks: list[int]) -> dict[int, np.ndarray]:
    """Per hot block: the 4x-oversampled |x| max for each original sample of the block.

    Adjacent hot blocks are resampled together (runs of up to 64 blocks), which keeps the cost
    near one full-signal pass when most blocks are hot and the memory bounded for long ads.
    """
    from scipy.signal import resample_poly

    out: dict[int, np.ndarray] = {}
    n = len(audio)
    runs: list[list[int]] = []
    for bi in blocks:
        if runs and bi == runs[-1][-1] + 1 and len(runs[-1]) < 64:
            runs[-1].append(bi)
        else:
            runs.append([bi])
    for run in runs:
        a, b = run[0] * _BLOCK, min(n, (run[-1] + 1) * _BLOCK)
        lo, hi = max(0, a - _PAD), min(n, b + _PAD)
        up = _chan_absmax(resample_poly(audio[lo:hi], 4, 1, axis=0))
        per = up[: (hi - lo) * 4].reshape(hi - lo, 4).max(axis=1)[a - lo : a - lo + (b - a)]
        for k, bi in enumerate(run):
            out[bi] = per[k * _BLOCK : (k + 1) * _BLOCK]
    return out


def true_peak_db(audio: np.ndarray, sample_rate: int = SR) -> float:
    """True peak (dBTP) by 4x oversampling (BS.1770-4 annex 2), evaluated only where it can matter."""
    if audio.size == 0:
        return float("-inf")
    sample_peak = float(_chan_absmax(audio).max())
    if sample_peak <= 0:
        return float("-inf")
    peaks = _oversampled_peaks(audio, _hot_blocks(audio, sample_peak))
    peak = max([sample_peak] + [float(p.max()) for p in peaks.values()])
    return float(20 * np.log10(peak))


def measure(audio: np.ndarray, sample_rate: int = SR) -> dict[str, Any]:
    """Integrated loudness (LUFS, None for silence/too short) and true peak (dBTP)."""
    from pipelines._common.loudness import integrated_loudness

    lufs: float | None = None
    if audio.shape[0] >= int(0.4 * sample_rate):
        val = integrated_loudness(audio, sample_rate)
        lufs = round(val, 2) if np.isfinite(val) else None
    tp = true_peak_db(audio, sample_rate)
    return {"integrated_lufs": lufs, "true_peak_dbtp": round(tp, 2) if np.isfinite(tp) else None}


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


def limit_true_peak(audio: np.ndarray, ceiling_db: float, sample_rate: int = SR) -> np.ndarray:
    """Look-ahead peak limiter on the 4x-oversampled signal (gain only ever goes down).

    Only blocks near the ceiling are oversampled, so a mix with headroom costs one abs-max pass.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = db(ceiling_db)
    out = audio
    for _ in range(4):
        hot = _hot_blocks(out, ceiling)
        if not hot:
            break
        peaks = _oversampled_peaks(out, hot)
        peak = np.zeros(len(out), np.float32)
        for bi, p in peaks.items():
            peak[bi * _BLOCK : bi * _BLOCK + len(p)] = p
        if peak.max() <= ceiling:
            break
        gain = np.minimum(1.0, ceiling * 0.98 / np.maximum(peak, 1e-9)).astype(np.float32)
        win = max(1, int(0.005 * sample_rate))
        gain = minimum_filter1d(gain, size=2 * win + 1)
        gain = np.minimum(gain, uniform_filter1d(gain, size=win))
        out = (out * gain[:, None]).astype(np.float32)
    return out


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
        out *= db(target_lufs - before["integrated_lufs"])
        limited = limit_true_peak(out, true_peak_ceiling - 0.5, sample_rate)  # AAC adds a little overshoot
        if limited is out:  # untouched: loudness is exactly the target, only the peak moved
            tp = true_peak_db(out, sample_rate)
            after = {"integrated_lufs": round(target_lufs, 2), "true_peak_dbtp": round(tp, 2)}
        else:
            out = limited
            after = measure(out, sample_rate)
    stats.update(pre_norm=before, integrated_lufs=after["integrated_lufs"], true_peak_dbtp=after["true_peak_dbtp"])
    return MixResult(np.ascontiguousarray(out, dtype=np.float32), stats)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SR) -> None:
    import soundfile as sf

    sf.write(str(path), audio, sample_rate, subtype="FLOAT")
