"""Captions from the voiceover's sentence/word timings: cues, WebVTT, SRT, burned-in state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Timing = tuple[str, float, float]


@dataclass(frozen=True)
class Cue:
    """One caption on screen: text, times (seconds in the ad) and its words' times."""

    start: float
    end: float
    text: str
    words: tuple[Timing, ...] = ()


def _chunk_words(words: list[Timing], max_chars: int) -> list[list[Timing]]:
    chunks: list[list[Timing]] = []
    cur: list[Timing] = []
    for w in words:
        if cur and len(" ".join(x[0] for x in [*cur, w])) > max_chars:
            chunks.append(cur)
            cur = []
        cur.append(w)
    if cur:
        chunks.append(cur)
    return chunks


def build_cues(
    sentences: Sequence[Timing],
    words: Sequence[Timing],
    *,
    offset: float = 0.0,
    max_chars: int = 42,
    end_limit: float | None = None,
) -> list[Cue]:
    """One cue per sentence, split at word boundaries when longer than ``max_chars``."""
    cues: list[Cue] = []
    for text, s0, s1 in sentences:
        inside = [w for w in words if w[1] >= s0 - 0.05 and w[2] <= s1 + 0.05]
        if len(text) > max_chars and inside:
            for chunk in _chunk_words(inside, max_chars):
                cues.append(
                    Cue(
                        chunk[0][1] + offset,
                        chunk[-1][2] + offset,
                        " ".join(w[0] for w in chunk),
                        tuple((w[0], w[1] + offset, w[2] + offset) for w in chunk),
                    )
                )
        else:
            cues.append(
                Cue(s0 + offset, s1 + offset, text.strip(), tuple((w[0], w[1] + offset, w[2] + offset) for w in inside))
            )
    # Keep cues from overlapping and inside the video.
    fixed: list[Cue] = []
    for i, cue in enumerate(cues):
        end = cue.end
        if i + 1 < len(cues):
            end = min(end, cues[i + 1].start)
        if end_limit is not None:
            end = min(end, end_limit)
        if end > cue.start:
            fixed.append(Cue(cue.start, end, cue.text, cue.words))
    return fixed


def _ts(t: float, sep: str) -> str:
    ms = int(round(max(t, 0.0) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_webvtt(cues: Sequence[Cue]) -> str:
    lines = ["WEBVTT", ""]
    for i, c in enumerate(cues, 1):
        lines += [str(i), f"{_ts(c.start, '.')} --> {_ts(c.end, '.')}", c.text, ""]
    return "\n".join(lines)


def to_srt(cues: Sequence[Cue]) -> str:
    lines: list[str] = []
    for i, c in enumerate(cues, 1):
        lines += [str(i), f"{_ts(c.start, ',')} --> {_ts(c.end, ',')}", c.text, ""]
    return "\n".join(lines)


def caption_state(cues: Sequence[Cue], t: float, style: str) -> tuple[int, int] | None:
    """(cue index, highlighted word index or -1) shown at time ``t``; None when no caption."""
    for i, c in enumerate(cues):
        if c.start <= t < c.end:
            if style != "words":
                return (i, -1)
            word = -1
            for wi, (_, ws, _we) in enumerate(c.words):
                if ws <= t:
                    word = wi
            return (i, word)
    return None
