"""Job store under contention, on SQLite and PostgreSQL: racing claimers never share a job, racing
submits of one idempotency key make one job, and the dispatcher lease follows its holder's liveness
(a killed holder is replaced at once; a live one is not)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from workers.jobs.models import JobSpec
from workers.jobs.store import SQLJobStore, open_job_store
from workers.runtime import Runtime
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[3]


def test_parallel_claimers_never_share_a_job(wsettings: Settings) -> None:
    rt = Runtime(wsettings)
    ids = {rt.submit(JobSpec(kind="noop", params={"i": i})).id for i in range(120)}
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def claimer(n: int) -> None:
        store = open_job_store(wsettings)  # its own connections, as another process would have
        try:
            got: list[str] = []
            while True:
                batch = store.claim("noop", 3, owner=f"d{n}")
                if not batch:
                    break
                got += [j.id for j in batch]
            claimed[f"d{n}"] = got
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    every = [j for got in claimed.values() for j in got]
    assert len(every) == len(set(every)) == len(ids)  # each job claimed exactly once
    assert set(every) == ids
    assert {r.attempts for r in rt.list(limit=500)} == {1}
    rt.close()


def test_racing_submits_with_one_key_make_one_job(wsettings: Settings) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def submit() -> None:
        rt = Runtime(wsettings)
        try:
            rec = rt.submit(JobSpec(kind="noop", params={"x": 1}, idempotency_key="order-42"))
            with lock:
                results.append(rec.id)
        finally:
            rt.close()

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 and len(set(results)) == 1
    rt = Runtime(wsettings)
    assert len(rt.list()) == 1
    rt.close()


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from workers.jobs.store import open_job_store
    from workers.settings import load_settings
    s = load_settings(env={}, overrides={"data_dir": sys.argv[1], "jobs": {"database_url": sys.argv[2]}})
    store = open_job_store(s)
    assert store.acquire_lease("holder", 30.0)
    print("held", flush=True)
    time.sleep(600)
    """
)


def _start_holder(wsettings: Settings) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(wsettings.data_dir), wsettings.job_database_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lease_of_a_killed_holder_is_taken_over_at_once(wsettings: Settings) -> None:
    """A 30 s lease: a live holder in another process keeps it; kill -9 of that process frees it now."""
    store: SQLJobStore = open_job_store(wsettings)
    proc = _start_holder(wsettings)
    try:
        assert not store.acquire_lease("newcomer", 30.0)
        status = store.lease_status(30.0)
        assert status["alive"] and status["owner"] == "holder" and status["pid"] == proc.pid
        proc.kill()
        proc.wait(10)
        t0 = time.monotonic()
        while not store.acquire_lease("newcomer", 30.0):
            assert time.monotonic() - t0 < 5.0, "takeover of a dead holder's lease must not wait for expiry"
            time.sleep(0.05)
        assert time.monotonic() - t0 < 5.0
        assert store.lease_status(30.0)["owner"] == "newcomer"
        assert store.acquire_lease("newcomer", 30.0)  # renewal
        store.release_lease("newcomer")
        assert not store.lease_status(30.0)["alive"]
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()


def test_silent_but_connected_holder_loses_lease_after_lease_s(wsettings: Settings) -> None:
    """A holder that stops renewing (hung) is replaced once its heartbeat is older than lease_s."""
    holder = open_job_store(wsettings)
    other = open_job_store(wsettings)
    try:
        assert holder.acquire_lease("hung", 0.5)
        assert not other.acquire_lease("next", 0.5)
        time.sleep(0.7)
        assert other.acquire_lease("next", 0.5)
        assert not holder.acquire_lease("hung", 0.5)  # renewal fails: the hung holder must stop
        assert other.lease_status(0.5)["owner"] == "next"
    finally:
        other.close()
        holder.close()


def test_database_url_setting_is_validated(tmp_path: Path) -> None:
    from workers.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as exc:
        load_settings(env={}, overrides={"data_dir": str(tmp_path), "jobs": {"database_url": "mysql://u:secret@h/db"}})
    msg = str(exc.value)
    assert "jobs.database_url" in msg and "postgresql://" in msg and "secret" not in msg
    s = load_settings(env={"MAYDO_JOBS__DATABASE_URL": "postgresql://u:pw@db.example:5432/maydo"},
                      overrides={"data_dir": str(tmp_path)})
    assert s.job_database_url == "postgresql://u:pw@db.example:5432/maydo"
    assert s.job_database_display == "postgresql://u:***@db.example:5432/maydo"
    s = load_settings(env={}, overrides={"data_dir": str(tmp_path), "jobs": {"database_url": f"sqlite:///{tmp_path}/j.db"}})
    assert s.job_db_path == tmp_path / "j.db"
    assert load_settings(env={}, overrides={"data_dir": str(tmp_path)}).job_db_path == tmp_path / "jobs.sqlite3"


def test_holder_liveness_rules() -> None:
    import os
    import socket

    from workers.jobs.lease import holder_dead, holder_identity

    me = holder_identity()
    assert not holder_dead(me)  # this process
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert holder_dead({**me, "pid": proc.pid})  # a pid that has exited
    assert holder_dead({**me, "pid_start": "1"})  # our pid, but an older process (pid reused)
    boot, _, ns = str(me["boot_id"]).partition("|")
    assert holder_dead({**me, "pid": proc.pid, "boot_id": f"another-boot|{ns}"})  # host rebooted
    assert not holder_dead({**me, "pid": proc.pid, "boot_id": f"{boot}|pid:[1]"})  # other pid namespace
    assert not holder_dead({**me, "pid": proc.pid, "host": socket.gethostname() + "-other"})  # other host
    assert os.getpid() == me["pid"]


def test_postgres_store_survives_dropped_connections(tmp_path: Path, pg_url: str) -> None:
    """Connections the server kills (restart, idle cut) are replaced: reads go on, writes next time."""
    import psycopg

    from workers.settings import load_settings

    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path), "jobs": {"database_url": pg_url},
                                                "dispatcher": {"test_kinds": True}, "pools": {"noop": {"enabled": True}}})
    rt = Runtime(settings)
    job = rt.submit(JobSpec(kind="noop"))
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert rt.get(job.id).id == job.id  # the read is retried on a fresh connection
    rt.submit(JobSpec(kind="noop", params={"n": 1}))  # the pool was checked: writes work at once
    assert len(rt.list()) == 2
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(psycopg.OperationalError):  # a write is never silently repeated...
        rt.store.add_event(job.id, "note", 0.5, "lost")
    rt.store.add_event(job.id, "note", 0.5, "kept")  # ...the next one goes through
    assert [e.message for e in rt.events(job.id) if e.stage == "note"] == ["kept"]
    rt.close()
