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
from workers.api.webhooks import WebhookTargetError, check_target, webhook_view

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


def internal_campaign_id(tenant: str, campaign_id: str) -> str:
    """Campaign ids are namespaced per tenant: the job store and the campaign folder use
    ``<campaign_id>.<10 hex of sha256(tenant)>``, so two tenants' "spring" never meet."""
    import hashlib

    return f"{campaign_id}.{hashlib.sha256(tenant.encode('utf-8')).hexdigest()[:10]}"


def campaign_jobs(ctx: ApiContext, campaign_id: str, tenant: str | None = None) -> list[Any]:
    """Every job of the campaign (paged through the runtime), only ``tenant``'s when given."""
    out: list[Any] = []
    offset = 0
    while True:
        page = ctx.runtime.list(campaign_id=campaign_id, tenant=tenant, limit=_PAGE, offset=offset)
        out.extend(page)
        if len(page) < _PAGE:
            return out
        offset += _PAGE


def _tenant_of(ctx: ApiContext, campaign_id: str) -> str | None:
    """Tenant of an internal campaign id (an API campaign, or jobs submitted with that id)."""
    known = ctx.store.campaign_by_internal(campaign_id)
    if known is not None:
        return known[0]
    tenant = ctx.store.campaign_tenant(campaign_id)
    if tenant is not None:
        return tenant
    jobs = ctx.runtime.list(campaign_id=campaign_id, limit=1)
    return jobs[0].tenant if jobs else None


def campaign_summary(ctx: ApiContext, campaign_id: str) -> dict[str, Any] | None:
    """Counts by state (and done/total) for a campaign (internal id), or None when there is none."""
    tenant = _tenant_of(ctx, campaign_id)
    if tenant is None:
        return None
    known = ctx.store.campaign_by_internal(campaign_id)
    public = known[1] if known is not None else campaign_id
    every = campaign_jobs(ctx, campaign_id, tenant)
    # The ads: not the recolor/voice jobs they depend on (those carry the campaign id too).
    deps = {d for j in every for d in (j.depends_on or ())}
    jobs = [j for j in every if j.parent_id is None and j.id not in deps]
    counts = Counter(str(j.status.value) for j in jobs)
    runner_status = _runner_status(ctx, campaign_id)
    total = len(jobs)
    terminal = sum(1 for j in jobs if j.terminal)
    done = total > 0 and terminal == total and not (runner_status or {}).get("expanding", False)
    return {
        "id": public,
        "tenant": tenant,
        "total": total,
        "counts": dict(sorted(counts.items())),
        "done": done,
        "progress": round(terminal / total, 4) if total else 0.0,
        "runner": runner_status,
        "manifest_url": f"/v1/campaigns/{public}/manifest",
    }


def _runner_status(ctx: ApiContext, campaign_id: str) -> dict[str, Any] | None:
    try:
        status = campaigns.campaign_status(ctx.settings, campaign_id)
    except (KeyError, FileNotFoundError, PipelineInputError):
        return None
    return status if isinstance(status, dict) else None


def visible_campaign(ctx: ApiContext, principal: Principal, campaign_id: str) -> str:
    """The internal id of the caller's campaign ``campaign_id``; 404 for unknown and foreign ids
    alike (an admin may also name a campaign by its internal id)."""
    if not campaign_id or len(campaign_id) > 128:
        raise not_found("campaign")
    internal = ctx.store.tenant_campaign(principal.tenant, campaign_id)
    if internal is not None:
        return internal
    tenant = _tenant_of(ctx, campaign_id)  # jobs submitted with a campaign id (CLI, runtime)
    if tenant is None or not can_see(principal, tenant):
        raise not_found("campaign")
    return campaign_id


def _start_from_assets(ctx: ApiContext, spec_id: str, audience_path: Path, tenant: str,
                       dry_run: bool) -> dict[str, Any]:
    with ctx.assets.local_copy(spec_id) as spec_path:
        return _start(ctx, spec_path, audience_path, tenant, dry_run)


def _start(ctx: ApiContext, spec_path: Path, audience_path: Path, tenant: str, dry_run: bool) -> dict[str, Any]:
    """Validate the uploaded spec (tenant and audience forced; catalogue/copy, templates and music
    are registry names or the tenant's asset ids, see workers.resolver), then submit the campaign;
    returns its id and plan stats."""
    from pipelines._common.data import parse_data_text
    from workers.resolver import Resolver, check_name

    try:
        raw = parse_data_text(spec_path.read_bytes(), field="spec", source="campaign spec",
                              max_bytes=campaigns.MAX_SPEC_BYTES)
    except PipelineInputError as exc:
        raise ApiError(422, exc.message, field="spec") from None
    if not isinstance(raw, dict):
        raise ApiError(422, "spec must be a mapping of keys", field="spec")
    overrides: dict[str, Any] = {"audience": str(audience_path), "tenant": tenant}
    resolver = Resolver(ctx.assets, owns=lambda asset_id: ctx.owns_asset(asset_id, tenant))
    for key in ("catalogue", "copy"):
        value = raw.get(key)
        if value is None:
            continue
        try:  # a shipped data file by name ('demo/catalogue.yaml'); its images resolve next to it
            overrides[key] = str(resolver.registry.data_file(value, f"spec.{key}"))
        except PipelineInputError as exc:
            raise ApiError(422, exc.message, field=exc.field) from None
    # Templates and the music bed: registry names or the tenant's asset ids (media inside an
    # uploaded template too); a path anywhere is refused before anything is opened.
    refs: list[tuple[str, Any, str]] = [("spec.template", raw.get("template"), "template")]
    templates_raw = raw.get("templates") or {}
    if not isinstance(templates_raw, dict):
        raise ApiError(422, "spec.templates must map template variants to template names", field="spec.templates")
    refs += [(f"spec.templates.{k}", v, "template") for k, v in templates_raw.items()]
    refs.append(("spec.music", raw.get("music"), "music"))
    for field, value, kind in refs:
        if value is None:
            continue
        try:
            if kind == "template":
                resolver.load_template(check_name(value, field), field)
            else:
                resolver.music(check_name(value, field), field)
        except PipelineInputError as exc:
            raise ApiError(422, exc.message, field=exc.field or field) from None
    try:
        spec = campaigns.load_spec(spec_path, **overrides)
    except campaigns.CampaignSpecError as exc:
        raise ApiError(422, str(exc), field="spec") from None
    public = spec.campaign_id
    if len(public) > 64:
        raise ApiError(422, "spec.campaign_id must be 1-64 characters of [A-Za-z0-9._-]", field="spec.campaign_id")
    validation = campaigns.validate_campaign(spec, campaign_settings(ctx), resolver=resolver)
    report = {
        "id": public,
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
    internal = internal_campaign_id(tenant, public)
    if not ctx.store.claim_campaign(tenant, public, internal):  # the unique key: one winner
        raise ApiError(409, f"this tenant already has a campaign {public!r}; choose another campaign_id",
                       field="spec.campaign_id")
    overrides["campaign_id"] = internal
    # The runner's non-blocking start: validate, submit every ad as a durable job (tenant and
    # campaign_id on each), write the pending manifest, return. The dispatcher (``maydo serve``
    # or a ``maydo worker``) renders them; the status endpoint reads progress from the job store.
    # The spec handed over names the checked absolute catalogue/copy paths, nothing relative.
    import yaml as _yaml

    safe = {**raw, **overrides}
    folder = ctx.settings.data_dir / "api-uploads" / tenant
    folder.mkdir(parents=True, exist_ok=True)
    safe_spec = folder / f"campaign-{internal}.yaml"
    safe_spec.write_text(_yaml.safe_dump(safe, allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        started = campaigns.start_campaign(ctx.settings, safe_spec, audience_path, tenant=tenant,
                                           runtime=ctx.runtime)
    except BaseException:
        ctx.store.release_campaign(internal)
        raise
    return {**report, "submitted": started.get("submitted"), "internal_id": internal}


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
        ctx.assets.export(ref.id, dest)
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
            lambda: _start_from_assets(ctx, spec_ref.id, _audience_file(ctx, audience_ref, principal.tenant),
                                       principal.tenant, dry_run)
        )
    except PipelineInputError as exc:
        raise ApiError(422, exc.message, field=exc.field) from None
    campaign_id = str(started["id"])
    if dry_run:
        return JSONResponse(json.loads(json.dumps(started, default=str)), status_code=200)
    internal = str(started.pop("internal_id"))
    if webhook:
        ctx.runtime.store.set_webhook(internal, "campaign", principal.tenant, webhook)
    body = {**json.loads(json.dumps(started, default=str)), "id": campaign_id,
            "status_url": f"/v1/campaigns/{campaign_id}", "manifest_url": f"/v1/campaigns/{campaign_id}/manifest"}
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/campaigns/{campaign_id}"})


@router.get("/{campaign_id}", summary="Campaign progress: job counts by state")
def get_campaign(request: Request, campaign_id: str,
                 principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    summary = campaign_summary(ctx, internal)
    if summary is None:
        raise not_found("campaign")
    summary["webhook"] = webhook_view(ctx.runtime.store, internal)
    return summary


@router.get("/{campaign_id}/manifest", summary="Campaign manifest: one row per recipient with asset ids")
def get_manifest(request: Request, campaign_id: str,
                 principal: Principal = Depends(require("creator", "platform"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    manifest: Any = None
    try:
        manifest = campaigns.load_manifest(ctx.settings, internal)  # refreshed from the job store
    except (KeyError, FileNotFoundError, json.JSONDecodeError):
        manifest = None
    if manifest is None:
        rows = []
        for job in campaign_jobs(ctx, internal, None if principal.is_admin else principal.tenant):
            if job.parent_id is not None:
                continue
            rows.append({"job_id": job.id, "status": str(job.status.value), "outputs": job.outputs,
                         "recipient": job.params.get("recipient") or (job.params.get("data") or {}).get("id")})
        manifest = {"campaign_id": campaign_id, "rows": rows}
    # The assets it points at are the campaign jobs' outputs: readable by the tenant through the
    # job store's asset index (ApiContext.owns_asset), no write needed here.
    if isinstance(manifest, dict):
        return {**manifest, "campaign_id": campaign_id}  # the caller's id, not the internal one
    return {"campaign_id": campaign_id, "rows": manifest}

