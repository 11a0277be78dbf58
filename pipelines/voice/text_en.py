"""English text normalisation for TTS: numbers, currency, ordinals, dates, times, phone numbers,
units and abbreviations. ``variant`` 'us' reads dates month-first and hundreds without 'and';
'gb' (also used for RP, Scottish, Caribbean voices) reads day-first with 'and'."""

from __future__ import annotations

import functools
import re
import unicodedata

from pipelines._common.errors import unknown_choice
from pipelines.voice.textmap import DIGIT_STRING_RE, PICTOGRAPH_RE, Tracked, code_re

VARIANTS = ("us", "gb")
_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((1_000_000_000_000, "trillion"), (1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"))
_ORD_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_LOOKUP = (
    {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
    | {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}
    | {"sept": 9}
)


def _variant(variant: str) -> str:
    v = variant.lower().strip()
    if v in ("en-us", "us", "nyc", "en-us-nyc"):
        return "us"
    if v in ("gb", "uk", "en-gb", "rp", "scotland", "caribbean", "wales", "lancs", "wmids", "ie"):
        return "gb"
    raise unknown_choice("English variant", variant, VARIANTS, field="variant")


def _below_thousand(n: int, gb: bool) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        t, u = divmod(n, 10)
        return _TENS[t] + (f"-{_ONES[u]}" if u else "")
    h, rest = divmod(n, 100)
    out = f"{_ONES[h]} hundred"
    if rest:
        out += (" and " if gb else " ") + _below_thousand(rest, gb)
    return out


def cardinal(n: int, variant: str = "us") -> str:
    """1234 -> 'one thousand two hundred thirty-four' (us) / '... two hundred and thirty-four' (gb)."""
    gb = _variant(variant) == "gb"
    if n < 0:
        return "minus " + cardinal(-n, variant)
    if n < 1000:
        return _below_thousand(n, gb)
    parts: list[str] = []
    for value, name in _SCALES:
        if n >= value:
            q, n = divmod(n, value)
            parts.append(f"{cardinal(q, variant)} {name}")
    if n:
        parts.append(("and " if gb and n < 100 else "") + _below_thousand(n, gb))
    return " ".join(parts)


def ordinal(n: int, variant: str = "us") -> str:
    """21 -> 'twenty-first'."""
    words = cardinal(n, variant)
    head, sep, last = words.rpartition("-") if "-" in words.split(" ")[-1] else words.rpartition(" ")
    if last in _ORD_IRREGULAR:
        last = _ORD_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def year_words(y: int, variant: str = "us") -> str:
    """2026 -> 'twenty twenty-six'; 2005 -> 'two thousand five'; 1900 -> 'nineteen hundred'."""
    if 2000 <= y <= 2009 or y < 1000 or y > 9999:
        return cardinal(y, variant)
    hi, lo = divmod(y, 100)
    if lo == 0:
        return f"{cardinal(hi, 'us')} hundred"
    return f"{cardinal(hi, 'us')} " + (f"oh {_ONES[lo]}" if lo < 10 else cardinal(lo, "us"))


def _digits(s: str, zero: str) -> str:
    return " ".join(zero if c == "0" else _ONES[int(c)] for c in s if c.isdigit())


def _number(s: str, variant: str) -> str:
    s = s.replace(",", "")
    if "." in s:
        whole, frac = s.split(".", 1)
        return f"{cardinal(int(whole or 0), variant)} point {_digits(frac, 'zero')}"
    return cardinal(int(s), variant)


_ABBREVIATIONS = [
    (r"\bMr\.", "Mister"), (r"\bMrs\.", "Missus"), (r"\bMs\.", "Miz"), (r"\bDr\.(?=\s[A-Z])", "Doctor"),
    (r"\bAve\.", "Avenue"), (r"\bBlvd\.", "Boulevard"),
    (r"\bRd\.", "Road"), (r"\bJr\.", "Junior"), (r"\bSr\.", "Senior"), (r"\betc\.", "et cetera"),
    (r"\be\.g\.", "for example"), (r"\bi\.e\.", "that is"), (r"\bvs\.?(?=\s)", "versus"),
    (r"\bapprox\.", "approximately"), (r"\bInc\.", "Incorporated"), (r"\bLtd\.", "Limited"),
    (r"\bCo\.(?=\s)", "Company"), (r"\bNo\.\s?(?=\d)", "number "), (r"#(?=\d)", "number "),
    (r"\bNYC\b", "New York City"), (r"\bw/(?=\s)", "with"), (r"\s&\s", " and "),
]  # fmt: skip
_ABBREVIATIONS_RE = [(re.compile(p), r) for p, r in _ABBREVIATIONS]
_SENTENCE_FINAL_ABBR = {"Street", "Avenue", "Boulevard", "Road", "Junior", "Senior", "et cetera", "Incorporated",
                        "Limited", "Company"}  # fmt: skip


def _expand(m: re.Match[str], rep: str) -> str:
    """Expand an abbreviation; its dot also ended the sentence when text ends or a capital follows."""
    if rep in _SENTENCE_FINAL_ABBR and m.group(0).endswith("."):
        rest = m.string[m.end() :]
        if not rest.strip() or re.match(r"\s+[A-Z]", rest):
            return rep + "."
    return rep


# "St." is Saint before a name ("St. Louis", "Visit St Andrews") and Street after one or after a
# house number ("12 Main St.", "Main St. Open daily"). Capitalised words that start sentences or
# are function words are not street names: "Visit St. Louis" is the saint.
_SAINT_STREET_RE = re.compile(r"\bSt(?:\.|(?=[\s,;:!?)]|$))")
_NOT_STREET_NAMES = {
    "a", "an", "the", "and", "or", "but", "in", "at", "on", "to", "from", "near", "by", "of", "for", "with", "via",
    "visit", "see", "meet", "welcome", "explore", "discover", "shop", "love", "enjoy", "celebrate", "happy",
    "fly", "come", "join", "find", "i", "we", "our", "your", "this", "my",
}  # fmt: skip
# "5 St. Mark's Place": a name that is itself followed by a place word is a saint's name
_SAINT_PLACES = {"Place", "Square", "Church", "Cathedral", "Abbey", "Chapel", "Day", "Hospital", "College",
                 "School", "Park", "Island", "Islands", "Bay", "Parish"}  # fmt: skip


def _saint_or_street(m: re.Match[str]) -> str:
    before, after = m.string[: m.start()], m.string[m.end() :]
    prev_m = re.search(r"(\S+)\s+$", before)
    prev = prev_m.group(1) if prev_m else ""
    nxt = re.match(r"\s+(\S+)(?:\s+(\S+))?", after)
    prev_is_name = (
        bool(prev)
        and not re.search(r"[.!?,;:(]$", prev)
        and (any(c.isdigit() for c in prev) or (prev[0].isupper() and prev.lower() not in _NOT_STREET_NAMES))
    )
    next_is_name = nxt is not None and nxt.group(1)[0].isupper()
    saint_place = nxt is not None and (nxt.group(2) or "").strip(".,!?;:") in _SAINT_PLACES
    if next_is_name and (saint_place or not prev_is_name):
        return "Saint"
    if m.group(0).endswith(".") and (not after.strip() or re.match(r"\s+[A-Z]", after)):
        return "Street."  # the abbreviation's dot also ended the sentence
    return "Street"


# letters outside Latin-1 (Vietnamese names in an English script: "Hội An") are spelled out by
# English voices ("aitch, letter one E D nine, eye"); speak them by their base letter instead
_FOREIGN_LETTER_RE = re.compile(r"[^\x00-\xff]")


def _fold_letter(m: re.Match[str]) -> str:
    c = m.group(0)
    if c in "đĐ":
        return "d" if c == "đ" else "D"
    if unicodedata.combining(c):
        return ""
    parts = unicodedata.normalize("NFD", c)
    if (
        len(parts) > 1
        and parts[0].isascii()
        and parts[0].isalpha()
        and all(unicodedata.combining(x) for x in parts[1:])
    ):
        return parts[0]
    return c


_UNITS = {
    "km/h": "kilometres per hour", "mph": "miles per hour", "kg": "kilograms", "g": "grams",
    "lbs": "pounds", "lb": "pounds", "oz": "ounces", "km": "kilometres", "mi": "miles", "cm": "centimetres",
    "mm": "millimetres", "m": "metres", "ml": "millilitres", "l": "litres", "ft": "feet", "GB": "gigabytes",
    "MB": "megabytes", "TB": "terabytes", "mAh": "milliamp hours", "°F": "degrees Fahrenheit",
    "°C": "degrees Celsius", "hrs": "hours", "hr": "hours", "min": "minutes", "sec": "seconds",
}  # fmt: skip
_US_SPELLING = {"kilometres": "kilometers", "centimetres": "centimeters", "millimetres": "millimeters",
                "metres": "meters", "millilitres": "milliliters", "litres": "liters"}  # fmt: skip
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}  # fmt: skip
_MONEY_RE = re.compile(rf"([$£€])\s?({_NUM})(?:\s?(million|billion|thousand|[kKmMbB]n?)\b)?")
# phone numbers: US "(555) 123-4567", "555-123-4567"; UK "020 7946 0958", "01632 960123",
# "+44 20 7946 0958", "(028) 3822-1234": an area group (0-led, parenthesised or 3 digits) then
# 1-3 groups; 9-12 digits in all (checked in the callback, so "100-200" stays a range)
_PHONE_RE = re.compile(r"(?<![\w.,+])(\+\d{1,3}[\s.\-]?)?(\(0?\d{1,4}\)|\d{1,5})((?:[\s.\-]\d{2,6}){1,3})(?![\d\w])")
# reference / order / promo codes ("DH-2026-000123456789", "INV004512"): read group by group,
# digits one by one
_CODE_RE = code_re("A-Z")
_TIMES_RE = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)\s?[x×](?![\w])")
_BY_RE = re.compile(r"(?<![\w.,])(\d+)\s?[x×]\s?(\d+)(?![\w])")
_DATE_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])")
# a yearless "3/31" only after a word that announces a date ("ends 3/31", "until 24/12"), so
# fractions and ratios ("1/2 price", "24/7") stay as they are
_SHORT_DATE_RE = re.compile(
    r"\b(ends?|ending|until|till|thru|through|by|before|after|from|on|expires?|valid to)\s"
    r"(\d{1,2})/(\d{1,2})(?![\d/])",
    re.IGNORECASE,
)
_ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MONTH_DAY_RE = re.compile(
    r"\b("
    + "|".join(sorted(_MONTH_LOOKUP, key=len, reverse=True))
    + r")\.?\s(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s(\d{4}))?",
    re.IGNORECASE,
)
_DAY_MONTH_RE = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s(" + "|".join(m for m in MONTHS) + r")\b(?:\s(\d{4}))?", re.IGNORECASE
)
_TIME_RE = re.compile(r"(?<![\d.])(\d{1,2}):(\d{2})\s?([aApP])?\.?([mM])?\.?(?=\W|$)")
_AMPM_RE = re.compile(r"(?<![\d.])(\d{1,2})\s?([aApP])\.?[mM]\.?(?=\W|$)")
_ORDINAL_RE = re.compile(r"(?<![\d.,])(\d+)(st|nd|rd|th)\b")
_PERCENT_RE = re.compile(rf"(?<![\d.,])({_NUM})\s?%")
_UNIT_RE = re.compile(
    rf"(?<![\d.,])({_NUM})\s?({'|'.join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))})(?![\w])"
)
_YEAR_CONTEXT_RE = re.compile(
    r"\b(in|since|from|by|until|till|of|year|before|after|class of)\s((?:1[1-9]|20)\d\d)\b(?!,\d|\s?[-–]\s?\d)", re.I
)
_RANGE_RE = re.compile(rf"(?<![\d.,])({_NUM})\s?[-–]\s?({_NUM})(?![\d])")
_NUMBER_RE = re.compile(rf"(?<![\d.,])({_NUM})(?![\d])")


def _money(m: re.Match[str], variant: str) -> str:
    sym, amount, scale = m.group(1), m.group(2).replace(",", ""), m.group(3)
    one, many, cent, cents = _CURRENCY[sym]
    if scale:
        word = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion"}.get(scale.lower(), scale.lower())
        return f"{_number(amount, variant)} {word} {many}"
    whole_s, _, frac_s = amount.partition(".")
    whole = int(whole_s or 0)
    frac = int(frac_s.ljust(2, "0")[:2]) if frac_s else 0
    parts = []
    if whole or not frac:
        parts.append(f"{cardinal(whole, variant)} {one if whole == 1 else many}")
    if frac:
        parts.append(f"{cardinal(frac, variant)} {cent if frac == 1 else cents}")
    return " and ".join(parts)


def _date_words(day: int, month: int, year: int | None, variant: str) -> str:
    if variant == "gb":
        out = f"the {ordinal(day, variant)} of {MONTHS[month - 1]}"
        return out + (f" {year_words(year, variant)}" if year else "")
    out = f"{MONTHS[month - 1]} {ordinal(day, variant)}"
    return out + (f", {year_words(year, variant)}" if year else "")


def _code_words(code: str, zero: str) -> str:
    """'DH-2026-000123' -> 'D H, two oh two six, oh oh oh one two three': letters of a short or
    vowel-less run one by one, a word-like run ('SAVE') as the word, digits one by one."""
    groups = []
    for g in re.split(r"[-/_]", code):
        parts = []
        for run in re.findall(r"[A-Za-z]+|\d+", g):
            if run.isdigit():
                parts.append(_digits(run, zero))
            elif len(run) <= 3 or not re.search(r"[aeiouyAEIOUY]", run):
                parts.append(" ".join(run.upper()))
            else:
                parts.append(run)
        groups.append(" ".join(parts))
    return ", ".join(g for g in groups if g)


def normalize_en(text: str, variant: str = "us") -> str:
    """Rewrite an English script into words: '$19.99' -> 'nineteen dollars and ninety-nine cents'."""
    return _normalize_en(text, variant).text


def normalize_en_spans(text: str, variant: str = "us") -> list[tuple[str, str]]:
    """``normalize_en`` as ``(source token(s), spoken words)`` pairs, in order:
    'Only $5 today' -> [('Only', 'Only'), ('$5', 'five dollars'), ('today', 'today')]."""
    return _normalize_en(text, variant).spans()


def _normalize_en(text: str, variant: str) -> Tracked:
    v = _variant(variant)
    t = Tracked(unicodedata.normalize("NFC", text))
    t.sub(PICTOGRAPH_RE, " ")
    t.sub(r"[ \t\u00a0]+", " ").strip()
    t.sub(_FOREIGN_LETTER_RE, _fold_letter)
    t.sub(_SAINT_STREET_RE, _saint_or_street)
    for pat, rep in _ABBREVIATIONS_RE:
        t.sub(pat, functools.partial(_expand, rep=rep))

    zero = "zero" if v == "us" else "oh"

    def phone(m: re.Match[str]) -> str:
        prefix = m.group(1) or ""
        groups = [g for g in re.split(r"[\s.\-()]+", m.group(2) + m.group(3)) if g]
        n = sum(len(g) for g in groups)
        area = m.group(2)
        us_style = len(area) == 3 and n == 10 and len(groups) == 3  # 555-123-4567
        us_trunk = [len(g) for g in groups] == [1, 3, 3, 4] and area == "1"  # 1-800-555-0199
        if not 9 <= n <= 12 or not (prefix or area.startswith(("0", "(")) or us_style or us_trunk):
            return m.group(0)  # not a phone number (a range, a date, an amount): later rules
        head = f"plus {_digits(prefix, zero)}, " if prefix else ""
        return head + ", ".join(_digits(g, zero) for g in groups)

    t.sub(_PHONE_RE, phone)
    t.sub(_CODE_RE, lambda m: _code_words(m.group(0), zero))
    t.sub(r"(?<=[A-Za-z]{3})(?=\d{1,3}\b)", " ")  # "SAVE20" -> "SAVE 20" ("mp3" stays)

    def iso(m: re.Match[str]) -> str:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return _date_words(d, mo, y, v) if 1 <= mo <= 12 and 1 <= d <= 31 else m.group(0)

    t.sub(_ISO_DATE_RE, iso)

    def date(m: re.Match[str]) -> str:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        y = y + 2000 if len(m.group(3)) == 2 else y
        mo, d = (a, b) if v == "us" else (b, a)
        return _date_words(d, mo, y, v) if 1 <= mo <= 12 and 1 <= d <= 31 else m.group(0)

    t.sub(_DATE_RE, date)

    def short_date(m: re.Match[str]) -> str:
        a, b = int(m.group(2)), int(m.group(3))
        mo, d = (a, b) if v == "us" else (b, a)
        ok = 1 <= mo <= 12 and 1 <= d <= 31
        return f"{m.group(1)} {_date_words(d, mo, None, v)}" if ok else m.group(0)

    t.sub(_SHORT_DATE_RE, short_date)

    def month_day(m: re.Match[str]) -> str:
        mo, d = _MONTH_LOOKUP[m.group(1).lower()], int(m.group(2))
        if not 1 <= d <= 31:
            return m.group(0)
        return _date_words(d, mo, int(m.group(3)) if m.group(3) else None, v)

    t.sub(_MONTH_DAY_RE, month_day)
    t.sub(
        _DAY_MONTH_RE,
        lambda m: (
            _date_words(int(m.group(1)), _MONTH_LOOKUP[m.group(2).lower()], int(m.group(3)) if m.group(3) else None, v)
            if 1 <= int(m.group(1)) <= 31
            else m.group(0)
        ),
    )

    def time(m: re.Match[str]) -> str:
        h, mi = int(m.group(1)), int(m.group(2))
        if h > 24 or mi > 59:
            return m.group(0)
        ampm = f" {m.group(3).lower()} m" if m.group(3) else ""
        if mi == 0:
            return f"{cardinal(h)}{ampm}" if ampm else f"{cardinal(h)} o'clock"
        mins = f"oh {_ONES[mi]}" if mi < 10 else cardinal(mi)
        return f"{cardinal(h)} {mins}{ampm}"

    t.sub(_TIME_RE, time)
    t.sub(_AMPM_RE, lambda m: f"{cardinal(int(m.group(1)))} {m.group(2).lower()} m")
    t.sub(_MONEY_RE, lambda m: _money(m, v))
    t.sub(_PERCENT_RE, lambda m: f"{_number(m.group(1), v)} percent")

    def unit(m: re.Match[str]) -> str:
        name = _UNITS[m.group(2)]
        if v == "us":
            name = " ".join(_US_SPELLING.get(w, w) for w in name.split())
        if m.group(1) == "1":
            name = {"feet": "foot", "hours": "hour", "minutes": "minute", "seconds": "second"}.get(
                name, name[:-1] if name.endswith("s") and " " not in name else name
            )
        return f"{_number(m.group(1), v)} {name}"

    t.sub(_UNIT_RE, unit)
    t.sub(_ORDINAL_RE, lambda m: ordinal(int(m.group(1)), v))
    t.sub(_YEAR_CONTEXT_RE, lambda m: f"{m.group(1)} {year_words(int(m.group(2)), v)}")
    t.sub(_BY_RE, lambda m: f"{_number(m.group(1), v)} by {_number(m.group(2), v)}")
    t.sub(_TIMES_RE, lambda m: f"{_number(m.group(1), v)} times")
    t.sub(DIGIT_STRING_RE, lambda m: _digits(m.group(1), zero))

    def num_range(m: re.Match[str]) -> str:
        a, b = m.group(1), m.group(2)
        plain = re.fullmatch(r"\d+", a) and re.fullmatch(r"\d+", b)
        if plain and 1100 <= int(a) < int(b) <= 2099 and len(a) == len(b) == 4:
            return f"{year_words(int(a), v)} to {year_words(int(b), v)}"  # "1990-2000"
        if plain and (a.startswith("0") or b.startswith("0") or (int(a) >= int(b) and len(a) >= 3)):
            return ", ".join(_digits(g, zero) for g in (a, b))  # "3822-1234": digit groups, not a range
        return f"{_number(a, v)} to {_number(b, v)}"

    t.sub(_RANGE_RE, num_range)
    t.sub(_NUMBER_RE, lambda m: _number(m.group(1), v))
    t.sub(r"[ \t]+", " ")
    t.sub(r" +([.,!?;:])", r"\1")
    return t.strip()
