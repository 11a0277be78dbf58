"""Result of a video ad render: one ``Render`` per format (MP4, poster, captions, metadata)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Render:
    """One format's deliverables: ``video_path`` (MP4), ``poster_path`` (PNG), WebVTT/SRT captions
    (None without voiceover sentences) and ``metadata`` (durations in seconds, bitrates in kbit/s,
    loudness in LUFS/dBTP, spec and delivery checks, timings)."""

    format: str
    video_path: Path
    poster_path: Path
    vtt_path: Path | None
    srt_path: Path | None
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("video_path", "poster_path", "vtt_path", "srt_path"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


@dataclass(frozen=True)
class VideoAdOutput:
    """Every format's ``Render`` plus the request's validation report (``ok``/``errors``/``warnings``)."""

    renders: list[Render]
    validation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"renders": [r.to_dict() for r in self.renders], "validation": self.validation}
