"""Coqui TTS (``coqui-tts``, import ``TTS``) from a local model directory.

Multi-speaker VITS models pick the accent by speaker name (e.g. a VCTK speaker with a known
accent); XTTS-style models take a reference clip (``speaker_wav``) for accent by example plus a
language. torch and TTS are imported only when an engine is built. Coqui gives no word
alignments, so words are spread over the voiced span by length.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from pipelines._common.errors import PipelineInputError
from pipelines.voice.audio import speech_bounds
from pipelines.voice.engines.base import EngineAudio, SynthSettings, proportional_words

XTTS_LICENCE = "CPML (Coqui Public Model License): non-commercial use only"
_MODEL_FILES = ("model.pth", "best_model.pth", "model_file.pth", "checkpoint.pth", "model.safetensors")


def _read_config(model_dir: Path) -> dict[str, Any]:
    cfg = model_dir / "config.json"
    if not cfg.is_file():
        raise PipelineInputError(f"coqui model dir {model_dir} has no config.json", field="coqui_model_dir")
    data = json.loads(cfg.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def model_licence(model_dir: Path | str) -> tuple[str | None, bool | None]:
    """(licence, commercial_use) the model directory itself declares; XTTS is always CPML.

    A ``LICENSE``/``licence.txt`` file or ``"licence"`` key in config.json is reported as-is
    (commercial use then stays unknown = None; the registry/config decides).
    """
    d = Path(model_dir)
    try:
        cfg = _read_config(d)
    except PipelineInputError:
        return None, None
    if str(cfg.get("model", "")).lower() == "xtts":
        return XTTS_LICENCE, False
    if "licence" in cfg or "license" in cfg:
        return str(cfg.get("licence", cfg.get("license"))), None
    return None, None


class CoquiEngine:
    """One loaded Coqui model; ``synthesize`` is serialised (the model is not re-entrant)."""

    name = "coqui"

    def __init__(self, model_dir: Path | str, *, device: str = "cpu") -> None:
        d = Path(model_dir)
        if not d.is_dir():
            raise PipelineInputError(f"coqui model dir not found: {d}", field="coqui_model_dir")
        self.model_dir = d
        self.config = _read_config(d)
        self.is_xtts = str(self.config.get("model", "")).lower() == "xtts"
        model_file = next((d / f for f in _MODEL_FILES if (d / f).is_file()), None)
        if model_file is None and not self.is_xtts:
            raise PipelineInputError(
                f"coqui model dir {d} has no checkpoint; expected one of {', '.join(_MODEL_FILES)}",
                field="coqui_model_dir",
            )
        from TTS.api import TTS

        path = str(d) if self.is_xtts else str(model_file)
        self.tts: Any = TTS(model_path=path, config_path=str(d / "config.json"), progress_bar=False).to(device)
        self.device = device
        self.sample_rate = int(self.tts.synthesizer.output_sample_rate)
        self._lock = threading.Lock()

    @property
    def speakers(self) -> list[str]:
        return list(self.tts.speakers or []) if self.tts.is_multi_speaker else []

    def synthesize(self, text: str, voice: str, settings: SynthSettings) -> EngineAudio:
        """Speak ``text`` with speaker ``voice`` (multi-speaker) or ``settings.speaker_wav`` (XTTS)."""
        kwargs: dict[str, Any] = {"split_sentences": False}
        if self.is_xtts:
            if not settings.speaker_wav:
                raise PipelineInputError(
                    "this coqui model (XTTS) needs a reference clip: set speaker_wav (or "
                    "VoiceConfig.speaker_wavs for the accent)",
                    field="speaker_wav",
                )
            kwargs.update(speaker_wav=settings.speaker_wav, language=settings.language, speed=settings.rate)
        elif self.speakers:
            if not voice:
                raise PipelineInputError(
                    "no coqui speaker is set for this accent (voices.yaml alternatives.coqui.voice, or "
                    f"params.voice); model speakers: {', '.join(self.speakers[:40])}",
                    field="voice",
                )
            if voice not in self.speakers:
                shown = ", ".join(self.speakers[:40])
                raise PipelineInputError(
                    f"speaker {voice!r} is not in the coqui model; speakers: {shown}", field="voice"
                )
            kwargs["speaker"] = voice
        with self._lock:
            model = self.tts.synthesizer.tts_model
            old_scale = getattr(model, "length_scale", None)
            if old_scale is not None and not self.is_xtts:
                model.length_scale = float(old_scale) / max(settings.rate, 0.1)
            try:
                wav = self.tts.tts(text, **kwargs)
            finally:
                if old_scale is not None and not self.is_xtts:
                    model.length_scale = old_scale
        audio = np.asarray(wav, dtype=np.float32).reshape(-1)
        a, b = speech_bounds(audio, self.sample_rate)
        words = proportional_words(text, a / self.sample_rate, max(b, a + 1) / self.sample_rate)
        return EngineAudio(audio=audio, sample_rate=self.sample_rate, words=words)

    def phonemes(self, text: str, voice: str) -> str:
        return ""
