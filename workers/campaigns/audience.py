"""Audience files (CSV, JSONL, Parquet) read row by row; unreadable rows become :class:`RowError`.

Real users' files, not only clean UTF-8 commas:

- **Encoding** (CSV): UTF-8 with or without BOM, UTF-16 (BOM, or detected), and the legacy
  Windows code pages Excel writes (cp1252 Western, cp1258 Vietnamese), detected with
  charset-normalizer among exactly those. A file that is mostly UTF-8 but has broken bytes, or
  that matches none of them, is refused with "save it as CSV UTF-8" and the line of the problem.
- **Delimiter** (CSV): ``,`` ``;`` or tab, sniffed with :class:`csv.Sniffer` and confirmed by the
  header (which must contain ``customer_id``).
- **Row numbers** are the ones a spreadsheet shows: the header is row 1 and each record is one
  row, however many line breaks its quoted cells hold (JSONL: the line number; Parquet: the
  record number, 1-based).
- **Bounds**: a cell longer than :data:`MAX_CELL_CHARS` characters, a JSONL line over
  :data:`MAX_LINE_BYTES` bytes or nested deeper than :data:`MAX_JSON_DEPTH` is a row error, never
  a crash. Excel workbooks (``.xlsx``/``.xls``, also when renamed ``.csv``) get a clear error.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines._common.data import bracket_depth
from pipelines._common.errors import PipelineInputError

AUDIENCE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
MAX_CELL_CHARS = 65_536  # one cell (a message, a list of SKUs); a 128 KB paste is a row error
MAX_LINE_BYTES = 1_048_576  # one JSONL line
MAX_JSON_DEPTH = 32  # nesting of one JSONL row (rows are flat objects with a few lists)
DELIMITERS = (",", ";", "\t")
LEGACY_ENCODINGS = ("cp1252", "cp1258")  # what Excel on Windows writes for Western / Vietnamese
SAVE_AS_UTF8 = "save it from Excel as 'CSV UTF-8 (Comma delimited) (*.csv)'"

# The csv module's own per-field limit (131072) would raise mid-file; cells are bounded per row below.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class RowError:
    """A bad audience row: 1-based row number in the file (CSV header = row 1), column, reason."""

    row: int
    customer_id: str
    field: str
    message: str


def _excel_error(name: str) -> PipelineInputError:
    return PipelineInputError(
        f"audience {name}: Excel workbooks are not read directly; {SAVE_AS_UTF8} "
        f"(or export JSONL/Parquet); allowed: {', '.join(AUDIENCE_SUFFIXES)}",
        field="audience",
    )


def decode_csv_bytes(data: bytes, name: str = "audience.csv") -> tuple[str, str]:
    """(text, encoding name) of a CSV file's bytes; raises PipelineInputError naming the line.

    UTF-8 (BOM or not) and UTF-16 with a BOM are taken as they are; otherwise the bytes must be
    valid UTF-8, or plainly a legacy Windows code page (cp1252/cp1258) or BOM-less UTF-16 as
    charset-normalizer judges among exactly those. Text is NFC-normalised (cp1258 stores
    Vietnamese tone marks as combining characters).
    """
    import unicodedata

    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _excel_error(name)
    if data.startswith(b"\xef\xbb\xbf"):
        enc, body = "utf-8-sig", data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc, body = "utf-16", data
    else:
        enc, body = "utf-8", data
    try:
        text = body.decode("utf-16" if enc == "utf-16" else "utf-8")
    except UnicodeDecodeError as exc:
        if enc != "utf-8":
            line = body[: exc.start].count(b"\n") + 1
            raise PipelineInputError(
                f"audience {name}: line {line} is not valid {enc.upper()}; {SAVE_AS_UTF8}", field="audience"
            ) from None
        text, enc = _legacy_decode(body, name, exc)
    if "\x00" in text:
        raise PipelineInputError(
            f"audience {name}: contains NUL bytes (a binary file, not CSV text); {SAVE_AS_UTF8}", field="audience"
        )
    return unicodedata.normalize("NFC", text), enc


def _legacy_decode(data: bytes, name: str, exc: UnicodeDecodeError) -> tuple[str, str]:
    """Decode bytes that are not UTF-8: a whole file in cp1252/cp1258/UTF-16, or a clear error."""
    from charset_normalizer import from_bytes

    line = data[: exc.start].count(b"\n") + 1
    nul_share = data.count(b"\x00") / max(len(data), 1)
    # Mostly UTF-8 (more valid multi-byte characters than broken bytes): corruption, not a code page.
    lenient = data.decode("utf-8", errors="replace")
    broken = lenient.count("\ufffd")
    valid_multibyte = sum(1 for ch in lenient if ord(ch) > 127) - broken
    if valid_multibyte > broken and nul_share < 0.2:
        raise PipelineInputError(
            f"audience {name}: line {line} has bytes that are not valid UTF-8 (byte 0x{data[exc.start]:02x}) "
            f"while the rest of the file is UTF-8; fix that line or {SAVE_AS_UTF8}",
            field="audience",
        )
    candidates = ["utf_16_le", "utf_16_be"] if nul_share >= 0.2 else list(LEGACY_ENCODINGS)
    best = from_bytes(data, cp_isolation=candidates).best()
    if best is None or best.encoding not in candidates:
        raise PipelineInputError(
            f"audience {name}: line {line} is not UTF-8 and the file's encoding could not be recognised "
            f"(tried {', '.join(candidates)}); {SAVE_AS_UTF8}",
            field="audience",
        )
    return data.decode(best.encoding), best.encoding


def _sniff_delimiter(text: str, name: str) -> str:
    """``,`` ``;`` or tab: csv.Sniffer on the first lines, confirmed by a header with customer_id."""
    sample = text[:65_536]
    header = next(csv.reader([text.split("\n", 1)[0]]), [""])
    try:
        guess = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        guess = ","
    first = text.split("\n", 1)[0]
    order = [guess, *sorted(DELIMITERS, key=lambda d: -first.count(d))]
    for delim in order:
        cols = [c.strip() for c in next(csv.reader([first], delimiter=delim), [])]
        if "customer_id" in cols:
            return delim
    raise PipelineInputError(
        f"audience {name}: header must include customer_id (got {header[:12]}); columns separated by "
        "',' ';' or tab, first row = column names",
        field="audience",
    )


def _cell_error(row: dict[str, Any], row_no: int) -> RowError | None:
    for key, value in row.items():
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            cid = row.get("customer_id")
            cid_text = cid if isinstance(cid, str) and len(cid) <= 128 else ""
            return RowError(
                row_no, cid_text, str(key),
                f"cell is {len(value)} characters; the limit is {MAX_CELL_CHARS} per cell",
            )
    return None


def _depth(obj: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, stopping once past ``limit``."""
    stack = [(obj, 1)]
    deepest = 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def read_audience(path: Path, *, max_rows: int = 100_000) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (row number, row dict or RowError for an unreadable row). Raises for unreadable files."""
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        raise _excel_error(path.name)
    if suffix not in AUDIENCE_SUFFIXES:
        raise PipelineInputError(
            f"audience {path.name}: unsupported file type {suffix!r}; allowed: {', '.join(AUDIENCE_SUFFIXES)}",
            field="audience",
        )
    from pipelines._common.data import is_file

    if not is_file(path):
        raise PipelineInputError(f"audience file not found: {path}", field="audience")
    count = 0

    def _limit() -> None:
        nonlocal count
        count += 1
        if count > max_rows:
            raise PipelineInputError(
                f"audience has more than {max_rows} rows (limits.max_audience_rows)", field="audience"
            )

    if suffix == ".csv":
        yield from _read_csv(path, _limit)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _read_jsonl(path, _limit)
    else:
        yield from _read_parquet(path, _limit, max_rows)
    if count == 0:  # a header-only / empty file would "validate" as 0/0 rows and render nothing
        raise PipelineInputError(
            f"audience {path.name}: no rows (only a header, or an empty file); give one customer per row",
            field="audience",
        )


def _read_csv(path: Path, limit: Any) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    text, _enc = decode_csv_bytes(path.read_bytes(), path.name)
    delim = _sniff_delimiter(text, path.name)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delim, strict=False)
    try:
        header = [c.strip() for c in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise PipelineInputError(f"audience {path.name}: no header row ({exc})", field="audience") from None
    row_no = 1  # spreadsheet numbering: header = row 1, one row per record
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row_no += 1
            limit()
            yield row_no, RowError(row_no, "", "row", f"not a readable CSV row: {exc}")
            continue
        row_no += 1
        if not cells or all(not c.strip() for c in cells):
            continue  # a blank row: shown by the spreadsheet, nothing to plan
        limit()
        row: dict[str, Any] = dict(zip(header, cells, strict=False))
        for col in header[len(cells):]:
            row.setdefault(col, None)
        cid = row.get("customer_id") or ""
        if len(cells) > len(header):
            yield row_no, RowError(row_no, str(cid)[:128], "row",
                                   f"more cells than columns ({len(cells)} cells, {len(header)} columns)")
            continue
        bad = _cell_error(row, row_no)
        yield row_no, (bad if bad is not None else row)


def _read_jsonl(path: Path, limit: Any) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            limit()
            if len(raw) > MAX_LINE_BYTES:
                yield line_no, RowError(line_no, "", "row", f"line is {len(raw)} bytes; the limit is {MAX_LINE_BYTES}")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield line_no, RowError(line_no, "", "row",
                                        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                                        "save the file as UTF-8")
                continue
            if bracket_depth(text) > MAX_JSON_DEPTH:
                yield line_no, RowError(line_no, "", "row", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
                continue
            try:
                obj = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                yield line_no, RowError(line_no, "", "row", f"not valid JSON: {msg}")
                continue
            if not isinstance(obj, dict):
                yield line_no, RowError(line_no, "", "row", "each line must be a JSON object")
                continue
            bad = _cell_error(obj, line_no)
            yield line_no, (bad if bad is not None else obj)


def _read_parquet(path: Path, limit: Any, max_rows: int) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        if pf.metadata.num_rows > max_rows:
            raise PipelineInputError(
                f"audience has more than {max_rows} rows (limits.max_audience_rows)", field="audience"
            )
        table = pf.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, PipelineInputError):
            raise
        raise PipelineInputError(
            f"audience {path.name}: not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]}); "
            "write it again or export CSV UTF-8 / JSONL",
            field="audience",
        ) from None
    for i, row in enumerate(table.to_pylist(), start=1):
        limit()
        bad = _cell_error(row, i)
        yield i, (bad if bad is not None else row)
