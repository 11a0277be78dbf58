"""Campaign results and resume bookkeeping: manifest rows, ``state.json``, exporting finished jobs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines._common.files import atomic_write_bytes
from workers.campaigns.jobs import fmt_tag, safe_name
from workers.campaigns.spec import CampaignSpec
from workers.settings import Settings


@dataclass
class AdResult:
    """One manifest row (also for invalid rows, with status ``invalid``)."""

    row: int
    customer_id: str
    status: str  # done | failed | invalid | pending | canceled
    first_name: str = ""
    job_id: str | None = None
    key: str | None = None
    cache_hit: bool = False
    resumed: bool = False
    formats: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # output (e.g. 9:16.video) -> path relative to campaign dir
    assets: dict[str, str] = field(default_factory=dict)  # output name -> asset id
    plan: dict[str, Any] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    error_field: str | None = None


@dataclass
class CampaignResult:
    campaign_id: str
    out_dir: Path
    ads: list[AdResult]
    rows_total: int
    stats: dict[str, Any]
    interrupted: bool = False

    @property
    def gallery(self) -> Path:
        return self.out_dir / "index.html"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ad in self.ads:
            out[ad.status] = out.get(ad.status, 0) + 1
        return out


def campaign_dir(settings: Settings, campaign_id: str) -> Path:
    return settings.data_dir / "campaigns" / campaign_id


def load_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}  # a torn state file only costs re-exporting finished jobs (keys still dedupe)
    return data if isinstance(data, dict) else {}


def files_exist(out_dir: Path, files: dict[str, str]) -> bool:
    return bool(files) and all((out_dir / rel).is_file() for rel in files.values())


@dataclass
class Expansion:
    """A campaign expanded into jobs: every row's result slot, and the jobs still to wait for."""

    spec: CampaignSpec
    out_dir: Path
    results: dict[str, AdResult]
    pending: dict[str, AdResult]  # job id -> result slot
    stats: dict[str, Any]
    store: Any

    def save(self, interrupted: bool = False) -> CampaignResult:
        """Persist state.json and write manifest.json/.csv + index.html for what is known now."""
        ads = sorted(self.results.values(), key=lambda r: r.row)
        result = CampaignResult(self.spec.campaign_id, self.out_dir, ads, self.stats["rows"], self.stats, interrupted)
        state = {
            "campaign_id": self.spec.campaign_id,
            "spec": json.loads(self.spec.model_dump_json(by_alias=True)),
            "stats": self.stats,
            "interrupted": interrupted,
            "results": {k: asdict(r) for k, r in self.results.items()},
        }
        atomic_write_bytes(self.out_dir / "state.json", json.dumps(state, ensure_ascii=False, indent=1).encode("utf-8"))
        from workers.campaigns.manifest import write_outputs

        write_outputs(result, self.spec)
        return result


def record_job(store: Any, out_dir: Path, rec: Any, res: AdResult) -> None:
    """Copy a finished job's outputs into the campaign folder and fill the manifest row."""
    from workers.jobs.models import JobStatus

    res.cache_hit = bool(rec.cache_hit)
    if rec.status != JobStatus.SUCCEEDED:
        res.status = "canceled" if rec.status == JobStatus.CANCELED else "failed"
        res.error = f"{rec.error_class}: {rec.error_message}" if rec.error_class else (rec.error_message or "")
        res.error_field = rec.error_field
        return
    folder = out_dir / "ads" / safe_name(res.customer_id)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    ext = {"video": ".mp4", "poster": ".poster.png", "vtt": ".vtt", "srt": ".srt"}
    for name, asset_id in sorted(rec.outputs.items()):
        fmt, _, kind = name.rpartition(".")
        if kind not in ext:
            continue
        dest = folder / f"{fmt_tag(fmt)}{ext[kind]}"
        if not dest.is_file() or dest.stat().st_size != store.get(asset_id).size:
            store.export(asset_id, dest)  # atomic: temp name, then rename
        files[name] = dest.relative_to(out_dir).as_posix()
    res.files = files
    res.assets = dict(rec.outputs)
    res.status = "done"
    res.error = res.error_field = None
    durations: dict[str, float] = {}
    if rec.started_at and rec.finished_at and not rec.cache_hit:
        durations["render_s"] = round(rec.finished_at - rec.started_at, 3)
    for r in (rec.result or {}).get("renders", []):
        meta = r.get("metadata") or {}
        dur = meta.get("duration_s") or meta.get("duration")
        if isinstance(dur, int | float):
            durations[f"{r.get('format')}.video_s"] = round(float(dur), 3)
    res.durations = durations
