"""The dialect contract every part of the SQL job store is written against.

Queries are written once, with ``?`` placeholders. A dialect (``workers.jobs.sqlite``,
``workers.jobs.postgres``) supplies this thread's connection (``_conn``), one write transaction
(``_write``), one statement (``_x``, translating the placeholders), reads (``_read``) and the
row-lock clauses ``_FOR_UPDATE`` / ``_SKIP_LOCKED`` (empty where the write transaction already
serialises writers). Every part of the store (``store``, ``monitor``, ``assets``, ``reviews``,
``outbox``, ``lease``) subclasses ``SQLBase`` so each part type-checks on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from workers.jobs.models import JobStatus

# Active job statuses, as SQL arguments (``IN (...)`` with ``marks(len(ACTIVE))``).
ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.RETRYING.value)


def dumps(data: Any) -> str:
    """Canonical JSON for a TEXT column (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def marks(n: int) -> str:
    """``n`` comma-separated ``?`` placeholders."""
    return ",".join("?" * n)


class SQLBase:
    """The hooks a dialect provides; the store's parts call only these."""

    dialect = "sql"
    _FOR_UPDATE = ""
    _SKIP_LOCKED = ""

    def _conn(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def _write(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def _x(self, db: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the jobs live (no password), for messages."""
        raise NotImplementedError

    def _read(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._x(self._conn(), sql, args)
