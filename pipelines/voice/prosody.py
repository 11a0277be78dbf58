"""Light prosody markup in scripts: ``[pause 300ms]`` / ``[pause 1.5s]`` / ``[pause]`` and
``*emphasis*``; plus the character check and sentence chunking used before synthesis."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pipelines._common.errors import PipelineInputError
from pipelines.voice.textmap import PICTOGRAPH_RE

DEFAULT_PAUSE_S = 0.4
_MARKUP_RE = re.compile(r"\[([^\[\]]*)\]|\*([^*]+)\*")
_PAUSE_RE = re.compile(r"^\s*pause(?:\s+(\d+(?:\.\d+)?)\s*(ms|s)?)?\s*$", re.IGNORECASE)
_ALLOWED_PUNCT = set(".,!?;:'\"“”‘’()-–—…/%&+$€£₫°²³#@*\n\r\t ")
MARKUP_HELP = "[pause 300ms], [pause 1s], *emphasis*"


@dataclass(frozen=True)
class Segment:
    """A run of script text spoken in one go, optional emphasis, then a pause (seconds)."""

    text: str
    emphasis: bool = False
    pause_after: float = 0.0


def parse_markup(script: str, *, max_pause_s: float = 5.0) -> list[Segment]:
    """Split a script into segments at pause marks and emphasis spans."""
    segments: list[Segment] = []
    pos = 0

    def add_text(t: str, emphasis: bool = False) -> None:
        if t.strip():
            segments.append(Segment(t.strip(), emphasis))

    def add_pause(seconds: float) -> None:
        if segments:
            last = segments[-1]
            segments[-1] = Segment(last.text, last.emphasis, last.pause_after + seconds)
        else:
            segments.append(Segment("", False, seconds))

    for m in _MARKUP_RE.finditer(script):
        add_text(script[pos : m.start()])
        pos = m.end()
        if m.group(2) is not None:
            add_text(m.group(2), emphasis=True)
            continue
        pm = _PAUSE_RE.match(m.group(1))
        if pm is None:
            raise PipelineInputError(
                f"unknown markup [{m.group(1)}] in script; allowed markup: {MARKUP_HELP}", field="text"
            )
        value = float(pm.group(1)) if pm.group(1) else DEFAULT_PAUSE_S * 1000
        unit = (pm.group(2) or ("ms" if pm.group(1) is None or value > 20 else "s")).lower()
        seconds = value / 1000.0 if unit == "ms" else value
        if seconds > max_pause_s:
            raise PipelineInputError(
                f"pause of {seconds:g}s is too long; the maximum pause is {max_pause_s:g}s", field="text"
            )
        add_pause(seconds)
    add_text(script[pos:])
    return segments


def plain_text(script: str) -> str:
    """The script without markup (what gets spoken)."""
    return re.sub(r"\s+", " ", _MARKUP_RE.sub(lambda m: f" {m.group(2) or ''} ", script)).strip()


def check_characters(text: str) -> None:
    """Refuse characters no engine can speak (emoji, CJK, control chars), naming them."""
    bad: list[str] = []
    for ch in text:
        if ch.isdigit() and ch.isascii():
            continue
        if ch in _ALLOWED_PUNCT:
            continue
        if unicodedata.category(ch).startswith("L") and "LATIN" in unicodedata.name(ch, ""):
            continue
        if unicodedata.category(ch) == "Mn":  # combining marks of decomposed Vietnamese text
            continue
        if PICTOGRAPH_RE.fullmatch(ch):  # emoji: dropped by the normalisers, never spoken
            continue
        if ch not in bad:
            bad.append(ch)
    if bad:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in bad[:10])
        raise PipelineInputError(
            f"unsupported characters in text: {shown}; allowed: Latin letters (including Vietnamese), "
            f"digits, spaces and common punctuation {''.join(sorted(_ALLOWED_PUNCT - set(chr(10) + chr(13) + chr(9))))}",
            field="text",
        )


_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_sentences(text: str, max_chars: int = 280) -> list[str]:
    """Sentences of ``text``; over-long ones are cut at commas, then at spaces."""
    out: list[str] = []
    for sent in _SENTENCE_RE.split(text):
        sent = sent.strip()
        if not sent:
            continue
        while len(sent) > max_chars:
            cut = sent.rfind(",", 0, max_chars)
            if cut < max_chars // 3:
                cut = sent.rfind(" ", 0, max_chars)
            if cut <= 0:
                cut = max_chars
            out.append(sent[: cut + 1].strip())
            sent = sent[cut + 1 :].strip()
        if sent:
            out.append(sent)
    return out
