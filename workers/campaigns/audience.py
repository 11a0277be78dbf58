"""Audience files (CSV, JSONL, Parquet) read row by row; unreadable rows become :class:`RowError`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError

AUDIENCE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


@dataclass(frozen=True)
class RowError:
    """A bad audience row: 1-based row number in the file (CSV header = row 1), column, reason."""

    row: int
    customer_id: str
    field: str
    message: str


def read_audience(path: Path, *, max_rows: int = 100_000) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (row number, row dict or RowError for an unreadable row). Raises for unreadable files."""
    suffix = path.suffix.lower()
    if suffix not in AUDIENCE_SUFFIXES:
        raise PipelineInputError(
            f"audience {path.name}: unsupported file type {suffix!r}; allowed: {', '.join(AUDIENCE_SUFFIXES)}",
            field="audience",
        )
    if not path.is_file():
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
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "customer_id" not in reader.fieldnames:
                raise PipelineInputError(
                    f"audience {path.name}: header must include customer_id (got {reader.fieldnames})",
                    field="audience",
                )
            for row in reader:
                _limit()
                line = reader.line_num
                if None in row:
                    yield line, RowError(line, str(row.get("customer_id") or ""), "row", "more cells than columns")
                    continue
                yield line, dict(row)
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for line_no, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                _limit()
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield line_no, RowError(line_no, "", "row", f"not valid JSON: {exc.msg}")
                    continue
                if not isinstance(obj, dict):
                    yield line_no, RowError(line_no, "", "row", "each line must be a JSON object")
                    continue
                yield line_no, obj
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for i, row in enumerate(table.to_pylist(), start=1):
            _limit()
            yield i, row
