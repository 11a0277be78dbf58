"""manifest.json / manifest.csv of a campaign: writing them, and reading them back refreshed."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict
from typing import Any

from pipelines._common.files import atomic_write_bytes
from workers.campaigns.gallery import render_gallery
from workers.campaigns.spec import CampaignSpec
from workers.campaigns.state import AdResult, CampaignResult, Expansion, campaign_dir, load_state, record_job
from workers.settings import Settings

CSV_COLUMNS = (
    "row", "customer_id", "first_name", "status", "sku", "colourway", "colour_hex", "accent", "language", "tone",
    "template_variant", "formats", "video", "poster", "captions", "asset_ids", "job_id", "cache_hit", "resumed",
    "durations", "decisions", "error",
)  # fmt: skip


def write_outputs(result: CampaignResult, spec: CampaignSpec) -> None:
    """manifest.json, manifest.csv and index.html in the campaign folder (atomic writes)."""
    out = result.out_dir
    manifest = {
        "campaign_id": result.campaign_id,
        "name": spec.name,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "interrupted": result.interrupted,
        "complete": not any(a.status == "pending" for a in result.ads),
        "counts": result.counts(),
        "stats": result.stats,
        "spec": json.loads(spec.model_dump_json(by_alias=True)),
        "ads": [asdict(a) for a in result.ads],
    }
    atomic_write_bytes(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for a in result.ads:
        writer.writerow(
            {
                "row": a.row,
                "customer_id": a.customer_id,
                "first_name": a.first_name,
                "status": a.status,
                **{k: a.plan.get(k, "") for k in ("sku", "colourway", "colour_hex", "accent", "language", "tone")},
                "template_variant": a.plan.get("template_variant", ""),
                "formats": ";".join(a.formats),
                "video": ";".join(p for k, p in a.files.items() if k.endswith(".video")),
                "poster": ";".join(p for k, p in a.files.items() if k.endswith(".poster")),
                "captions": ";".join(p for k, p in a.files.items() if k.endswith(".vtt")),
                "asset_ids": ";".join(f"{k}={v}" for k, v in a.assets.items()),
                "job_id": a.job_id or "",
                "cache_hit": a.cache_hit,
                "resumed": a.resumed,
                "durations": ";".join(f"{k}={v}" for k, v in a.durations.items()),
                "decisions": " | ".join(f"L{d['level']} {d['field']}={d['value']}: {d['reason']}" for d in a.decisions),
                "error": (f"[{a.error_field}] " if a.error_field else "") + (a.error or ""),
            }
        )
    atomic_write_bytes(out / "manifest.csv", buf.getvalue().encode("utf-8"))
    atomic_write_bytes(out / "index.html", render_gallery(result, spec).encode("utf-8"))


def refresh_campaign(settings: Settings, campaign_id: str, *, runtime: Any | None = None) -> CampaignResult | None:
    """Export ads whose jobs finished since the last look and rewrite manifest + gallery.

    None when the campaign has never run here.
    """
    from workers.runtime import JobNotFound, Runtime
    from workers.storage import open_store

    out_dir = campaign_dir(settings, campaign_id)
    state = load_state(out_dir / "state.json")
    if not state.get("results"):
        return None
    spec = CampaignSpec.model_validate(state["spec"])
    results = {k: AdResult(**r) for k, r in state["results"].items()}
    pending = {r.job_id: r for r in results.values() if r.status == "pending" and r.job_id}
    exp = Expansion(spec, out_dir, results, pending, dict(state.get("stats", {})), open_store(settings))
    rt = runtime or Runtime(settings)
    try:
        for job_id, res in pending.items():
            try:
                rec = rt.get(job_id)
            except JobNotFound:
                continue
            if rec.terminal:
                record_job(exp.store, out_dir, rec, res)
        return exp.save(bool(state.get("interrupted")) and any(r.status == "pending" for r in results.values()))
    finally:
        if runtime is None:
            rt.close()


def load_manifest(settings: Settings, campaign_id: str) -> dict[str, Any] | None:
    """The campaign manifest (refreshed from the job store first); None when there is none."""
    result = refresh_campaign(settings, campaign_id)
    if result is None:
        return None
    data = json.loads((result.out_dir / "manifest.json").read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def campaign_status(settings: Settings, campaign_id: str) -> dict[str, Any]:
    """Exported ads, manifest counts and live job counts for a campaign (refreshes the manifest)."""
    from workers.runtime import Runtime

    result = refresh_campaign(settings, campaign_id)
    if result is None:
        raise KeyError(campaign_id)
    jobs: dict[str, int] = {}
    with Runtime(settings) as rt:
        offset = 0
        while True:
            batch = rt.list(campaign_id=campaign_id, kind="render_ad", limit=500, offset=offset)
            for rec in batch:
                jobs[rec.status.value] = jobs.get(rec.status.value, 0) + 1
            if len(batch) < 500:
                break
            offset += 500
    return {
        "campaign_id": campaign_id,
        "dir": str(result.out_dir),
        "counts": result.counts(),
        "jobs": jobs,
        "expanding": False,
        "interrupted": result.interrupted,
        "gallery": str(result.gallery),
    }
