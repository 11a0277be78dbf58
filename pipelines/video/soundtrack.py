"""The ad's soundtrack: mix (voice, music bed, SFX), AAC encode + measured loudness, a byte-bounded cache."""

from __future__ import annotations

import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.video import audio_mix
from pipelines.video.config import VideoAdParams
from pipelines.video.ffmpeg import decode_audio, encode_aac
from pipelines.video.template import Template, plan_durations, resolve_asset


@dataclass(frozen=True)
class EncodedAudio:
    """The ad's soundtrack as the MP4 will carry it: AAC bytes (an .m4a), the mix's own stats,
    and the loudness measured by decoding that AAC (what a player hears)."""

    m4a: bytes
    mix_stats: dict[str, Any]
    loudness: dict[str, Any]
    seconds: float  # wall time of mix + encode + measure (in the worker thread)


class SoundtrackCache:
    """LRU of ``EncodedAudio`` by content key, bounded by ``max_bytes`` of AAC (always keeps one)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, EncodedAudio] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> EncodedAudio | None:
        """The cached soundtrack (counted as a hit), else None (counted as a miss)."""
        hit = self._items.get(key)
        if hit is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return hit

    def put(self, key: str, audio: EncodedAudio) -> None:
        if key in self._items:
            return
        self._items[key] = audio
        self._bytes += len(audio.m4a)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old.m4a)


def soundtrack_key(
    tpl: Template, params: VideoAdParams, durations: list[float], assets_root: Path | None
) -> str:
    """Content key of everything the soundtrack depends on (audio settings, scene timing, files)."""
    from pipelines.video.compositor.cache import digest, file_id

    vo = params.voiceover
    return digest(
        tpl.audio.model_dump(mode="json"),
        [s.id for s in tpl.scenes],
        durations,
        file_id(Path(vo.wav_path)) if vo else None,
        (vo.sentences, vo.words) if vo else None,
        file_id(Path(params.music)) if params.music else None,
        [file_id(resolve_asset(x.src, tpl, assets_root)) for x in tpl.audio.sfx],
        file_id(resolve_asset(tpl.audio.music.src, tpl, assets_root)) if tpl.audio.music else None,
    )


def encode_soundtrack(mix: audio_mix.MixResult, t0: float) -> EncodedAudio:
    """AAC-encode ``mix`` and measure the loudness of the decoded AAC; ``t0``: the job's start
    (``time.perf_counter()``) for ``EncodedAudio.seconds``. Raises ``RuntimeError`` if ffmpeg fails."""
    with tempfile.TemporaryDirectory(prefix="maydo-aac-") as d:
        m4a = encode_aac(mix.audio, Path(d) / "mix.m4a")
        # Measure what the MP4 will carry: these AAC packets are stream-copied into it.
        loudness = audio_mix.measure(decode_audio(m4a), audio_mix.SR)
        data = m4a.read_bytes()
    return EncodedAudio(data, mix.stats, loudness, round(time.perf_counter() - t0, 3))


def mix_soundtrack(tpl: Template, params: VideoAdParams, total: float, assets_root: Path | None) -> audio_mix.MixResult:
    """Mix the voiceover, music bed (``params.music`` or the template's) and SFX over ``total``
    seconds at ``audio_mix.SR``, ducked and loudness-normalised as the template's audio says."""
    a = tpl.audio
    voice = None
    timings: list[tuple[float, float]] | None = None
    if params.voiceover is not None:
        voice = audio_mix.load_audio(Path(params.voiceover.wav_path))
        timings = (
            [(s, e) for _, s, e in params.voiceover.words]
            or [(s, e) for _, s, e in params.voiceover.sentences]
            or None
        )
    music = None
    music_path: Path | None = Path(params.music) if params.music else None
    if music_path is None and a.music is not None:
        music_path = resolve_asset(a.music.src, tpl, assets_root)
    if music_path is not None:
        music = audio_mix.load_audio(music_path)
    sfx = []
    starts = dict(
        zip(
            [s.id for s in tpl.scenes],
            _cumstarts(plan_durations(tpl, None if voice is None else len(voice) / audio_mix.SR)),
            strict=False,
        )
    )
    for item in a.sfx:
        path = resolve_asset(item.src, tpl, assets_root)
        if path is not None:
            at = item.at + (starts.get(item.scene, 0.0) if item.scene else 0.0)
            sfx.append((audio_mix.load_audio(path), at, item.volume_db))
    m = a.music
    return audio_mix.mix(
        total,
        voice=voice,
        voice_offset=a.voice_offset,
        voice_timings=timings,
        voice_db=a.voice_db,
        music=music,
        music_db=m.volume_db if m else -16.0,
        duck_db=m.duck_db if m else -12.0,
        music_fade_in=m.fade_in if m else 0.5,
        music_fade_out=m.fade_out if m else 1.5,
        sfx=sfx,
        target_lufs=a.target_lufs,
        true_peak_ceiling=a.true_peak_db,
    )


def _cumstarts(durations: list[float]) -> list[float]:
    out, acc = [], 0.0
    for d in durations:
        out.append(acc)
        acc += d
    return out
