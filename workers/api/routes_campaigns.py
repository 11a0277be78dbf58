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
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from pipelines._common.errors import PipelineInputError
from workers import campaigns
from workers.api.context import ApiContext, can_see, ctx_of, require
from workers.api.errors import ApiError, not_found
from workers.api.public import base_url, decode_cursor, encode_cursor, scrub
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
                        "metadata": {"type": "string", "description": "your JSON object, returned in replies and "
                                     "webhook bodies (at most 4096 bytes)"},
                        "catalogue": {"type": "string", "format": "binary",
                                      "description": "your catalogue YAML (images/masks name uploaded images)"},
                        "copy": {"type": "string", "format": "binary", "description": "your copy deck YAML"},
                        "template": {"type": "string", "format": "binary",
                                     "description": "your template YAML (media: uploaded files or shipped ones)"},
                        "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                                   "description": "product images, masks and template media, by file name"},
                        "catalogue_asset": {"type": "string", "description": "asset id instead of a catalogue part"},
                        "copy_asset": {"type": "string", "description": "asset id instead of a copy part"},
                        "template_asset": {"type": "string", "description": "asset id instead of a template part"},
                        "images_asset": {"type": "string", "description": "asset ids of images, comma-separated"},
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


def campaign_summary(ctx: ApiContext, campaign_id: str, base: str | None = None) -> dict[str, Any] | None:
    """Counts by state (and done/total) for a campaign (internal id), or None when there is none.
    URLs are absolute under ``base`` (default ``api.public_base_url``); no server paths."""
    tenant = _tenant_of(ctx, campaign_id)
    if tenant is None:
        return None
    root = base_url(ctx.settings) if base is None else base
    public = ctx.store.public_campaign_id(campaign_id)
    every = campaign_jobs(ctx, campaign_id, tenant)
    # The ads: not the recolor/voice jobs they depend on (those carry the campaign id too).
    deps = {d for j in every for d in (j.depends_on or ())}
    jobs = [j for j in every if j.id not in deps]
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
        "runner": None if runner_status is None else {k: v for k, v in scrub(runner_status).items() if k != "campaign_id"},
        "url": f"{root}/v1/campaigns/{public}",
        "manifest_url": f"{root}/v1/campaigns/{public}/manifest",
        "ads_url": f"{root}/v1/campaigns/{public}/ads",
        "review_url": f"{root}/v1/campaigns/{public}/review",
        "export_url": f"{root}/v1/campaigns/{public}/export",
        "metadata": ctx.store.metadata(campaign_id),
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


def _start_from_assets(ctx: ApiContext, spec_id: str, audience_path: Path, tenant: str, dry_run: bool,
                       team_files: dict[str, list[tuple[str, str]]] | None = None) -> dict[str, Any]:
    with ctx.assets.local_copy(spec_id) as spec_path:
        return _start(ctx, spec_path, audience_path, tenant, dry_run, team_files)


def _start(ctx: ApiContext, spec_path: Path, audience_path: Path, tenant: str, dry_run: bool,
           team_files: dict[str, list[tuple[str, str]]] | None = None) -> dict[str, Any]:
    """Validate the uploaded spec (tenant and audience forced; catalogue/copy, templates and music
    are the team's uploads (``workers.api.campaign_files``), registry names or the tenant's asset
    ids, see workers.resolver), then submit the campaign; returns its id and plan stats."""
    from pipelines._common.data import parse_data_text
    from workers.api.campaign_files import materialise
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
    uploaded = materialise(ctx, tenant, team_files or {})
    for key, ref in uploaded.items():
        overrides[key] = ref
        if key == "template":  # an asset id now: checked by the resolver below like any other
            raw["template"] = ref
    for key in ("catalogue", "copy"):
        value = raw.get(key)
        if value is None or key in uploaded:
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
    form = await request.form(max_files=64, max_fields=80)
    spec, audience = form.get("spec"), form.get("audience")
    if not isinstance(spec, UploadFile):
        raise ApiError(422, "missing 'spec' file (campaign spec, YAML or JSON)", field="spec")
    if not isinstance(audience, UploadFile):
        raise ApiError(422, "missing 'audience' file (CSV, JSONL or Parquet)", field="audience")
    webhook = form.get("webhook_url")
    if webhook is not None and not isinstance(webhook, str):
        raise ApiError(422, "webhook_url must be a string", field="webhook_url")
    dry_run = _flag(form.get("dry_run"), "dry_run") or _flag(request.query_params.get("dry_run"), "dry_run")
    metadata = _metadata_field(form.get("metadata"))
    if webhook is None:
        webhook = ctx.settings.api.default_webhook_url.get(principal.tenant)
    if webhook:
        try:
            await anyio.to_thread.run_sync(
                lambda: check_target(webhook, allow_private=ctx.settings.api.webhooks.allow_private_targets)
            )
        except WebhookTargetError as exc:
            raise ApiError(422, str(exc), field="webhook_url") from None
    team_files = await _team_files(ctx, principal, form)
    spec_ref = await store_upload(ctx, principal.tenant, spec, "spec")
    audience_ref = await store_upload(ctx, principal.tenant, audience, "audience")
    try:
        started = await anyio.to_thread.run_sync(
            lambda: _start_from_assets(ctx, spec_ref.id, _audience_file(ctx, audience_ref, principal.tenant),
                                       principal.tenant, dry_run, team_files)
        )
    except PipelineInputError as exc:
        raise ApiError(422, exc.message, field=exc.field) from None
    campaign_id = str(started["id"])
    if dry_run:
        return JSONResponse(json.loads(json.dumps(started, default=str)), status_code=200)
    internal = str(started.pop("internal_id"))
    if webhook:
        ctx.runtime.store.set_webhook(internal, "campaign", principal.tenant, webhook)
    if metadata is not None:
        ctx.store.set_metadata(internal, principal.tenant, metadata)
    root = base_url(ctx.settings, request)
    body = {**json.loads(json.dumps(started, default=str)), "id": campaign_id, "metadata": metadata,
            "status_url": f"{root}/v1/campaigns/{campaign_id}", "manifest_url": f"{root}/v1/campaigns/{campaign_id}/manifest",
            "ads_url": f"{root}/v1/campaigns/{campaign_id}/ads", "review_url": f"{root}/v1/campaigns/{campaign_id}/review"}
    return JSONResponse(body, status_code=202, headers={"Location": f"{root}/v1/campaigns/{campaign_id}"})


async def _team_files(ctx: ApiContext, principal: Principal, form: Any) -> dict[str, list[tuple[str, str]]]:
    """The team's own files: ``catalogue``/``copy``/``template``/``images`` parts, or asset ids of
    earlier uploads in ``<part>_asset`` fields (``images_asset`` may repeat or be comma-separated)."""
    from workers.api.campaign_files import FILE_PARTS, IMAGE_PART, safe_filename

    files: dict[str, list[tuple[str, str]]] = {}
    for part in (*FILE_PARTS, IMAGE_PART):
        for value in form.getlist(part):
            if not isinstance(value, UploadFile):
                raise ApiError(422, f"{part!r} must be a file part (or give an asset id in '{part}_asset')", field=part)
            name = safe_filename(value.filename, part)
            ref = await store_upload(ctx, principal.tenant, value, part)
            files.setdefault(part, []).append((name, ref.id))
        ids = [i.strip() for v in form.getlist(f"{part}_asset") if isinstance(v, str) for i in v.split(",") if i.strip()]
        for asset_id in ids:
            field = f"{part}_asset"
            owned = principal.is_admin or await anyio.to_thread.run_sync(ctx.owns_asset, asset_id, principal.tenant)
            if not owned or not ctx.assets.exists(asset_id):
                raise ApiError(422, f"{field}: no asset {asset_id!r} in this tenant", field=field)
            ref = ctx.assets.get(asset_id)
            files.setdefault(part, []).append((safe_filename(ref.filename or asset_id, field), asset_id))
    return files


def _metadata_field(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > 4096:
        raise ApiError(422, "metadata must be a JSON object of at most 4096 bytes", field="metadata")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise ApiError(422, "metadata is not valid JSON", field="metadata") from None
    if not isinstance(data, dict):
        raise ApiError(422, "metadata must be a JSON object", field="metadata")
    return data


@router.get("", summary="List your tenant's campaigns, newest first (cursor-paginated, filterable)")
def list_campaigns(
    request: Request,
    status: Literal["done", "active"] | None = Query(None, description="done: every ad finished; active: not yet"),
    created_after: float | None = Query(None, ge=0, description="unix seconds, inclusive"),
    created_before: float | None = Query(None, ge=0, description="unix seconds, exclusive"),
    tenant: str | None = Query(None, max_length=64, description="admins only: one tenant (default: all)"),
    limit: int = Query(20, ge=1, le=200),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page"),
    principal: Principal = Depends(require("creator", "platform")),
) -> dict[str, Any]:
    ctx = ctx_of(request)
    if tenant is not None and not principal.is_admin:
        raise ApiError(403, "only admins may list another tenant's campaigns; leave out 'tenant'", field="tenant")
    after = decode_cursor(cursor, float, str)
    scope = tenant if principal.is_admin else principal.tenant
    root = base_url(ctx.settings, request)
    items: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    more = False
    before = None if after is None else (after[0], after[1])
    while len(items) < limit:
        rows = ctx.store.campaigns(scope, created_after=created_after, created_before=created_before,
                                   before=before, limit=limit)
        for row in rows:
            if len(items) == limit:
                more = True
                break
            last = row
            summary = campaign_summary(ctx, row["internal_id"], base=root)
            if summary is None or (status == "done" and not summary["done"]) or (status == "active" and summary["done"]):
                continue
            summary["created_at"] = row["created"]
            summary.pop("runner", None)
            items.append(summary)
        if more or len(rows) < limit:
            break
        before = (rows[-1]["created"], rows[-1]["internal_id"])
    if not more and last is not None and len(items) == limit:
        more = bool(ctx.store.campaigns(scope, created_after=created_after, created_before=created_before,
                                        before=(last["created"], last["internal_id"]), limit=1))
    nxt = encode_cursor(last["created"], last["internal_id"]) if more and last is not None else None
    return {"items": items, "next_cursor": nxt}



@router.get("/{campaign_id}", summary="Campaign progress: job counts by state")
def get_campaign(request: Request, campaign_id: str,
                 principal: Principal = Depends(require("creator", "platform"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    summary = campaign_summary(ctx, internal, base=base_url(ctx.settings, request))
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
        manifest = campaigns.load_manifest(ctx.settings, internal, runtime=ctx.runtime)  # refreshed from the job store
    except (KeyError, FileNotFoundError, json.JSONDecodeError):
        manifest = None
    if manifest is None:
        rows = []
        every = campaign_jobs(ctx, internal, None if principal.is_admin else principal.tenant)
        deps = {d for j in every for d in (j.depends_on or ())}  # an ad's recolor/voice children are not rows
        for job in every:
            if job.id in deps:
                continue
            rows.append({"job_id": job.id, "status": str(job.status.value), "outputs": job.outputs,
                         "recipient": job.params.get("recipient") or (job.params.get("data") or {}).get("id")})
        manifest = {"campaign_id": campaign_id, "rows": rows}
    # The assets it points at are the campaign jobs' outputs: readable by the tenant through the
    # job store's asset index (ApiContext.owns_asset), no write needed here.
    if not isinstance(manifest, dict):
        manifest = {"campaign_id": campaign_id, "rows": manifest}
    # the caller's id, not the internal one
    return public_manifest({**manifest, "campaign_id": campaign_id}, base_url(ctx.settings, request))


def public_manifest(manifest: dict[str, Any], root: str) -> dict[str, Any]:
    """The manifest as the API shows it: asset URLs instead of the campaign folder's files, spec
    file references as bare names, no server paths anywhere."""
    out = dict(manifest)
    ads = []
    for ad in manifest.get("ads", []):
        ad = {k: v for k, v in ad.items() if k not in ("files", "key", "history")}
        ad["asset_urls"] = {name: f"{root}/v1/assets/{aid}" for name, aid in (ad.get("assets") or {}).items()}
        ads.append(ad)
    if "ads" in manifest:
        out["ads"] = ads
    return scrub(out)  # type: ignore[no-any-return]



def delete_campaign(ctx: ApiContext, campaign_id: str) -> dict[str, Any]:
    """Delete a campaign (internal id) everywhere: its jobs (queued ones are canceled first), events and reviews;
    the campaign folder (ads, manifests, gallery, state with the audience rows); the audience and
    spec uploads; and every asset only this campaign's jobs used or produced. Blocking."""
    from workers.campaigns import review as campaign_review
    from workers.jobs.models import JobStatus
    from workers.storage import AssetNotFound

    tenant = _tenant_of(ctx, campaign_id)
    jobs = campaign_jobs(ctx, campaign_id, tenant)
    from workers.runtime import JobInUse

    for job in jobs:
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING):
            try:
                ctx.runtime.cancel(job.id)
            except JobInUse:  # shared with another campaign's ad: it keeps running for that one
                continue
    state_spec: dict[str, Any] = {}
    from workers.campaigns.state import campaign_dir, load_state

    state = load_state(campaign_dir(ctx.settings, campaign_id) / "state.json")
    if isinstance(state.get("spec"), dict):
        state_spec = state["spec"]
    files = campaign_review.delete_campaign_files(ctx.settings, campaign_id)
    assets = set(files["assets"])
    for job in jobs:
        assets.update(job.inputs.values())
        assets.update(job.outputs.values())
    # The audience upload (personal data) and the spec copy the API kept for this campaign.
    uploads = ctx.settings.data_dir / "api-uploads"
    upload_ids: set[str] = set()
    value = state_spec.get("audience")
    if isinstance(value, str):
        p = Path(value)
        if p.is_relative_to(uploads) and p.is_file():
            upload_ids.add(p.stem)
            p.unlink()
    if tenant:
        spec_copy = uploads / tenant / f"campaign-{campaign_id}.yaml"
        if spec_copy.is_file():
            spec_copy.unlink()
    deleted_jobs = ctx.runtime.store.delete_campaign(campaign_id)
    removed: list[str] = []
    for aid in sorted(assets | upload_ids):
        # Content-addressed: an identical file another job still uses stays.
        if ctx.runtime.store.tenants_for_asset(aid) and aid not in upload_ids:
            continue
        try:
            if ctx.assets.delete(aid):
                removed.append(aid)
        except AssetNotFound:
            continue
    ctx.store.forget_campaign(campaign_id, removed)
    return {"id": campaign_id, "deleted": True, "jobs_deleted": len(deleted_jobs), "assets_deleted": len(removed),
            "files_deleted": files["files_removed"], "audience_deleted": bool(upload_ids)}


@router.delete("/{campaign_id}", summary="Delete a campaign with its ads, assets and the audience's personal data")
def delete_campaign_route(request: Request, campaign_id: str,
                          principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    out = delete_campaign(ctx, visible_campaign(ctx, principal, campaign_id))
    return {**out, "id": campaign_id}


def purge_expired(ctx: ApiContext, now: float | None = None) -> list[str]:
    """Delete every campaign older than its tenant's retention (``api.retention``); returns their ids."""
    import time

    now = time.time() if now is None else now
    retention = ctx.settings.api.retention
    gone: list[str] = []
    for row in ctx.store.campaigns(None, limit=1_000_000):
        days = retention.days_for(row["tenant"])
        if days is not None and row["created"] < now - days * 86400:
            delete_campaign(ctx, row["internal_id"])
            gone.append(f"{row['tenant']}/{row['campaign_id']}")
    return gone


