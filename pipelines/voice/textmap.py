"""Text rewriting that remembers where every spoken word came from.

The normalisers (text_vi.py, text_en.py) rewrite a script with a chain of regex substitutions
('249.000đ' -> 'hai trăm bốn mươi chín nghìn đồng'). ``Tracked`` runs the same substitutions
while keeping, for every output character, the range of *source* characters it came from, so
``spans()`` can hand back ``(source token(s), spoken words)`` pairs: captions show what the
script says and still get the time the spoken expansion takes.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

Repl = str | Callable[[re.Match[str]], str]
WORD_STRIP = ".,!?;:…\"'()“”‘’"
# emoji and pictographs (with their joiners, variation selectors, keycaps, flags, skin tones):
# never spoken — the normalisers drop them ("Sale 🔥 today" is said "Sale today")
PICTOGRAPH_RE = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2190-\u21ff\u2300-\u23ff\u25a0-\u25ff"
    "\ufe0e\ufe0f\u200d\u20e3\U000e0020-\U000e007f]+"
)
# digit strings that are identifiers, not amounts: a leading zero ("007", "0000000001") or 7+ digits
DIGIT_STRING_RE = re.compile(r"(?<![\d.,])(0\d+|\d{7,})(?![\d]|[.,]\d)")


def code_re(upper: str) -> re.Pattern[str]:
    """Reference / order / promo codes over the capital letters ``upper`` (a character-class body,
    'A-Z'): letter and digit groups joined by - / _ ("DH-2026-000123", "A12-B7"), or letters glued
    to 4+ digits ("INV004512")."""
    return re.compile(
        rf"(?<![\w.-])(?=[\w/-]*\d)(?=[\w/-]*[{upper}])[{upper}0-9]+(?:[-/_][{upper}0-9]+)+(?![\w-])"
        rf"|(?<![\w.-])[{upper}]{{1,4}}\d{{4,}}[{upper}]*(?![\w-])"
    )


def clean_word(word: str) -> str:
    """A caption word: surrounding punctuation removed ('Teal!' -> 'Teal'); never empty."""
    return word.strip(WORD_STRIP + " ") or word


class Tracked:
    """A string being rewritten, with the source range [lo, hi) behind each character."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.text = source
        self.origin: list[tuple[int, int]] = [(i, i + 1) for i in range(len(source))]

    def sub(self, pattern: re.Pattern[str] | str, repl: Repl) -> Tracked:
        """``re.sub`` on the current text; replaced characters inherit the match's source range
        (whole words the match and its replacement share at either end keep their own)."""
        pat = re.compile(pattern) if isinstance(pattern, str) else pattern
        s = self.text
        out: list[str] = []
        org: list[tuple[int, int]] = []
        pos = 0
        for m in pat.finditer(s):
            a, b = m.span()
            new = repl(m) if callable(repl) else m.expand(repl)
            out.append(s[pos:a])
            org.extend(self.origin[pos:a])
            out.append(new)
            org.extend(self.origin[a:b] if new == m.group(0) else self._replaced(a, b, new))
            pos = b
        if not out:
            return self
        out.append(s[pos:])
        org.extend(self.origin[pos:])
        self.text = "".join(out)
        self.origin = org
        return self

    def strip(self) -> Tracked:
        a = len(self.text) - len(self.text.lstrip())
        b = len(self.text.rstrip())
        self.text, self.origin = self.text[a:b], self.origin[a:b]
        return self

    def _range(self, a: int, b: int) -> tuple[int, int]:
        if b > a:
            span = self.origin[a:b]
            return min(o[0] for o in span), max(o[1] for o in span)
        if a > 0:  # an empty match: borrow the character before it
            return self.origin[a - 1]
        return self.origin[a] if a < len(self.origin) else (0, 0)

    def _replaced(self, a: int, b: int, new: str) -> list[tuple[int, int]]:
        old = self.text[a:b]
        n = min(len(old), len(new))
        p = 0  # common leading whole words ("in 2026" -> "in twenty twenty-six" keeps "in ")
        while p < n and old[p] == new[p]:
            p += 1
        p = max((i + 1 for i in range(p) if old[i].isspace()), default=0)
        q = 0  # common trailing whole words
        while q < n - p and old[-1 - q] == new[-1 - q]:
            q += 1
        q = max((q - i for i in range(q) if old[len(old) - q + i].isspace()), default=0)
        mid = self._range(a + p, b - q) if b - q > a + p else self._range(a, b)
        return [*self.origin[a : a + p], *([mid] * (len(new) - p - q)), *self.origin[b - q : b]]

    def spans(self) -> list[tuple[str, str]]:
        """``(source, spoken)`` pairs in order: every source token appears in exactly one pair
        (tokens a rewrite merged are joined by spaces), ``spoken`` is the words said for it
        ('' for a token that is not spoken)."""
        tokens = [m.group() for m in re.finditer(r"\S+", self.source)]
        if not tokens:
            return []
        starts = [m.start() for m in re.finditer(r"\S+", self.source)]
        ends = [m.end() for m in re.finditer(r"\S+", self.source)]
        found: list[tuple[int, int] | None] = []
        said: list[str] = []
        for m in re.finditer(r"\S+", self.text):
            span = self.origin[m.start() : m.end()]
            lo, hi = min(o[0] for o in span), max(o[1] for o in span)
            t0 = bisect.bisect_right(ends, lo)  # first token ending after lo
            t1 = bisect.bisect_left(starts, hi) - 1  # last token starting before hi
            found.append((t0, t1) if t0 <= t1 else None)
            said.append(m.group())
        known = [f for f in found if f is not None]
        prev = known[0] if known else (0, 0)
        groups: list[_Group] = []
        for f, word in zip(found, said, strict=True):
            lo, hi = prev = f or prev  # a word with no source of its own goes with the one before
            groups.append(_Group(lo, hi, [word]))
            while len(groups) > 1 and groups[-1].lo <= groups[-2].hi:  # same token(s), or reordered
                last = groups.pop()
                groups[-1].lo = min(groups[-1].lo, last.lo)
                groups[-1].hi = max(groups[-1].hi, last.hi)
                groups[-1].words += last.words
        out: list[tuple[str, str]] = []
        nxt = 0
        for g in groups:
            out.extend((t, "") for t in tokens[nxt : g.lo])
            first = max(g.lo, nxt)
            out.append((" ".join(tokens[first : g.hi + 1]), " ".join(g.words)))
            nxt = max(nxt, g.hi + 1)
        out.extend((t, "") for t in tokens[nxt:])
        return out


class _Group:
    __slots__ = ("lo", "hi", "words")

    def __init__(self, lo: int, hi: int, words: list[str]) -> None:
        self.lo, self.hi, self.words = lo, hi, words
