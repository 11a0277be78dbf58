"""Merge fields: ``{{customer.first_name | default: "bạn"}}``, ``{{product.price | currency}}``.

A tiny, safe expression language (no code execution): a dotted path into the merge data, then
zero or more ``| filter`` or ``| filter: arg, arg`` steps. Rendering collects every problem
(missing value without default, unknown filter, bad argument) instead of stopping at the first,
so template validation can report them all at once.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

FIELD_RE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")

_MISSING = object()


@dataclass
class MergeContext:
    """Locale defaults used by filters, plus the problems and paths seen while rendering."""

    currency: str = "VND"
    date_format: str = "%d/%m/%Y"
    errors: list[str] = field(default_factory=list)
    used_paths: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class FieldRef:
    """One ``{{ ... }}`` occurrence: its data path, filters and (if any) default."""

    raw: str
    path: str
    filters: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def default(self) -> str | None:
        for name, args in self.filters:
            if name == "default":
                return args[0] if args else ""
        return None


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double or single quotes."""
    out, buf, quote = [], [], ""
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch == sep:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return out


def _unquote(arg: str) -> str:
    a = arg.strip()
    if len(a) >= 2 and a[0] == a[-1] and a[0] in "\"'":
        return a[1:-1]
    return a


def parse_field(expr: str) -> FieldRef:
    """Parse the inside of ``{{ ... }}``; raises ValueError with a readable message."""
    parts = _split_top(expr, "|")
    path = parts[0].strip()
    if not _PATH_RE.match(path):
        raise ValueError(f"merge field {{{{{expr}}}}}: {path!r} is not a dotted path like customer.first_name")
    filters: list[tuple[str, tuple[str, ...]]] = []
    for part in parts[1:]:
        name, _, argtext = part.partition(":")
        name = name.strip()
        if name not in FILTERS:
            raise ValueError(
                f"merge field {{{{{expr}}}}}: unknown filter {name!r}; allowed: {', '.join(sorted(FILTERS))}"
            )
        args = tuple(_unquote(a) for a in _split_top(argtext, ",")) if argtext.strip() else ()
        filters.append((name, args))
    return FieldRef(raw=expr, path=path, filters=tuple(filters))


def find_fields(text: str) -> Iterator[str]:
    """Yield the raw expressions of every ``{{ ... }}`` in ``text``."""
    for m in FIELD_RE.finditer(text):
        yield m.group(1)


def lookup(data: Any, path: str) -> Any:
    """Resolve a dotted path through mappings, sequences (numeric parts) and attributes."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part, _MISSING)
        elif isinstance(cur, list | tuple) and part.isdigit():
            idx = int(part)
            cur = cur[idx] if idx < len(cur) else _MISSING
        else:
            cur = getattr(cur, part, _MISSING)
        if cur is _MISSING:
            return _MISSING
    return cur


def leaf_paths(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every dotted path to a non-mapping value in ``data`` (for 'given but unused' warnings)."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path + ".")
        else:
            yield path


# ---------------------------------------------------------------- filters

_CURRENCY: dict[str, tuple[str, str, int, str, str]] = {
    # code: (prefix, suffix, decimals, thousands sep, decimal sep)
    "VND": ("", " ₫", 0, ".", ","),
    "USD": ("$", "", 2, ",", "."),
    "EUR": ("", " €", 2, ".", ","),
    "GBP": ("£", "", 2, ",", "."),
    "JPY": ("¥", "", 0, ",", "."),
    "SGD": ("S$", "", 2, ",", "."),
    "THB": ("฿", "", 2, ",", "."),
}


def _to_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(" ", "").replace("_", "")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _group(number: float, decimals: int, thousands: str, dec: str) -> str:
    text = f"{abs(number):,.{decimals}f}"
    whole, _, frac = text.partition(".")
    whole = whole.replace(",", thousands)
    sign = "-" if number < 0 else ""
    return sign + whole + (dec + frac if frac else "")


def f_currency(value: Any, ctx: MergeContext, code: str | None = None) -> str:
    amount = _to_number(value)
    cur = (code or ctx.currency).upper()
    if cur in _CURRENCY:
        pre, suf, decimals, th, dec = _CURRENCY[cur]
        return f"{pre}{_group(amount, decimals, th, dec)}{suf}"
    return f"{_group(amount, 2, ',', '.')} {cur}"


def f_number(value: Any, ctx: MergeContext, decimals: str = "0") -> str:
    th, dec = (".", ",") if ctx.currency in ("VND", "EUR") else (",", ".")
    return _group(_to_number(value), int(decimals), th, dec)


def f_percent(value: Any, ctx: MergeContext) -> str:
    num = _to_number(value)
    num = num * 100 if abs(num) <= 1 else num
    return f"{num:.0f}%"


def f_date(value: Any, ctx: MergeContext, fmt: str | None = None) -> str:
    if isinstance(value, _dt.datetime | _dt.date):
        d = value
    else:
        try:
            d = _dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise ValueError(f"expected an ISO date like 2025-06-30, got {value!r}") from None
    return d.strftime(fmt or ctx.date_format)


def f_truncate(value: Any, ctx: MergeContext, n: str = "40") -> str:
    text, limit = str(value), int(n)
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


FILTERS: dict[str, Callable[..., str]] = {
    "default": lambda v, ctx, d="": str(v),  # applied specially: only when the value is missing/empty
    "upper": lambda v, ctx: str(v).upper(),
    "lower": lambda v, ctx: str(v).lower(),
    "title": lambda v, ctx: str(v).title(),
    "capitalize": lambda v, ctx: str(v)[:1].upper() + str(v)[1:],
    "trim": lambda v, ctx: str(v).strip(),
    "currency": f_currency,
    "number": f_number,
    "percent": f_percent,
    "date": f_date,
    "truncate": f_truncate,
}


def render_string(text: str, data: Mapping[str, Any], ctx: MergeContext, *, where: str = "") -> str:
    """Replace every merge field in ``text``; problems go to ``ctx.errors`` (the field becomes '')."""
    loc = f" ({where})" if where else ""

    def repl(m: re.Match[str]) -> str:
        expr = m.group(1)
        try:
            ref = parse_field(expr)
        except ValueError as exc:
            ctx.errors.append(f"{exc}{loc}")
            return ""
        ctx.used_paths.add(ref.path)
        value = lookup(data, ref.path)
        if value is _MISSING or value is None or value == "":
            if ref.default is None:
                ctx.errors.append(
                    f"merge field '{ref.path}' has no value and no default{loc}; "
                    f'give it in the data or write {{{{{ref.path} | default: "..."}}}}'
                )
                return ""
            return ref.default
        if isinstance(value, Mapping | list):
            ctx.errors.append(f"merge field '{ref.path}' is a {type(value).__name__}, not a value{loc}")
            return ""
        out: Any = value
        for name, args in ref.filters:
            if name == "default":
                continue
            try:
                out = FILTERS[name](out, ctx, *args)
            except (ValueError, TypeError) as exc:
                ctx.errors.append(f"merge field '{ref.path}': filter {name!r} failed: {exc}{loc}")
                return ""
        return str(out)

    return FIELD_RE.sub(repl, text)


def render_tree(obj: Any, data: Mapping[str, Any], ctx: MergeContext, *, where: str = "") -> Any:
    """Render merge fields in every string of a JSON-like tree (dicts, lists, strings)."""
    if isinstance(obj, str):
        return render_string(obj, data, ctx, where=where) if "{{" in obj else obj
    if isinstance(obj, dict):
        return {k: render_tree(v, data, ctx, where=f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [render_tree(v, data, ctx, where=f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj
