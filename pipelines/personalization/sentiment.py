"""Lexicon sentiment for short customer messages in Vietnamese and English (level 5, emotion).

Why a lexicon and not a model: no sentiment weights are obtainable here, messages are short
(a review line, a support chat), and every decision must be explainable — the reason lists the
exact words that moved the score. Vietnamese is matched with and without diacritics ("thất vọng"
and "that vong" both count; "đ" folds to "d"), multi-syllable phrases longest-first. Negators
("không", "chẳng", "chưa", "ko", "not", "never", "n't" ...) flip the polarity of the next
sentiment term within three tokens; intensifiers ("rất", "quá", "lắm", "very", "so" ...) scale
it by 1.5, before the term or — the Vietnamese way, "chậm quá" — right after it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# fmt: off
# term -> polarity in [-1, 1]. Arousal marks words that signal excitement (energetic tone).
_VI_TERMS: dict[str, float] = {
    # positive
    "tuyệt vời": 1.0, "tuyệt": 0.9, "xuất sắc": 1.0, "thích": 0.6, "rất thích": 0.8, "yêu": 0.8,
    "mê": 0.8, "đẹp": 0.6, "xinh": 0.6, "tốt": 0.6, "hài lòng": 0.7, "ưng": 0.7, "ưng ý": 0.8,
    "chất lượng": 0.4, "nhanh": 0.4, "ổn": 0.3, "được": 0.1, "hay": 0.5, "vui": 0.6, "cảm ơn": 0.4,
    "đáng tiền": 0.8, "xịn": 0.8, "chuẩn": 0.5, "hợp": 0.4, "sẽ mua": 0.6, "mua thêm": 0.6,
    "đỉnh": 0.9, "hết nước chấm": 0.9, "quá đã": 0.9, "tươi": 0.4,
    # negative
    "thất vọng": -0.9, "tệ": -0.8, "dở": -0.7, "xấu": -0.6, "chậm": -0.5, "lỗi": -0.6,
    "hỏng": -0.7, "rách": -0.7, "phai màu": -0.6, "bực": -0.8, "bực mình": -0.8, "tức": -0.7,
    "buồn": -0.5, "đắt": -0.4, "mắc": -0.4, "chán": -0.6, "kém": -0.6, "sai": -0.5,
    "trả hàng": -0.5, "hoàn tiền": -0.5, "không nhận được": -0.8, "lâu": -0.3, "vỡ": -0.7,
    "lừa đảo": -1.0, "phí tiền": -0.8, "khó chịu": -0.7, "lo": -0.3, "mệt": -0.4,
}
_EN_TERMS: dict[str, float] = {
    # positive
    "love": 0.8, "loved": 0.8, "amazing": 1.0, "awesome": 0.9, "great": 0.7, "good": 0.5,
    "nice": 0.5, "excellent": 0.9, "perfect": 0.9, "happy": 0.7, "fantastic": 0.9, "brilliant": 0.9,
    "gorgeous": 0.8, "beautiful": 0.7, "fast": 0.4, "quick": 0.4, "thanks": 0.4, "thank you": 0.4,
    "recommend": 0.6, "cool": 0.5, "wicked": 0.7, "lovely": 0.7, "cute": 0.5, "fab": 0.8,
    "fire": 0.7, "obsessed": 0.8, "can't wait": 0.8, "cant wait": 0.8, "excited": 0.8, "wow": 0.7,
    "like": 0.4, "pleased": 0.6, "worth it": 0.7, "well made": 0.6, "irie": 0.7, "bonnie": 0.6,
    # negative
    "disappointed": -0.9, "disappointing": -0.9, "terrible": -1.0, "awful": -1.0, "bad": -0.6,
    "poor": -0.6, "slow": -0.5, "late": -0.4, "broken": -0.8, "broke": -0.6, "faded": -0.6,
    "refund": -0.5, "return": -0.3, "angry": -0.8, "annoyed": -0.7, "frustrated": -0.8,
    "worst": -1.0, "hate": -0.9, "expensive": -0.4, "pricey": -0.3, "wrong": -0.5, "damaged": -0.8,
    "never arrived": -0.9, "still waiting": -0.6, "rubbish": -0.8, "scam": -1.0, "sad": -0.5,
    "problem": -0.5, "issue": -0.4, "ripped": -0.7, "useless": -0.8, "worried": -0.4, "unsure": -0.2,
}
_HIGH_AROUSAL = {
    "tuyệt vời", "xuất sắc", "mê", "đỉnh", "hết nước chấm", "quá đã", "xịn", "yêu",
    "amazing", "awesome", "fantastic", "brilliant", "obsessed", "can't wait", "cant wait", "excited",
    "wow", "fire", "fab", "wicked", "love", "loved",
}
_NEGATORS = {
    "không", "chẳng", "chả", "chưa", "đừng", "ko", "k", "hok", "hông", "khong", "chang", "chua", "dung",
    "not", "no", "never", "dont", "don't", "doesnt", "doesn't", "isnt", "isn't", "wasnt", "wasn't",
    "didnt", "didn't", "cannot", "hardly", "nor", "aint", "ain't",
}
_INTENSIFIERS = {
    "rất": 1.5, "quá": 1.5, "lắm": 1.5, "cực": 1.6, "cực kỳ": 1.7, "siêu": 1.6, "hơi": 0.6, "khá": 0.8,
    "very": 1.5, "so": 1.5, "really": 1.5, "super": 1.6, "extremely": 1.7, "totally": 1.4,
    "absolutely": 1.6, "well": 1.2, "proper": 1.3, "pretty": 0.8, "bit": 0.6, "slightly": 0.6,
}
_POST_INTENSIFIERS = {"quá", "lắm", "thế", "ghê", "vãi"}  # "chậm quá": the intensifier follows
# fmt: on
_NEGATION_WINDOW = 3
_MAX_NGRAM = 3

# Diacritic-free Vietnamese ("that vong qua") is matched through folded forms, but folded
# single syllables collide with English words ("dở" -> "do", "mê" -> "me", "ổn" -> "on"), so the
# folded fallback is used only when a diacritic-free message reads more Vietnamese than English.
_EN_FUNCTION = {
    "the",
    "i",
    "my",
    "it",
    "is",
    "was",
    "a",
    "an",
    "and",
    "to",
    "of",
    "you",
    "this",
    "me",
    "for",
    "but",
    "so",
    "with",
    "on",
    "do",
    "have",
    "are",
    "at",
    "in",
    "that",
    "just",
    "your",
    "its",
    "it's",
}
_VI_FUNCTION_FOLDED = {
    "qua",
    "khong",
    "rat",
    "hang",
    "cua",
    "toi",
    "minh",
    "em",
    "anh",
    "chi",
    "ban",
    "la",
    "va",
    "nhung",
    "da",
    "roi",
    "nay",
    "thi",
    "giao",
    "mua",
    "ao",
    "mau",
    "cai",
    "nhe",
    "nha",
    "oi",
    "shop",
    "voi",
}
_VI_LETTERS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")

_CLAUSE_RE = re.compile(r"[,.;:!?\n]+")
_BREAK = "|"
_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case and strip diacritics ("Thất vọng" -> "that vong", "đỏ" -> "do")."""
    text = text.lower().replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


_Index = dict[tuple[str, ...], tuple[str, float]]


def _build_index(terms: dict[str, float], *, folded: bool) -> _Index:
    index: _Index = {}
    for term, polarity in terms.items():
        key = fold(term) if folded else unicodedata.normalize("NFC", term.lower())
        index.setdefault(tuple(key.split()), (term, polarity))
    return index


_TERM_INDEX = _build_index({**_VI_TERMS, **_EN_TERMS}, folded=False)
_FOLDED_INDEX = _build_index(_VI_TERMS, folded=True)
_NEGATOR_KEYS = {unicodedata.normalize("NFC", n) for n in _NEGATORS} | {fold(n) for n in _NEGATORS}
_INTENSIFIER_KEYS = {**{fold(k): v for k, v in _INTENSIFIERS.items()}, **_INTENSIFIERS}
_POST_KEYS = _POST_INTENSIFIERS | {fold(k) for k in _POST_INTENSIFIERS}


@dataclass(frozen=True)
class Hit:
    """One matched sentiment term: as written, the lexicon entry, final signed weight."""

    text: str
    term: str
    weight: float
    negated: bool = False


@dataclass(frozen=True)
class Sentiment:
    """Score in [-1, 1] (mean of hit weights, clipped), arousal in [0, 1], and the evidence."""

    score: float
    arousal: float
    hits: tuple[Hit, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        if self.score <= -0.2:
            return "negative"
        if self.score >= 0.2:
            return "positive"
        return "neutral"

    def evidence(self) -> str:
        """Short human text of the matched words, e.g. "'chậm quá' (-0.75), 'not good' (-0.5)"."""
        parts = [f"'{h.text}'{' (negated)' if h.negated else ''} {h.weight:+.2f}" for h in self.hits]
        return ", ".join(parts) or "no sentiment words"


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (NFC), keeping English contractions ("don't") whole."""
    norm = unicodedata.normalize("NFC", text.lower()).replace("’", "'")
    return _TOKEN_RE.findall(norm)


def analyze(text: str | None) -> Sentiment:
    """Score a message. Empty text scores neutral with no hits."""
    if not text or not text.strip():
        return Sentiment(0.0, 0.0, ())
    # Negation and intensity do not cross clause punctuation ("đừng lo, tuyệt vời" is positive).
    tokens = [tok for clause in _CLAUSE_RE.split(text) for tok in (*tokenize(clause), _BREAK)]
    folded = [fold(t) for t in tokens]
    use_folded = _reads_vietnamese(tokens, folded)
    hits: list[Hit] = []
    arousal_hits = 0
    i = 0
    last_negator = -100
    pending_intensity = 1.0
    pending_at = -100
    while i < len(tokens):
        match = None
        for n in range(min(_MAX_NGRAM, len(tokens) - i), 0, -1):
            key = tuple(tokens[i : i + n])
            entry = _TERM_INDEX.get(key)
            # Folded lookup only for tokens typed without diacritics: "hồng" (pink) must not
            # match "hỏng" (broken) through their shared folded form "hong".
            if entry is None and use_folded and tokens[i : i + n] == folded[i : i + n]:
                entry = _FOLDED_INDEX.get(tuple(folded[i : i + n]))
            if entry is not None:
                match = (n, entry)
                break
        if match is None:
            tok, ftok = tokens[i], folded[i]
            if tok == _BREAK:
                last_negator = pending_at = -100
                i += 1
                continue
            plain = use_folded and tok == ftok  # folded forms only for diacritic-free tokens ("dùng" != "đừng")
            if tok in _NEGATOR_KEYS or (plain and ftok in _NEGATOR_KEYS):
                last_negator = i
            elif tok in _INTENSIFIER_KEYS or (plain and ftok in _INTENSIFIER_KEYS):
                pending_intensity = _INTENSIFIER_KEYS.get(tok, _INTENSIFIER_KEYS.get(ftok, 1.0))
                pending_at = i
            i += 1
            continue
        n, (term, polarity) = match
        weight = polarity
        if i - pending_at <= 2:
            weight *= pending_intensity
        nxt = i + n
        if nxt < len(tokens) and (
            tokens[nxt] in _POST_KEYS or (use_folded and tokens[nxt] == folded[nxt] and folded[nxt] in _POST_KEYS)
        ):
            weight *= 1.5
            nxt += 1  # consumed: it must not also intensify the next term
        negated = 0 < i - last_negator <= _NEGATION_WINDOW
        if negated:
            weight = -weight * 0.8  # "not bad" is milder than "good"
            last_negator = -100
        if term in _HIGH_AROUSAL and not negated:
            arousal_hits += 1
        hits.append(Hit(" ".join(tokens[i : i + n]), term, round(max(-1.5, min(1.5, weight)), 3), negated))
        i = nxt
    if not hits:
        exclaim = min(1.0, text.count("!") * 0.25)
        return Sentiment(0.0, exclaim, ())
    score = max(-1.0, min(1.0, sum(h.weight for h in hits) / len(hits)))
    arousal = min(
        1.0,
        0.35 * arousal_hits + 0.2 * text.count("!") + (0.2 if any(abs(h.weight) > 1 for h in hits) else 0),
    )
    return Sentiment(round(score, 3), round(arousal, 3), tuple(hits))


def _reads_vietnamese(tokens: list[str], folded: list[str]) -> bool:
    """True when folded (diacritic-free) Vietnamese matching is safe for this message."""
    if any(ch in _VI_LETTERS for tok in tokens for ch in tok):
        return True
    vi = sum(1 for f in folded if f in _VI_FUNCTION_FOLDED)
    en = sum(1 for t in tokens if t in _EN_FUNCTION)
    return vi > en
