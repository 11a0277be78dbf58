"""``/v1/campaigns``: start a campaign from a spec + audience upload, counts by state, manifest.

The campaign runner (``workers.campaigns``) expands audience × template into ad jobs; this module
stores the uploads as tenant-owned assets, hands them to the runner, and reads progress back from
the job runtime (jobs carry ``campaign_id``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from pipelines._common.errors import PipelineInputError
from workers.api.context import ApiContext, can_see, ctx_of, require
from workers.api.errors import ApiError, not_found
from workers.api.routes_assets import store_upload
from workers.api.store import Principal
from workers.api.webhooks import WebhookTargetError, check_target

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

_PAGE = 1000
_CAMPAIGN_DOC = {
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
    jobs = [j for j in campaign_jobs(ctx, campaign_id) if j.parent_id is None]
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
        from workers import campaigns  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    fn = getattr(campaigns, "campaign_status", None)
    if fn is None:
        return None
    try:
        status = fn(ctx.settings, campaign_id)
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


def _start(ctx: ApiContext, spec_path: Any, audience_path: Any, tenant: str, dry_run: bool) -> dict[str, Any]:
    """Hand the uploads to the campaign runner; returns at least ``{"id": ...}``."""
    try:
        from workers import campaigns  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise ApiError(503, "the campaign runner is not installed in this build", code="unavailable") from None
    start = getattr(campaigns, "start_campaign", None)
    if start is None:
        raise ApiError(503, "the campaign runner does not offer start_campaign()", code="unavailable")
    result = start(ctx.settings, spec_path, audience_path, tenant=tenant, runtime=ctx.runtime, dry_run=dry_run)
    return dict(result) if isinstance(result, dict) else {"id": str(result)}


@router.post("", status_code=201, summary="Start a campaign: spec + audience upload", openapi_extra=_CAMPAIGN_DOC)
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
    dry_run = str(form.get("dry_run", "false")).lower() in ("1", "true", "yes")
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
            lambda: _start(ctx, ctx.assets.path(spec_ref.id), ctx.assets.path(audience_ref.id), principal.tenant,
                           dry_run)
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
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/campaigns/{campaign_id}"})


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
    tenant = visible_campaign(ctx, principal, campaign_id)
    manifest: Any = None
    try:
        from workers import campaigns  # type: ignore[attr-defined,unused-ignore]

        fn = getattr(campaigns, "load_manifest", None)
        if fn is not None:
            manifest = fn(ctx.settings, campaign_id)
    except (ImportError, KeyError, FileNotFoundError):
        manifest = None
    if manifest is None:
        rows = []
        for job in campaign_jobs(ctx, campaign_id):
            if job.parent_id is not None:
                continue
            rows.append({"job_id": job.id, "status": str(job.status.value), "outputs": job.outputs,
                         "recipient": job.params.get("recipient") or (job.params.get("data") or {}).get("id")})
        manifest = {"campaign_id": campaign_id, "rows": rows}
    # Everything the manifest points at becomes readable by the campaign's tenant (platform pulls).
    ids = _asset_ids(manifest)
    ctx.store.add_asset_owners(ids, tenant)
    return manifest if isinstance(manifest, dict) else {"campaign_id": campaign_id, "rows": manifest}


def _asset_ids(obj: Any) -> set[str]:
    import re

    found: set[str] = set()
    pat = re.compile(r"^[0-9a-f]{64}$")
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            stack.extend(cur.values())
        elif isinstance(cur, list | tuple):
            stack.extend(cur)
        elif isinstance(cur, str) and pat.match(cur):
            found.add(cur)
    return found
