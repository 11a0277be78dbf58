"""Result of a voiceover job: 48 kHz mono audio, measured loudness, sentence and word timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines._common.files import atomic_path


@dataclass(frozen=True)
class Timing:
    """A span of the audio (seconds) and the text spoken in it (for captions).

    ``text`` is what the script says ('249.000đ', 'St.'); ``spoken`` is what the voice said for
    it after normalisation ('hai trăm bốn mươi chín nghìn đồng', 'Street'), when they differ
    or are known (None for timings built without a script, e.g. straight from an engine).
    """

    text: str
    start: float
    end: float
    spoken: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "start": round(self.start, 4), "end": round(self.end, 4)}
        if self.spoken is not None:
            d["spoken"] = self.spoken
        return d


@dataclass(frozen=True)
class VoiceOutput:
    """Synthesised voiceover: float32 mono audio plus everything captions and mixing need."""

    audio: np.ndarray
    sample_rate: int
    duration: float
    loudness_lufs: float
    true_peak_dbtp: float
    sentences: list[Timing]
    words: list[Timing]
    accent: str
    engine: str
    voice: str
    normalized_text: str  # what was spoken; sentences/words carry the script's own text
    target_lufs: float = -16.0
    phonemes: str = ""
    warnings: list[str] = field(default_factory=list)

    def save_wav(self, path: str | Path) -> Path:
        """Write a 24-bit PCM WAV atomically (temp file + rename); returns the final path."""
        import soundfile as sf

        target = Path(path)
        with atomic_path(target, suffix=".wav") as tmp:
            sf.write(str(tmp), self.audio, self.sample_rate, subtype="PCM_24", format="WAV")
        return target

    def save(self, path: str | Path, *, bitrate: str = "192k") -> Path:
        """Write by extension: .wav (24-bit PCM), .mp3 (LAME) or .m4a/.aac (AAC) via the bundled
        ffmpeg; atomic like ``save_wav``."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".wav":
            return self.save_wav(target)
        codecs = {".mp3": ["-c:a", "libmp3lame"], ".m4a": ["-c:a", "aac", "-movflags", "+faststart"],
                  ".aac": ["-c:a", "aac"]}  # fmt: skip
        if suffix not in codecs:
            from pipelines._common.errors import PipelineInputError

            raise PipelineInputError(
                f"unsupported audio format {suffix or '(none)'!r}; allowed: .wav, .mp3, .m4a, .aac", field="output"
            )
        import subprocess
        import tempfile

        import imageio_ffmpeg

        with tempfile.TemporaryDirectory() as tmp:
            wav = self.save_wav(Path(tmp) / "voice.wav")
            with atomic_path(target) as out:
                cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                       "-i", str(wav), *codecs[suffix], "-b:a", bitrate, "-ar", str(self.sample_rate), str(out)]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise RuntimeError(f"ffmpeg failed to encode {target.name}: {proc.stderr.strip()[-500:]}")
        return target

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description of the result (no audio samples)."""
        return {
            "sample_rate": self.sample_rate,
            "duration": round(self.duration, 4),
            "loudness_lufs": round(self.loudness_lufs, 2),
            "target_lufs": self.target_lufs,
            "true_peak_dbtp": round(self.true_peak_dbtp, 2),
            "accent": self.accent,
            "engine": self.engine,
            "voice": self.voice,
            "normalized_text": self.normalized_text,
            "phonemes": self.phonemes,
            "sentences": [t.to_dict() for t in self.sentences],
            "words": [t.to_dict() for t in self.words],
            "warnings": list(self.warnings),
        }
