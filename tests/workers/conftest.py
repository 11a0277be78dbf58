"""Workers fixtures: settings with the ``noop`` test kind on, and a runtime factory that starts
real dispatchers on the session Ray."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workers.runtime import Runtime
from workers.settings import Settings, load_settings


def make_settings(
    data_dir: Path, noop: dict[str, Any] | None = None, *, database_url: str | None = None, **dispatcher: Any
) -> Settings:
    disp = {"test_kinds": True, "lease_s": 1.0, "cancel_grace_s": 0.5, "poll_s": 0.02, **dispatcher}
    pool = {"enabled": True, "size": 1, "max_in_flight": 1, "backoff_s": 0.05, "backoff_max_s": 0.2, **(noop or {})}
    overrides: dict[str, Any] = {"data_dir": str(data_dir), "dispatcher": disp, "pools": {"noop": pool}}
    if database_url:
        overrides["jobs"] = {"database_url": database_url}
    return load_settings(env={}, overrides=overrides)


@pytest.fixture
def wsettings(tmp_path: Path, job_db_url: str) -> Settings:
    """Worker settings on each job-store backend (SQLite, PostgreSQL)."""
    return make_settings(tmp_path / "data", database_url=job_db_url)


@pytest.fixture
def runtime_factory(tmp_path: Path, ray_session: Any, job_db_url: str) -> Iterator[Callable[..., Runtime]]:
    """``factory(noop={...}, start=True, pools=["noop"], **dispatcher)`` -> a Runtime (stopped at
    teardown), once per job-store backend (SQLite, PostgreSQL)."""
    made: list[Runtime] = []

    def factory(
        noop: dict[str, Any] | None = None, start: bool = True, pools: list[str] | None = None, **dispatcher: Any
    ) -> Runtime:
        rt = Runtime(make_settings(tmp_path / "data", noop, database_url=job_db_url, **dispatcher))
        made.append(rt)
        if start:
            rt.start(pools=pools or ["noop"])
        return rt

    yield factory
    for rt in made:
        rt.close()
