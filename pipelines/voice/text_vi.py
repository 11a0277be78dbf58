"""Vietnamese text normalisation for TTS, dialect-aware.

Numbers are read the way each region says them: ``nghìn`` (north) vs ``ngàn`` (central/south),
``linh`` (north) vs ``lẻ`` (central/south) for a zero tens digit, ``mốt``/``tư``/``lăm`` after
``mươi`` (``nhăm`` in colloquial northern speech). Prices, percentages, dates, times, phone
numbers (digit by digit), units and common abbreviations become words, so every engine — and
every accent — says the same script the way a local would.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pipelines._common.errors import PipelineInputError, unknown_choice
from pipelines.voice.textmap import DIGIT_STRING_RE, PICTOGRAPH_RE, Tracked, code_re

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")


@dataclass(frozen=True)
class Dialect:
    thousand: str  # nghìn / ngàn
    odd: str  # linh / lẻ: 105 = một trăm linh năm / một trăm lẻ năm
    five: str  # 25 = hai mươi lăm / hai mươi nhăm (colloquial north)


DIALECTS: dict[str, Dialect] = {
    "north": Dialect(thousand="nghìn", odd="linh", five="lăm"),
    "central": Dialect(thousand="ngàn", odd="lẻ", five="lăm"),
    "south": Dialect(thousand="ngàn", odd="lẻ", five="lăm"),
}
_COLLOQUIAL_NORTH = Dialect(thousand="nghìn", odd="linh", five="nhăm")


def dialect_rules(dialect: str, *, colloquial: bool = False) -> Dialect:
    """Reading rules for ``dialect`` ('north' | 'central' | 'south')."""
    key = dialect.lower().strip()
    if key not in DIALECTS:
        raise unknown_choice("Vietnamese dialect", dialect, DIALECTS, field="dialect")
    if colloquial and key == "north":
        return _COLLOQUIAL_NORTH
    return DIALECTS[key]


# ---------------------------------------------------------------------------------------- numbers


def _tens_units(t: int, u: int, d: Dialect, *, after_hundred: bool) -> list[str]:
    if t == 0:
        if u == 0:
            return []
        return [d.odd, DIGITS[u]] if after_hundred else [DIGITS[u]]
    if t == 1:
        head = ["mười"]
        if u == 5:
            return head + ["lăm"]
        return head + ([DIGITS[u]] if u else [])
    head = [DIGITS[t], "mươi"]
    if u == 0:
        return head
    if u == 1:
        return head + ["mốt"]
    if u == 4:
        return head + ["tư"]
    if u == 5:
        return head + [d.five]
    return head + [DIGITS[u]]


def _triple(n: int, d: Dialect, *, leading: bool) -> list[str]:
    h, rest = divmod(n, 100)
    t, u = divmod(rest, 10)
    if leading and h == 0:
        return _tens_units(t, u, d, after_hundred=False)
    words = [DIGITS[h], "trăm"]
    return words + _tens_units(t, u, d, after_hundred=True)


def number_words(n: int, dialect: str | Dialect = "north") -> str:
    """Read a non-negative integer: 150000 -> 'một trăm năm mươi nghìn' (north)."""
    d = dialect if isinstance(dialect, Dialect) else dialect_rules(dialect)
    if n < 0:
        return "âm " + number_words(-n, d)
    if n == 0:
        return "không"
    if n >= 1_000_000_000:
        high, low = divmod(n, 1_000_000_000)
        words = number_words(high, d) + " tỷ"
        return words + (" " + _below_billion(low, d, leading=False) if low else "")
    return _below_billion(n, d, leading=True)


def _below_billion(n: int, d: Dialect, *, leading: bool) -> str:
    scales = ["", d.thousand, "triệu"]
    groups = [(n // 1_000_000) % 1000, (n // 1000) % 1000, n % 1000]
    words: list[str] = []
    first = leading
    for g, scale in zip(groups, reversed(scales), strict=True):
        if g == 0:
            continue
        words += _triple(g, d, leading=first)
        if scale:
            words.append(scale)
        first = False
    return " ".join(words)


def digits_words(digits: str) -> str:
    """Digit by digit: '0912' -> 'không chín một hai'."""
    return " ".join(DIGITS[int(c)] for c in digits if c.isdigit())


def _decimal_words(int_part: str, frac: str, d: Dialect) -> str:
    whole = number_words(int(int_part.replace(".", "")), d)
    if not frac:
        return whole
    frac_words = digits_words(frac) if frac.startswith("0") or len(frac) > 3 else number_words(int(frac), d)
    return f"{whole} phẩy {frac_words}"


# ------------------------------------------------------------------------------------------ rules

_NUM = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?"
_ABBREVIATIONS: list[tuple[str, str]] = [
    (r"\bT[Pp]\.?\s?HCM\b", "thành phố Hồ Chí Minh"),
    (r"\bT[Pp]\.?\s?H[ồô] Chí Minh\b", "thành phố Hồ Chí Minh"),
    (r"\bT[Pp]\.\s?(?=[A-ZĐ])", "thành phố "),
    (r"\bHCM\b", "Hồ Chí Minh"),
    (r"\bHN\b", "Hà Nội"),
    (r"\bSG\b", "Sài Gòn"),
    (r"\bQ\.\s?(?=\d)", "quận "),
    (r"\bQ(?=\d)", "quận "),
    (r"\bQ\.\s?(?=[A-ZĐ])", "quận "),
    (r"\bP\.\s?(?=\d)", "phường "),
    (r"\bP\.\s?(?=[A-ZĐ])", "phường "),
    (r"\bTX\.\s?", "thị xã "),
    (r"\bTT\.\s?", "thị trấn "),
    (r"\bSĐT\b", "số điện thoại"),
    (r"\bĐT\b", "điện thoại"),
    (r"\bđt\b", "điện thoại"),
    (r"\bv\.v\.?(?=\W|$)", "vân vân"),
    (r"\bUBND\b", "ủy ban nhân dân"),
    (r"\bTHPT\b", "trung học phổ thông"),
    (r"\bĐH\b", "đại học"),
    (r"\bKM\b", "khuyến mãi"),
    (r"\bSP\b", "sản phẩm"),
    (r"\bCN\b", "chủ nhật"),
    (r"\bT([2-7])\b", r"thứ \1"),
    (r"\bko\b", "không"),
    (r"\bđc\b", "được"),
    (r"\bvs\b", "với"),
    (r"\s&\s", " và "),
]
_ABBREVIATIONS_RE = [(re.compile(p), r) for p, r in _ABBREVIATIONS]

_UNITS = {
    "km/h": "ki lô mét trên giờ",
    "kg": "ki lô gam",
    "mg": "mi li gam",
    "g": "gam",
    "ml": "mi li lít",
    "l": "lít",
    "lít": "lít",
    "km": "ki lô mét",
    "cm": "xen ti mét",
    "mm": "mi li mét",
    "m2": "mét vuông",
    "m²": "mét vuông",
    "m3": "mét khối",
    "m³": "mét khối",
    "m": "mét",
    "GB": "gi ga bai",
    "MB": "mê ga bai",
    "TB": "tê ra bai",
    "mAh": "mi li am pe giờ",
    "kW": "ki lô oát",
    "W": "oát",
    "V": "vôn",
    "°C": "độ C",
    "inch": "inh",
}
_UNIT_RE = re.compile(
    rf"(?<![\d.,])({_NUM})\s?({'|'.join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))})(?![\w²³])"
)
_PHONE_RE = re.compile(r"(?<![\d.,])(\+84|0)[\s.\-]?(\d{2,4}(?:[\s.\-]?\d{2,4}){1,3})(?![\d])")
_HOTLINE_RE = re.compile(
    r"(?i)\b(hotline|số điện thoại|điện thoại|zalo|gọi)(:?\s*)(\d{4}[\s.\-]?\d{3,4}(?:[\s.\-]?\d{2,4})?)"
)
# landline with the area code in brackets: "(028) 3822-1234", "(024) 3826 5555"
_LANDLINE_RE = re.compile(r"\((0\d{1,3})\)\s?(\d{3,4})[\s.\-]?(\d{3,4})(?!\d)")
# reference / order codes ("DH-2026-000123456789", "HD004512"): group by group, digits one by one
_CODE_RE = code_re("A-ZĐ")
_TIMES_RE = re.compile(r"(?<![\w.,])(\d+)\s?[x×](?![\w])")
_MINUS_RE = re.compile(r"(?:(?<=[\s(])|^)[-−](?=\d)")
_DATE_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])")
_ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_TIME_RE = re.compile(r"(?<![\d.,])(\d{1,2})(:|h)(\d{2})(?![\d])")
_HOUR_RE = re.compile(r"(?<![\d.,])(\d{1,2})h(?![\w])")
_MINUTE_RE = re.compile(r"(?<![\d.,])(\d{1,3})\s?(?:p|ph)(?![\w])")
_MILLION_SHORT_RE = re.compile(r"(?<![\d.,])(\d+)\s?tr(\d{1,3})?(?![\w])")
_THOUSAND_SHORT_RE = re.compile(rf"(?<![\d.,])({_NUM})\s?[kK](?![\w])")
_RUOI_RE = re.compile(r"(?<![\d.,])(\d+),5\s?(triệu|tỷ|tỉ|nghìn|ngàn)(?![\w])")
_CURRENCY_AFTER_RE = re.compile(
    rf"(?<![\d.,])(\d{{1,3}}(?:,\d{{3}})+|{_NUM})\s?(đồng|đ|₫|VNĐ|VND|vnđ|vnd|USD|usd|\$)(?![\w])"
)
_DOLLAR_BEFORE_RE = re.compile(rf"\$\s?({_NUM}|\d+\.\d{{1,2}})")
_DISCOUNT_RE = re.compile(rf"(?:(?<=\s)|^)-\s?({_NUM})\s?%")
_PERCENT_RANGE_RE = re.compile(rf"(?<![\d.,])({_NUM})\s?%?\s?[-–]\s?({_NUM})\s?%")
_PERCENT_RE = re.compile(rf"(?<![\d.,])({_NUM})\s?%")
_RANGE_RE = re.compile(rf"(?<![\d.,])({_NUM})\s?[-–]\s?({_NUM})(?![\d])")
_ORDINAL_RE = re.compile(r"\b(thứ|tháng|hạng)\s(\d{1,2})(?!\d)")
_DOT_DECIMAL_RE = re.compile(r"(?<![\d.,])(\d+)\.(\d{1,2})(?![\d.])")
_NUMBER_RE = re.compile(rf"(?<![\d.,])({_NUM})(?![\d])")
_PER_RE = re.compile(r"/\s?(tháng|năm|ngày|giờ|người|hộp|chai|cái|lần|tuần|suất|kg|gói|bộ)\b")


def _num(s: str, d: Dialect) -> str:
    if "," in s:
        int_part, frac = s.split(",", 1)
        return _decimal_words(int_part, frac, d)
    return number_words(int(s.replace(".", "")), d)


def _day(day: int, d: Dialect) -> str:
    return ("mùng " if day <= 10 else "") + number_words(day, d)


def _month(month: int, d: Dialect) -> str:
    return "tư" if month == 4 else number_words(month, d)


def _date(day: int, month: int, year: str | None, d: Dialect, *, with_ngay: bool) -> str:
    out = ("ngày " if with_ngay else "") + f"{_day(day, d)} tháng {_month(month, d)}"
    if year:
        y = int(year) + (2000 if len(year) == 2 else 0)
        out += f" năm {number_words(y, d)}"
    return out


def normalize_vi(text: str, dialect: str = "north", *, colloquial: bool = False) -> str:
    """Rewrite a Vietnamese script into words the way a speaker of ``dialect`` reads it.

    '150.000đ' -> 'một trăm năm mươi nghìn đồng' (north) / '... ngàn đồng' (south).
    """
    return _normalize_vi(text, dialect, colloquial=colloquial).text


def normalize_vi_spans(text: str, dialect: str = "north", *, colloquial: bool = False) -> list[tuple[str, str]]:
    """``normalize_vi`` as ``(source token(s), spoken words)`` pairs, in order:
    'Giá 249.000đ.' -> [('Giá', 'Giá'), ('249.000đ.', 'hai trăm bốn mươi chín nghìn đồng.')]."""
    return _normalize_vi(text, dialect, colloquial=colloquial).spans()


def _normalize_vi(text: str, dialect: str, *, colloquial: bool) -> Tracked:
    d = dialect_rules(dialect, colloquial=colloquial)
    t = Tracked(unicodedata.normalize("NFC", text))
    t.sub(PICTOGRAPH_RE, " ")
    t.sub(r"[ \t\u00a0]+", " ").strip()

    for pat, rep in _ABBREVIATIONS_RE:
        t.sub(pat, rep)

    t.sub(_LANDLINE_RE, lambda m: ", ".join(digits_words(g) for g in m.groups()))
    t.sub(_CODE_RE, lambda m: _code_words(m.group(0)))

    def hotline(m: re.Match[str]) -> str:
        groups = [g for g in re.split(r"[\s.\-]", m.group(3)) if g]
        if len(groups) == 1:
            groups = _chunk_digits(groups[0])
        return f"{m.group(1)}{m.group(2)}" + ", ".join(digits_words(g) for g in groups if g)

    t.sub(_HOTLINE_RE, hotline)

    def phone(m: re.Match[str]) -> str:
        body = re.sub(r"\D", "", m.group(2))
        n_digits = len(body) + (1 if m.group(1) == "0" else 0)
        if not (m.group(1) == "+84" and 8 <= len(body) <= 10) and not (m.group(1) == "0" and 10 <= n_digits <= 11):
            return m.group(0)
        groups = [g for g in re.split(r"[\s.\-]", m.group(2)) if g]
        if m.group(1) == "0":
            groups[0] = "0" + groups[0]
        if len(groups) == 1:
            groups = _chunk_digits(groups[0])
        spoken = ", ".join(digits_words(g) for g in groups if g)
        return f"cộng tám bốn {spoken}" if m.group(1) == "+84" else spoken

    t.sub(_PHONE_RE, phone)
    t.sub(r"(?<!\d)24/7(?!\d)", "hai mươi tư trên bảy")
    t.sub(r"\s?\+\s?", " cộng ")  # "1+1", "18+": said, not skipped (phones took their "+84" above)

    def iso(m: re.Match[str]) -> str:
        y, mo, da = m.group(1), int(m.group(2)), int(m.group(3))
        if not (1 <= mo <= 12 and 1 <= da <= 31):
            return m.group(0)
        return _date(da, mo, y, d, with_ngay=not _ends_with_ngay(m.string, m.start()))

    t.sub(_ISO_DATE_RE, iso)

    def date(m: re.Match[str]) -> str:
        da, mo = int(m.group(1)), int(m.group(2))
        if not (1 <= mo <= 12 and 1 <= da <= 31):
            return f"{_num(m.group(1), d)} trên {_num(m.group(2), d)}"
        return _date(da, mo, m.group(3), d, with_ngay=not _ends_with_ngay(m.string, m.start()))

    t.sub(_DATE_RE, date)

    def time(m: re.Match[str]) -> str:
        h, mi = int(m.group(1)), int(m.group(3))
        if h > 24 or mi > 59:
            return m.group(0)
        out = f"{number_words(h, d)} giờ"
        if mi:
            out += f" {number_words(mi, d)}" + (" phút" if m.group(2) == ":" else "")
        return out

    t.sub(_TIME_RE, time)
    t.sub(_HOUR_RE, lambda m: f"{number_words(int(m.group(1)), d)} giờ")
    t.sub(_MINUTE_RE, lambda m: f"{number_words(int(m.group(1)), d)} phút")

    def million_short(m: re.Match[str]) -> str:
        frac = int(m.group(2).ljust(3, "0")) if m.group(2) else 0  # "2tr5" = 2.500.000
        return number_words(int(m.group(1)) * 1_000_000 + frac * 1000, d)

    t.sub(_MILLION_SHORT_RE, million_short)
    t.sub(_THOUSAND_SHORT_RE, lambda m: f"{_num(m.group(1), d)} {d.thousand}")

    def ruoi(m: re.Match[str]) -> str:
        unit = {"tỉ": "tỷ", "nghìn": d.thousand, "ngàn": d.thousand}.get(m.group(2), m.group(2))
        return f"{number_words(int(m.group(1)), d)} {unit} rưỡi"

    t.sub(_RUOI_RE, ruoi)

    def currency(m: re.Match[str]) -> str:
        amount = m.group(1)
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", amount):  # "199,000đ": comma as thousands
            amount = amount.replace(",", ".")
        unit = m.group(2)
        word = "đô la" if unit in ("USD", "usd", "$") else "đồng"
        return f"{_num(amount, d)} {word}"

    t.sub(_CURRENCY_AFTER_RE, currency)
    t.sub(
        _DOLLAR_BEFORE_RE,
        lambda m: (
            f"{_num(m.group(1).replace('.', ','), d)} đô la"
            if re.fullmatch(r"\d+\.\d{1,2}", m.group(1))
            else f"{_num(m.group(1), d)} đô la"
        ),
    )

    t.sub(_DISCOUNT_RE, lambda m: f"giảm {_num(m.group(1), d)} phần trăm")
    t.sub(_MINUS_RE, "âm ")  # "-5°C": âm năm độ C
    t.sub(_PERCENT_RANGE_RE, lambda m: f"{_num(m.group(1), d)} đến {_num(m.group(2), d)} phần trăm")
    t.sub(_PERCENT_RE, lambda m: f"{_num(m.group(1), d)} phần trăm")
    t.sub(_UNIT_RE, lambda m: f"{_num(m.group(1), d)} {_UNITS[m.group(2)]}")
    t.sub(_PER_RE, lambda m: f" một {_UNITS.get(m.group(1), m.group(1))}")
    t.sub(_TIMES_RE, lambda m: f"{_num(m.group(1), d)} lần")
    t.sub(DIGIT_STRING_RE, lambda m: digits_words(m.group(1)))

    def num_range(m: re.Match[str]) -> str:
        a, b = m.group(1), m.group(2)
        plain = re.fullmatch(r"\d+", a) and re.fullmatch(r"\d+", b)
        if plain and (a.startswith("0") or b.startswith("0") or (int(a) >= int(b) and len(a) >= 3)):
            return ", ".join(digits_words(g) for g in (a, b))  # "3822-1234": digit groups, not a range
        return f"{_num(a, d)} đến {_num(b, d)}"

    t.sub(_RANGE_RE, num_range)
    t.sub(r"\s[-–—]\s", ", ")  # a dash between words is a pause

    def ordinal(m: re.Match[str]) -> str:
        word, n = m.group(1), int(m.group(2))
        if word == "thứ" and n == 1:
            return "thứ nhất"
        if n == 4 and word in ("thứ", "tháng"):
            return f"{word} tư"
        return f"{word} {number_words(n, d)}"

    t.sub(_ORDINAL_RE, ordinal)
    t.sub(_DOT_DECIMAL_RE, lambda m: f"{number_words(int(m.group(1)), d)} phẩy {_num(m.group(2), d)}")
    t.sub(_NUMBER_RE, lambda m: f" {_num(m.group(1), d)} ")
    return _tidy(t)


def _code_words(code: str) -> str:
    """'DH-2026-0001' -> 'D H, hai không hai sáu, không không không một'."""
    groups = []
    for g in re.split(r"[-/_]", code):
        parts = [digits_words(run) if run.isdigit() else " ".join(run.upper()) for run in re.findall(r"\D+|\d+", g)]
        groups.append(" ".join(parts))
    return ", ".join(g for g in groups if g)


def _chunk_digits(g: str) -> list[str]:
    """Unseparated phone digits in the rhythm people read them: 4-4, 3-3-3, 4-3-3, 4-3-4."""
    if len(g) == 8:
        return [g[:4], g[4:]]
    cut = 4 if len(g) >= 10 else 3
    return [x for x in (g[:cut], g[cut : cut + 3], g[cut + 3 :]) if x]


def _ends_with_ngay(s: str, pos: int) -> bool:
    return bool(re.search(r"(?i)\bngày\s*$", s[:pos]))


def _tidy(t: Tracked) -> Tracked:
    t.sub(r"[ \t]+", " ")
    t.sub(r" +([.,!?;:…)])", r"\1")
    t.sub(r"\( +", "(")
    return t.strip()


def check_dialect(dialect: str) -> str:
    """Validate a dialect name; returns it lower-cased."""
    if dialect.lower() not in DIALECTS:
        raise PipelineInputError(
            f"unknown Vietnamese dialect {dialect!r}; allowed: {', '.join(DIALECTS)}", field="dialect"
        )
    return dialect.lower()
