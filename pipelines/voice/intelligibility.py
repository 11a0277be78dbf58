"""Word error rate (WER) of a voice as heard by a speech recogniser: the scoring half of
bench/voice.py's intelligibility benchmark (the recogniser itself, faster-whisper, is a bench
extra and never imported here).

Reference and transcript are both brought to the same spoken form before they are compared:
the script and the transcript go through ``normalize_en`` (so "$89.99", "89.99 dollars" and
"eighty-nine dollars and ninety-nine cents" all become the same words), digits that survive are
spelled out with num2words, then case, punctuation and hyphens are dropped and the spoken
variants of zero ("oh", "zero", "o") are merged. WER = (substitutions + deletions + insertions) /
reference words (jiwer; it and num2words come with the ``bench`` extra).
"""

from __future__ import annotations

import re
import unicodedata

from pipelines.voice.text_en import normalize_en

_ZERO = {"oh": "zero", "o": "zero", "nought": "zero"}
_FILLER = {"and"}  # "one hundred and five" vs "one hundred five": a style, not an error


def spoken_words(text: str, variant: str = "us") -> list[str]:
    """Canonical word list for scoring: 'Only $5, call 020!' -> ['only', 'five', 'dollars', 'call', 'zero', 'two', 'zero']."""
    from num2words import num2words

    t = unicodedata.normalize("NFC", text)
    # "89.99 dollars" (a transcript's way) is the script's "$89.99"
    t = re.sub(r"(\d[\d,]*(?:\.\d\d)?)\s?(dollars?|pounds?|euros?)\b",
               lambda m: {"d": "$", "p": "£", "e": "€"}[m.group(2)[0]] + m.group(1), t, flags=re.I)  # fmt: skip
    # transcript spellings of the same spoken words: "6.30pm" is "6:30 pm", "O2" is "oh two"
    t = re.sub(r"\b(\d{1,2})[.:](\d{2})\s?([ap])\.?m\b\.?", r"\1:\2 \3m", t, flags=re.I)
    t = re.sub(r"(?<=\b[Oo])(?=\d)", " ", t)
    t = re.sub(r"\b\d(?:-\d)+\b", lambda m: m.group().replace("-", " "), t)  # "0-7-9-4" read digit by digit
    t = re.sub(r"\b([a-z]{1,3})(\d{4,})\b", lambda m: m.group(1).upper() + m.group(2), t)  # "dh20264519": a code
    t = normalize_en(t, variant)
    t = re.sub(
        r"\d+(?:\.\d+)?", lambda m: " " + num2words(float(m.group()) if "." in m.group() else int(m.group())) + " ", t
    )
    t = t.lower().replace("-", " ").replace("’", "'")
    words = re.findall(r"[a-z0-9']+", t)
    return [_ZERO.get(w, w) for w in (w.strip("'") for w in words) if w and w not in _FILLER]


def word_error_rate(reference: str, hypothesis: str, variant: str = "us") -> float:
    """WER of ``hypothesis`` (a transcript) against ``reference`` (the script), both brought to
    spoken words by ``spoken_words``; 0.0 = every word heard, can exceed 1.0 with insertions."""
    ref, hyp = spoken_words(reference, variant), spoken_words(hypothesis, variant)
    if not ref:
        raise ValueError("reference has no words to score against")
    import jiwer

    return float(jiwer.wer(" ".join(ref), " ".join(hyp))) if hyp else 1.0
