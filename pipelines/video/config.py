"""Load-time ``VideoConfig`` and per-call ``VideoAdParams`` (+ its ``Voiceover``) for the video pipeline.

Same layout as ``pipelines/voice/config.py``: ``config.py`` holds what a pipeline loads once
(``VideoConfig``: cache budgets, encoder threads, assets root) and what each render takes
(``VideoAdParams``); ``pipeline_video_ad.py`` holds the pipeline, ``pipeline_output.py`` its result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CAPTION_STYLES = ("sentence", "words", "none")

TimingLike = Any  # tuple (text, start, end), a {"text", "start", "end"} mapping or an object with those attributes


def _as_timing(item: TimingLike) -> tuple[str, float, float]:
    """One timing as (text, start s, end s). Raises PipelineInputError (field ``timings``) for
    anything else, e.g. a mapping without ``start``."""
    from collections.abc import Mapping

    from pipelines._common.errors import PipelineInputError

    try:
        if isinstance(item, tuple | list):
            return (str(item[0]), float(item[1]), float(item[2]))
        if isinstance(item, Mapping):  # the JSON `maydo voice --json` writes
            return (str(item["text"]), float(item["start"]), float(item["end"]))
        return (str(item.text), float(item.start), float(item.end))
    except (KeyError, IndexError, AttributeError, TypeError, ValueError):
        raise PipelineInputError(
            f"timing {str(item)[:80]!r} is not [text, start, end] or {{text, start, end}} (seconds)",
            field="timings",
        ) from None


@dataclass(frozen=True)
class Voiceover:
    """A voiceover WAV and its sentence/word timings (seconds from the start of the WAV)."""

    wav_path: Path
    sentences: list[tuple[str, float, float]] = field(default_factory=list)
    words: list[tuple[str, float, float]] = field(default_factory=list)

    @classmethod
    def from_timings(
        cls, wav_path: str | Path, sentences: Sequence[TimingLike], words: Sequence[TimingLike]
    ) -> Voiceover:
        """Accept (text, start, end) tuples or objects with .text/.start/.end (voice's Timing)."""
        return cls(Path(wav_path), [_as_timing(s) for s in sentences], [_as_timing(w) for w in words])

    @property
    def duration(self) -> float:
        import soundfile as sf

        info = sf.info(str(self.wav_path))
        return float(info.frames) / float(info.samplerate)


@dataclass(frozen=True)
class VideoConfig:
    """Load-time settings: cache budget (scene backgrounds/sprites), encoder threads, assets root."""

    cache_bytes: int = 512 * 1024 * 1024  # bytes of decoded media, sprites and backgrounds kept
    threads: int = 0  # x264 encoder threads; 0 = ffmpeg chooses
    assets_root: Path | None = None  # directory template media/font names resolve against
    # Encode each scene segment separately and reuse encoded segments whose pixels are identical
    # across renders (customers sharing scenes). A one-off render is cheapest with False.
    reuse_segments: bool = False
    segment_cache_bytes: int = 1024 * 1024 * 1024  # bytes of encoded segments kept on disk
    # Encoded soundtracks (AAC + loudness) kept for later renders with the same voiceover, music
    # and timing. Bounded by bytes, not entries: a campaign cycles through every distinct voice
    # (dozens), and a small LRU thrashed on such a cycle (0 hits), remixing every ad.
    audio_cache_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class VideoAdParams:
    """Per-render inputs. ``scale``/``fps`` shrink renders for previews and tests.

    Units: times in seconds, sizes in pixels, frame rates in frames per second. Paths are
    local files the *caller* resolved (asset ids / registry names are resolved above pipelines/).
    """

    data: dict[str, Any]  # merge-field values for the template (name -> value; strings, numbers)
    out_dir: Path  # directory the MP4, PNG poster and VTT/SRT files are written into
    formats: list[str] = field(default_factory=lambda: ["9:16"])  # aspect ratios: 9:16, 1:1, 4:5, 16:9
    voiceover: Voiceover | None = None  # WAV + sentence/word timings (seconds); sets the ad's length
    product_image: str | Path | None = None  # image file (PNG/JPEG/WebP) shown by the product layer
    # Mask of product_image (white = product) when the image has no alpha; the product layer
    # shows a cutout either way (alpha, this mask, or the studio-backdrop auto mask).
    product_mask: str | Path | None = None  # 8-bit greyscale image file, same pixel size as product_image
    music: str | Path | None = None  # audio file replacing the template's music bed (ducked under the voice)
    captions: str | None = "sentence"  # "sentence" = the template's style; "words" / "none" / None override
    basename: str = "ad"  # output file stem: <basename>_<9x16>.mp4 / .png / .vtt / .srt
    quality: str = "standard"  # x264 preset + CRF: "draft" (ultrafast, 26), "standard" (veryfast, 21), "high" (medium, 19)
    progress: Callable[[str, float], None] | None = None  # called with (stage name, fraction done 0-1)
    scale: float = 1.0  # canvas size factor, 0.05-2.0 (1.0 = 1080 px short side; 0.5 = 540 px)
    fps: int | None = None  # frames per second, 1-60; None = the template's fps (default 30)
    spec: str | None = None  # ad-platform spec name (specs.AD_SPECS): duration limits and bitrate/CRF floors
