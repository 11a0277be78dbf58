"""Sweeps and ``maydo gc``: only what dead processes left is swept; assets any job, campaign or
tenant upload names are never pruned (on SQLite and PostgreSQL job stores)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from workers.cli import app
from workers.housekeeping import sweep_partial_uploads, sweep_temp_dirs, temp_prefix, upload_prefix
from workers.jobs.models import JobSpec
from workers.runtime import Runtime
from workers.settings import Settings
from workers.storage import LocalAssetStore


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_only_dead_processes_temp_dirs(tmp_path: Path) -> None:
    dead = _dead_pid()
    gone_job = tmp_path / f"maydo-j_0123abcd-p{dead}-x1y2z3"
    gone_cache = tmp_path / f"maydo-segments-p{dead}-k9"
    live = tmp_path / f"{temp_prefix('segments')}abc"
    unrelated = tmp_path / f"other-p{dead}-q"
    for d in (gone_job, gone_cache, live, unrelated):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f.bin").write_bytes(b"x" * 1000)
    report = sweep_temp_dirs(tmp_path)
    assert sorted(report.removed) == sorted([str(gone_job), str(gone_cache)])
    assert report.bytes == 2000 and report.kept_live == 1
    assert live.exists() and unrelated.exists() and not gone_job.exists() and not gone_cache.exists()


def test_sweep_partial_uploads_only_dead_writers_on_this_host(tmp_path: Path) -> None:
    store = LocalAssetStore(tmp_path)
    ref = store.put(b"payload", "application/octet-stream")
    assert store.path(ref.id).read_bytes() == b"payload"
    assert not list(tmp_path.glob(".put-*"))  # a finished put leaves nothing behind
    dead = _dead_pid()
    host_dead = tmp_path / upload_prefix("put").replace(f"-p{os.getpid()}-", f"-p{dead}-")
    host_dead = host_dead.with_name(host_dead.name + "abc")
    mine = tmp_path / (upload_prefix("put") + "def")
    elsewhere = tmp_path / f".put-{socket.gethostname()}x-p{dead}-ghi"
    for p in (host_dead, mine, elsewhere):
        p.write_bytes(b"half")
    report = sweep_partial_uploads(tmp_path)
    assert report.removed == [str(host_dead)]
    assert mine.exists() and elsewhere.exists() and store.exists(ref.id)


def test_gc_prunes_only_unreferenced_old_assets(tmp_path: Path, wsettings: Settings) -> None:
    settings = wsettings
    store = LocalAssetStore(settings.assets_dir)
    used_in = store.put(b"job input", "application/octet-stream")
    used_out = store.put(b"job output", "application/octet-stream")
    in_campaign = store.put(b"campaign", "application/octet-stream")
    uploaded = store.put(b"upload", "application/octet-stream")
    orphan = store.put(b"orphan (a fenced-out attempt's output)", "application/octet-stream")
    young = store.put(b"young orphan", "application/octet-stream")
    for ref in (used_in, used_out, in_campaign, uploaded, orphan):  # age them: created 2 days ago
        meta = store.path(ref.id).with_suffix(".json")
        info = json.loads(meta.read_text())
        info["created"] = time.time() - 2 * 86400
        meta.write_text(json.dumps(info))
    rt = Runtime(settings)
    job = rt.submit(JobSpec(kind="noop", inputs={"a": used_in.id}))
    [claimed] = rt.store.claim("noop", 1, owner="t")
    assert rt.store.finish_success(job.id, claimed.fence, {"out": used_out.id}, {})
    rt.close()
    camp = settings.data_dir / "campaigns" / "c1"
    camp.mkdir(parents=True)
    (camp / "state.json").write_text(json.dumps({"results": {"r1": {"assets": {"video": in_campaign.id}}}}))
    from workers.api.store import ApiStore

    ApiStore(settings.data_dir / "api.sqlite3").add_asset_owner(uploaded.id, "acme")
    env = {"MAYDO_DATA_DIR": str(settings.data_dir), "MAYDO_JOBS__DATABASE_URL": settings.job_database_url}
    dry = CliRunner().invoke(app, ["gc", "--json", "--min-age-hours", "1", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["assets"]["paths"] == [orphan.id] and store.exists(orphan.id)
    res = CliRunner().invoke(app, ["gc", "--json", "--min-age-hours", "1"], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["assets"]["paths"] == [orphan.id] and out["assets"]["kept_live"] == 1
    assert not store.exists(orphan.id)
    for ref in (used_in, used_out, in_campaign, uploaded, young):
        assert store.exists(ref.id) and store.path(ref.id).is_file()
