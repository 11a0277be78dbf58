"""``/v1/campaigns``: start a campaign from a spec + audience upload, counts by state, manifest.

The campaign runner (``workers.campaigns``) expands audience × template into ad jobs; this module
stores the uploads as tenant-owned assets, hands them to the runner, and reads progress back from
the job runtime (jobs carry ``campaign_id``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from pipelines._common.errors import PipelineInputError
from workers import campaigns
from workers.api.context import ApiContext, can_see, ctx_of, require
from workers.api.errors import ApiError, not_found
from workers.api.routes_assets import store_upload
from workers.api.store import Principal
from workers.api.webhooks import WebhookTargetError, check_target

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
log = logging.getLogger(__name__)

_PAGE = 1000
_CAMPAIGN_DOC = {
    "parameters": [{"name": "dry_run", "in": "query", "required": False, "schema": {"type": "boolean"},
                    "description": "validate every row and report errors; queue nothing"}],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["spec", "audience"],
                    "properties": {
                        "spec": {"type": "string", "format": "binary", "description": "campaign spec (YAML/JSON)"},
                        "audience": {"type": "string", "format": "binary",
                                     "description": "audience file (CSV, JSONL or Parquet)"},
                        "webhook_url": {"type": "string", "description": "called when the campaign completes"},
                        "dry_run": {"type": "boolean"},
                    },
                }
            }
        },
    }
}


def campaign_jobs(ctx: ApiContext, campaign_id: str) -> list[Any]:
    """Every top-level job of the campaign (paged through the runtime)."""
    out: list[Any] = []
    offset = 0
    while True:
        page = ctx.runtime.list(campaign_id=campaign_id, limit=_PAGE, offset=offset)
        out.extend(page)
        if len(page) < _PAGE:
            return out
        offset += _PAGE


def _tenant_of(ctx: ApiContext, campaign_id: str) -> str | None:
    tenant = ctx.store.campaign_tenant(campaign_id)
    if tenant is not None:
        return tenant
    jobs = ctx.runtime.list(campaign_id=campaign_id, limit=1)
    return jobs[0].tenant if jobs else None


def campaign_summary(ctx: ApiContext, campaign_id: str) -> dict[str, Any] | None:
    """Counts by state (and done/total) for a campaign, or None when there is no such campaign."""
    tenant = _tenant_of(ctx, campaign_id)
    if tenant is None:
        return None
    every = campaign_jobs(ctx, campaign_id)
    # The ads: not the recolor/voice jobs they depend on (those carry the campaign id too).
    deps = {d for j in every for d in (j.depends_on or ())}
    jobs = [j for j in every if j.parent_id is None and j.id not in deps]
    counts = Counter(str(j.status.value) for j in jobs)
    runner_status = _runner_status(ctx, campaign_id)
    total = len(jobs)
    terminal = sum(1 for j in jobs if j.terminal)
    done = total > 0 and terminal == total and not (runner_status or {}).get("expanding", False)
    return {
        "id": campaign_id,
        "tenant": tenant,
        "total": total,
        "counts": dict(sorted(counts.items())),
        "done": done,
        "progress": round(terminal / total, 4) if total else 0.0,
        "runner": runner_status,
        "manifest_url": f"/v1/campaigns/{campaign_id}/manifest",
    }


def _runner_status(ctx: ApiContext, campaign_id: str) -> dict[str, Any] | None:
    try:
        status = campaigns.campaign_status(ctx.settings, campaign_id)
    except (KeyError, FileNotFoundError, PipelineInputError):
        return None
    return status if isinstance(status, dict) else None


def visible_campaign(ctx: ApiContext, principal: Principal, campaign_id: str) -> str:
    if not campaign_id or len(campaign_id) > 128:
        raise not_found("campaign")
    tenant = _tenant_of(ctx, campaign_id)
    if tenant is None or not can_see(principal, tenant):
        raise not_found("campaign")
    return tenant


def _start(ctx: ApiContext, spec_path: Path, audience_path: Path, tenant: str, dry_run: bool) -> dict[str, Any]:
    """Validate the uploaded spec (tenant and audience forced; catalogue/copy must be shipped files
    under assets/), then run the campaign on a background thread; returns its id and plan stats."""
    from pipelines._common.data import ASSETS_DIR, parse_data_text

    try:
        raw = parse_data_text(spec_path.read_bytes(), field="spec", source="campaign spec",
                              max_bytes=campaigns.MAX_SPEC_BYTES)
    except PipelineInputError as exc:
        raise ApiError(422, exc.message, field="spec") from None
    if not isinstance(raw, dict):
        raise ApiError(422, "spec must be a mapping of keys", field="spec")
    root = Path(ASSETS_DIR).resolve()
    overrides: dict[str, Any] = {"audience": str(audience_path), "tenant": tenant}
    for key in ("catalogue", "copy"):
        value = raw.get(key)
        if value is None:
            continue
        try:
            resolved = (root / str(value)).resolve() if isinstance(value, str) and len(value) <= 500 else None
        except (ValueError, OSError):  # NUL bytes, over-long names
            resolved = None
        if resolved is None or not resolved.is_relative_to(root) or not resolved.is_file():
            raise ApiError(422, f"spec.{key} must name a file under the server's assets/ directory "
                           f"(e.g. 'demo/{key if key == 'copy' else 'catalogue'}.yaml'), got {value!r}",
                           field=f"spec.{key}")
        overrides[key] = str(resolved)
    try:
        spec = campaigns.load_spec(spec_path, **overrides)
    except campaigns.CampaignSpecError as exc:
        raise ApiError(422, str(exc), field="spec") from None
    owner = ctx.store.campaign_tenant(spec.campaign_id)
    if owner is not None and owner != tenant:
        raise ApiError(409, f"campaign id {spec.campaign_id!r} is taken; choose another campaign_id",
                       field="spec.campaign_id")
    validation = campaigns.validate_campaign(spec, campaign_settings(ctx))
    report = {
        "id": spec.campaign_id,
        "rows": getattr(validation, "rows_total", None),
        "planned": len(getattr(validation, "planned", [])),
        "invalid_rows": [
            {"row": e.row, "customer_id": e.customer_id, "field": e.field, "message": e.message}
            for e in list(getattr(validation, "errors", []))[:100]
        ],
        "warnings": [
            {"row": e.row, "customer_id": e.customer_id, "field": e.field, "message": e.message}
            for e in list(getattr(validation, "warnings", []))[:100]
        ],
    }
    if dry_run:
        return {**report, "dry_run": True, "valid": bool(report["planned"])}
    if not report["planned"]:
        raise ApiError(422, "no audience row could be planned; see invalid_rows in a dry run", field="audience")
    ctx.store.add_campaign_owner(spec.campaign_id, tenant)
    # The runner's non-blocking start: validate, submit every ad as a durable job (tenant and
    # campaign_id on each), write the pending manifest, return. The dispatcher (``maydo serve``
    # or a ``maydo worker``) renders them; the status endpoint reads progress from the job store.
    # The spec handed over names the checked absolute catalogue/copy paths, nothing relative.
    import yaml as _yaml

    safe = {**raw, **overrides}
    folder = ctx.settings.data_dir / "api-uploads" / tenant
    folder.mkdir(parents=True, exist_ok=True)
    safe_spec = folder / f"campaign-{spec.campaign_id}.yaml"
    safe_spec.write_text(_yaml.safe_dump(safe, allow_unicode=True, sort_keys=False), encoding="utf-8")
    started = campaigns.start_campaign(ctx.settings, safe_spec, audience_path, tenant=tenant, runtime=ctx.runtime)
    return {**report, "submitted": started.get("submitted")}


def _audience_file(ctx: ApiContext, ref: Any, tenant: str) -> Path:
    """The runner picks the reader by suffix: give the uploaded audience its original one."""
    suffix = Path(ref.filename or "audience.csv").suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".parquet"):
        raise ApiError(422, f"audience file must be .csv, .jsonl, .ndjson or .parquet, got {suffix or 'no suffix'!r}",
                       field="audience")
    folder = ctx.settings.data_dir / "api-uploads" / tenant
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{ref.id}{suffix}"
    if not dest.exists():
        import shutil

        shutil.copyfile(ctx.assets.path(ref.id), dest)
    return dest


def campaign_settings(ctx: ApiContext) -> Any:
    return campaigns.campaign_settings(ctx.settings)


def _flag(value: Any, field: str) -> bool:
    """A boolean form field or query parameter: true/false, 1/0, yes/no (absent = false)."""
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ApiError(422, f"{field} must be true or false, got {text[:40]!r}", field=field)


@router.post("", status_code=202, summary="Start a campaign: spec + audience upload", openapi_extra=_CAMPAIGN_DOC)
async def create_campaign(request: Request, principal: Principal = Depends(require("creator"))) -> JSONResponse:
    ctx = ctx_of(request)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(415, "send multipart/form-data with 'spec' and 'audience' files", field="content-type")
    form = await request.form(max_files=4, max_fields=8)
    spec, audience = form.get("spec"), form.get("audience")
    if not isinstance(spec, UploadFile):
        raise ApiError(422, "missing 'spec' file (campaign spec, YAML or JSON)", field="spec")
    if not isinstance(audience, UploadFile):
        raise ApiError(422, "missing 'audience' file (CSV, JSONL or Parquet)", field="audience")
    webhook = form.get("webhook_url")
    if webhook is not None and not isinstance(webhook, str):
        raise ApiError(422, "webhook_url must be a string", field="webhook_url")
    dry_run = _flag(form.get("dry_run"), "dry_run") or _flag(request.query_params.get("dry_run"), "dry_run")
    if webhook:
        try:
            await anyio.to_thread.run_sync(
                lambda: check_target(webhook, allow_private=ctx.settings.api.webhooks.allow_private_targets)
            )
        except WebhookTargetError as exc:
            raise ApiError(422, str(exc), field="webhook_url") from None
    spec_ref = await store_upload(ctx, principal.tenant, spec, "spec")
    audience_ref = await store_upload(ctx, principal.tenant, audience, "audience")
    try:
        started = await anyio.to_thread.run_sync(
            lambda: _start(ctx, ctx.assets.path(spec_ref.id), _audience_file(ctx, audience_ref, principal.tenant),
                           principal.tenant, dry_run)
        )
    except PipelineInputError as exc:
        raise ApiError(422, exc.message, field=exc.field) from None
    campaign_id = str(started["id"])
    if dry_run:
        return JSONResponse(json.loads(json.dumps(started, default=str)), status_code=200)
    ctx.store.add_campaign_owner(campaign_id, principal.tenant)
    if webhook:
        ctx.store.set_webhook(campaign_id, "campaign", principal.tenant, webhook)
    body = {**json.loads(json.dumps(started, default=str)), "id": campaign_id,
            "status_url": f"/v1/campaigns/{campaign_id}", "manifest_url": f"/v1/campaigns/{campaign_id}/manifest"}
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/campaigns/{campaign_id}"})


@router.get("/{campaign_id}", summary="Campaign progress: job counts by state")
def get_campaign(request: Request, campaign_id: str,
                 principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    visible_campaign(ctx, principal, campaign_id)
    summary = campaign_summary(ctx, campaign_id)
    if summary is None:
        raise not_found("campaign")
    hook = ctx.store.webhook(campaign_id)
    summary["webhook"] = None if hook is None else {"url": hook["url"], "deliveries": ctx.store.deliveries(campaign_id)}
    return summary


@router.get("/{campaign_id}/manifest", summary="Campaign manifest: one row per recipient with asset ids")
def get_manifest(request: Request, campaign_id: str,
                 principal: Principal = Depends(require("creator", "platform"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    visible_campaign(ctx, principal, campaign_id)
    manifest: Any = None
    try:
        manifest = campaigns.load_manifest(ctx.settings, campaign_id)  # refreshed from the job store
    except (KeyError, FileNotFoundError, json.JSONDecodeError):
        manifest = None
    if manifest is None:
        rows = []
        for job in campaign_jobs(ctx, campaign_id):
            if job.parent_id is not None:
                continue
            rows.append({"job_id": job.id, "status": str(job.status.value), "outputs": job.outputs,
                         "recipient": job.params.get("recipient") or (job.params.get("data") or {}).get("id")})
        manifest = {"campaign_id": campaign_id, "rows": rows}
    # The assets it points at are the campaign jobs' outputs: readable by the tenant through the
    # job store's asset index (ApiContext.owns_asset), no write needed here.
    return manifest if isinstance(manifest, dict) else {"campaign_id": campaign_id, "rows": manifest}

