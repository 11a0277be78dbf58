"""Housekeeping: sweep what killed processes leave behind, and ``maydo gc``.

Killed attempts (kill -9 of a Ray worker or a runner) leave their job work dir
(``maydo-<job>-p<pid>-*``) and a video actor's segment cache (``maydo-segments-p<pid>-*``) in the
system temp dir, and a half-written upload (``.put-<host>-p<pid>-*``) in the local asset root. Each
name carries its creator's pid (and host for the shared asset root), so a sweep removes only what
belongs to a process that no longer exists on this host; a live process's files are never touched.
The dispatcher and every actor sweep at start-up; ``maydo gc`` does it on demand and also prunes
assets no job, campaign or tenant upload refers to.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# maydo-<anything>-p<pid>-<mkdtemp suffix, no dashes>
_TEMP_DIR = re.compile(r"^maydo-.+-p(\d+)-[A-Za-z0-9_]+$")
_PUT_TMP = re.compile(r"^\.(?:put|meta)-(.+)-p(\d+)-[A-Za-z0-9_]+$")


def pid_alive(pid: int) -> bool:
    """True unless no process has ``pid`` on this host (a signal-0 probe)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def temp_prefix(kind: str) -> str:
    """``mkdtemp`` prefix for a maydo temp dir of this process (swept once the process is gone)."""
    return f"maydo-{kind}-p{os.getpid()}-"


def _host() -> str:
    """This host's name as it appears in upload temp names (safe characters only)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())


def upload_prefix(kind: str = "put") -> str:
    """Temp-file prefix inside the (possibly shared) asset root: host and pid of the writer."""
    return f".{kind}-{_host()}-p{os.getpid()}-"


@dataclass
class SweepReport:
    removed: list[str] = field(default_factory=list)
    bytes: int = 0
    kept_live: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"removed": len(self.removed), "bytes": self.bytes, "kept_live": self.kept_live, "paths": self.removed}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                continue
    return total


def _sweep(report: SweepReport, path: Path, pid: int, remove: Callable[[Path], None], dry_run: bool) -> None:
    """Count ``path`` as kept while ``pid`` lives; else as removed (and remove it unless dry run)."""
    if pid_alive(pid):
        report.kept_live += 1
        return
    report.bytes += _size(path)
    report.removed.append(str(path))
    if not dry_run:
        remove(path)


def sweep_temp_dirs(tmp_root: str | Path | None = None, *, dry_run: bool = False) -> SweepReport:
    """Remove maydo temp dirs (job work dirs, segment caches) whose creating process is gone."""
    root = Path(tmp_root or tempfile.gettempdir())
    report = SweepReport()
    try:
        entries = list(root.iterdir())
    except OSError:
        return report
    for path in entries:
        m = _TEMP_DIR.match(path.name)
        if m is None or not path.is_dir() or path.is_symlink():
            continue
        _sweep(report, path, int(m.group(1)), lambda p: shutil.rmtree(p, ignore_errors=True), dry_run)
    return report


def sweep_partial_uploads(asset_root: str | Path, *, dry_run: bool = False) -> SweepReport:
    """Remove half-written asset temp files (``.put-*``, ``.meta-*``) left by dead writers on this host."""
    root = Path(asset_root)
    report = SweepReport()
    host = _host()
    if not root.is_dir():
        return report
    for path in [*root.glob(".put-*"), *root.glob("*/.meta-*")]:
        m = _PUT_TMP.match(path.name)
        if m is None or m.group(1) != host:
            continue  # another host's writer (shared root): only that host can judge it
        _sweep(report, path, int(m.group(2)), lambda p: p.unlink(missing_ok=True), dry_run)
    return report


def campaign_asset_refs(data_dir: Path) -> set[str]:
    """Asset ids named in any campaign's saved state (``campaigns/*/state.json``)."""
    from workers.storage.base import ASSET_ID_RE  # not at the top: the storage package imports this module

    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and ASSET_ID_RE.match(node):
            refs.add(node)

    for state in (data_dir / "campaigns").glob("*/state.json"):
        try:
            walk(json.loads(state.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return refs


def local_assets(asset_root: Path) -> Iterable[tuple[str, float, int]]:
    """(asset id, created, size) of every asset in a local asset root."""
    for meta in asset_root.glob("*/*.json"):
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        yield (
            str(info.get("id") or meta.stem),
            float(info.get("created") or meta.stat().st_mtime),
            int(info.get("size") or 0),
        )


def prune_assets(
    asset_root: Path,
    referenced: set[str],
    *,
    min_age_s: float,
    dry_run: bool = False,
    now: float | None = None,
) -> SweepReport:
    """Delete local assets older than ``min_age_s`` that are not in ``referenced``.

    ``referenced`` must hold every asset a job (any status), a campaign or a tenant upload names;
    the age floor keeps an asset that a running attempt stored moments ago and has not yet
    recorded in its job.
    """
    from workers.storage import LocalAssetStore

    store = LocalAssetStore(asset_root)
    now = time.time() if now is None else now
    report = SweepReport()
    for asset_id, created, size in list(local_assets(asset_root)):
        if asset_id in referenced:
            continue
        if now - created < min_age_s:
            report.kept_live += 1
            continue
        report.removed.append(asset_id)
        report.bytes += size
        if not dry_run:
            store.delete(asset_id)
    return report
