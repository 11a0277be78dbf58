"""The small interface every TTS engine implements: one sentence in, audio + word timings out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pipelines.voice.pipeline_output import Timing
from pipelines.voice.textmap import clean_word


@dataclass(frozen=True)
class SynthSettings:
    """Per-call prosody, already resolved from accent defaults, tone preset and job params.

    ``rate`` and ``pitch`` are factors (1.0 = the voice's normal); ``expressiveness`` scales
    intonation range / sampling noise where the engine has such a knob.
    """

    rate: float = 1.0
    pitch: float = 1.0
    expressiveness: float = 1.0
    language: str = "en"
    speaker_wav: str | None = None
    word_gap_ms: float = 0.0  # extra pause between words (espeak only; 0 = the voice's own)


@dataclass
class EngineAudio:
    """Engine output at the engine's native rate; word timings in seconds from the chunk start."""

    audio: np.ndarray
    sample_rate: int
    words: list[Timing] = field(default_factory=list)


class Engine(Protocol):
    """``synthesize(text, voice, settings) -> EngineAudio``; loaded once, called many times."""

    name: str

    def synthesize(self, text: str, voice: str, settings: SynthSettings) -> EngineAudio: ...

    def phonemes(self, text: str, voice: str) -> str: ...


def proportional_words(text: str, start: float, end: float) -> list[Timing]:
    """Spread words over [start, end] by character count — for engines without alignments."""
    words = [clean_word(w) for w in text.split()]
    if not words or end <= start:
        return []
    weights = np.array([len(w) + 1 for w in words], dtype=np.float64)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
    return [Timing(w, float(a), float(b)) for w, a, b in zip(words, edges[:-1], edges[1:], strict=True)]
