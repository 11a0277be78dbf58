"""``/v1/jobs``: submit (JSON or multipart, idempotent, dry run), read, progress SSE, cancel.

Thin over ``workers.runtime.Runtime``: the runtime owns the queue, validation of the spec and the
job records; this module adds tenants, roles, uploads, webhooks and the HTTP shapes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile

from pipelines._common.errors import PipelineInputError
from workers.api.context import ApiContext, can_see, ctx_of, require
from workers.api.dryrun import dry_run_report
from workers.api.errors import ApiError, not_found
from workers.api.public import base_url, decode_cursor, encode_cursor, scrub, scrub_text
from workers.api.routes_assets import store_upload
from workers.api.signing import tenant_webhook_secret
from workers.api.store import Principal
from workers.api.webhooks import WebhookTargetError, check_target, webhook_view
from workers.resolver import RefError

if TYPE_CHECKING:
    from workers.jobs.models import JobSpec

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
webhook_router = APIRouter()

KIND_ALIASES = {"ad": "render_ad", "render_ad": "render_ad", "recolor": "recolor", "voice": "voice", "noop": "noop"}
_IDEMPOTENCY_MAX = 200
_METADATA_MAX = 4096


class JobIn(BaseModel):
    """A job request. ``inputs`` name -> asset id (from ``POST /v1/assets`` or a job's outputs)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["recolor", "voice", "ad", "render_ad", "noop"] = Field(
        description="recolor | voice | ad ('noop' only when the server enables test kinds)"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="per-kind parameters, see docs/workers.md")
    inputs: dict[str, str] = Field(default_factory=dict, description="input name -> asset id")
    lane: Literal["interactive", "batch"] = "interactive"
    priority: int = Field(0, ge=-1000, le=1000)
    webhook_url: str | None = Field(None, max_length=2048, description="called on terminal states and stored assets")
    dry_run: bool = Field(False, description="validate and estimate only; nothing is queued")
    metadata: dict[str, Any] | None = Field(
        None, description="your own JSON object (at most 4 KiB), returned as-is in replies and webhook bodies"
    )

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":"), default=str)) > _METADATA_MAX:
            raise ValueError(f"metadata must serialise to at most {_METADATA_MAX} bytes of JSON")
        return value


class DryRunOut(BaseModel):
    dry_run: Literal[True] = True
    valid: bool
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    estimated_output_seconds: float | None
    kind: str


_MULTIPART_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/JobIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {"type": "string", "description": "JobIn as a JSON string"},
                        "image": {"type": "string", "format": "binary", "description": "any input, by name"},
                    },
                }
            },
        },
    }
}


def job_view(ctx: ApiContext, rec: Any, *, include_deliveries: bool = True,
             webhook: dict[str, Any] | None | bool = True, base: str | None = None,
             metadata: dict[str, Any] | None | bool = True) -> dict[str, Any]:
    """The public JSON of a job (no traceback, no internal fencing, no server paths), with the
    webhook log. URLs are absolute under ``base`` (default: ``api.public_base_url``, else relative).

    ``webhook``: True = look it up; None/dict = already known (a fresh submit), no database read.
    ``metadata``: True = look up the caller's pass-through metadata; None/dict = already known.
    (Outputs are readable by the job's tenant through the job store's asset index, not by viewing.)
    """
    root = base_url(ctx.settings) if base is None else base
    out = {
        "id": rec.id,
        "kind": "ad" if rec.kind == "render_ad" else rec.kind,
        "status": str(rec.status.value if hasattr(rec.status, "value") else rec.status),
        "lane": rec.lane,
        "priority": rec.priority,
        "tenant": rec.tenant,
        "campaign_id": _public_campaign(ctx, rec.campaign_id),
        "idempotency_key": rec.idempotency_key,
        "params": scrub(rec.params),
        "inputs": rec.inputs,
        "outputs": rec.outputs,
        "output_urls": {name: f"{root}/v1/assets/{aid}" for name, aid in rec.outputs.items()},
        "result": scrub(rec.result),
        "cache_hit": rec.cache_hit,
        "depends_on": rec.depends_on,
        "attempts": rec.attempts,
        "max_attempts": rec.max_attempts,
        "cancel_requested": rec.cancel_requested,
        "error": None
        if rec.error_class is None
        else {"code": rec.error_class, "message": scrub_text(rec.error_message or ""), "field": rec.error_field},
        "created_at": rec.created_at,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "url": f"{root}/v1/jobs/{rec.id}",
        "events_url": f"{root}/v1/jobs/{rec.id}/events",
        "metadata": ctx.store.metadata(rec.id) if metadata is True else metadata,
    }
    if include_deliveries:
        if webhook is True:
            out["webhook"] = webhook_view(ctx.runtime.store, rec.id)
        else:
            out["webhook"] = webhook or None
    return out


def _public_campaign(ctx: ApiContext, internal: str | None) -> str | None:
    """The campaign id as its tenant wrote it (jobs carry the tenant-scoped internal id)."""
    return None if internal is None else ctx.store.public_campaign_id(internal)


def visible_job(ctx: ApiContext, principal: Principal, job_id: str) -> Any:
    from workers.runtime import JobNotFound

    if not job_id.startswith("j_") or len(job_id) > 64:
        raise not_found("job")
    try:
        rec = ctx.runtime.get(job_id)
    except JobNotFound:
        raise not_found("job") from None
    if not can_see(principal, rec.tenant):
        raise not_found("job")
    return rec


def _json_value(raw: bytes | str, field: str) -> Any:
    """Parse a JSON request part: no NaN/Infinity (not JSON; a job row would store them), nesting
    at most ``MAX_DEPTH`` deep, UTF-8 only; any failure is a 422 naming ``field``."""
    from pipelines._common.data import MAX_DEPTH, parse_data_text

    try:
        return parse_data_text(raw, suffix=".json", field=field, source="request JSON")
    except PipelineInputError as exc:
        raise ApiError(422, f"{exc.message} (JSON: finite numbers only, at most {MAX_DEPTH} levels deep)",
                       field=field) from None


async def parse_job_request(request: Request, ctx: ApiContext, principal: Principal) -> JobIn:
    """JSON body, or multipart with a ``spec`` JSON field plus one file part per input name."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=16, max_fields=32)
        raw_spec = form.get("spec")
        if not isinstance(raw_spec, str):
            raise ApiError(422, "multipart job requests need a 'spec' field holding the job JSON", field="spec")
        data = _json_value(raw_spec, "spec")
        if not isinstance(data, dict):
            raise ApiError(422, "'spec' must be a JSON object", field="spec")
        files = [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]
        raw_inputs = data.get("inputs", {})
        inputs = dict(raw_inputs) if isinstance(raw_inputs, dict) else raw_inputs
        if files and not isinstance(inputs, dict):
            raise ApiError(422, "'inputs' must be an object", field="inputs")
        for name, upload in files:
            key = name.removeprefix("inputs.")
            ref = await store_upload(ctx, principal.tenant, upload, key)
            assert isinstance(inputs, dict)
            inputs[key] = ref.id
        if files:
            data["inputs"] = inputs
    elif ctype.startswith("application/json") or not ctype:
        body = await request.body()
        data = _json_value(body or b"null", "body")
    else:
        raise ApiError(415, "send application/json or multipart/form-data", field="content-type")
    try:
        return JobIn.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _same_request(rec: Any, kind: str, spec: JobSpec) -> bool:
    return bool(rec.kind == kind and rec.params == spec.params and rec.inputs == spec.inputs)


@router.post(
    "",
    status_code=201,
    summary="Submit a job (recolor | voice | ad), or validate it with dry_run",
    openapi_extra=_MULTIPART_DOC,
    responses={200: {"description": "idempotent replay or dry run"}, 201: {"description": "queued"}},
)
async def submit_job(
    request: Request,
    dry_run: bool = Query(False, description="validate and estimate only"),
    principal: Principal = Depends(require("creator")),
) -> JSONResponse:
    ctx = ctx_of(request)
    body = await parse_job_request(request, ctx, principal)
    kind = KIND_ALIASES[body.kind]
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= _IDEMPOTENCY_MAX:
        raise ApiError(422, f"Idempotency-Key must be 1-{_IDEMPOTENCY_MAX} characters", field="Idempotency-Key")
    if dry_run or body.dry_run:
        report = await anyio.to_thread.run_sync(_dry_run_blocking, ctx, principal, kind, body)
        return JSONResponse(report, status_code=200)
    # All blocking work of a submit (ownership reads, the webhook DNS check, the job-store
    # transaction, the webhook row, the response body) in one worker-thread hop.
    view, status, headers = await anyio.to_thread.run_sync(_submit_blocking, ctx, principal, kind, body, key, request)
    if (body.webhook_url is not None or ctx.settings.api.default_webhook_url.get(principal.tenant)) \
            and status == 201:
        notifier = getattr(request.app.state, "notifier", None)
        if notifier is not None:
            notifier.poke()
    return JSONResponse(view, status_code=status, headers=headers)


def _check_request(ctx: ApiContext, principal: Principal, kind: str, body: JobIn, *, dry_run: bool = False
                   ) -> JobSpec:
    """The spec to queue: references checked by ``workers.resolver`` (inputs and template media
    owned by the tenant, registry names, never a path), webhook target allowed (DNS: blocking)."""
    from workers.jobs.models import JobSpec

    spec = JobSpec(kind=kind, params=body.params, inputs=body.inputs, lane=body.lane, priority=body.priority,
                   tenant=principal.tenant)
    owns = None if principal.is_admin else (lambda asset_id: ctx.owns_asset(asset_id, principal.tenant))
    try:
        spec = ctx.runtime.prepare(spec, owns=owns)
    except RefError as exc:
        # Someone else's (or no) asset, a server path, an unknown name: 422 naming the field.
        raise ApiError(422, exc.message, field=exc.field) from None
    except PipelineInputError as exc:
        if not dry_run:  # a dry run lists the spec's other problems in its report instead
            raise ApiError(422, exc.message, field=exc.field) from None
    if body.webhook_url is not None:
        try:
            check_target(body.webhook_url, allow_private=ctx.settings.api.webhooks.allow_private_targets)
        except WebhookTargetError as exc:
            raise ApiError(422, str(exc), field="webhook_url") from None
    return spec


def _dry_run_blocking(ctx: ApiContext, principal: Principal, kind: str, body: JobIn) -> dict[str, Any]:
    spec = _check_request(ctx, principal, kind, body, dry_run=True)
    return dry_run_report(ctx, kind, body.model_copy(update={"inputs": spec.inputs}), principal.tenant)


def _submit_blocking(ctx: ApiContext, principal: Principal, kind: str, body: JobIn, key: str | None,
                     request: Request) -> tuple[dict[str, Any], int, dict[str, str]]:
    from dataclasses import replace

    spec = replace(_check_request(ctx, principal, kind, body), idempotency_key=key)
    # What a dry run reports as an error is refused here too (422, same field), so a real submit
    # never queues a job the dry run calls invalid.
    errors = dry_run_report(ctx, kind, body.model_copy(update={"inputs": spec.inputs}), principal.tenant)["errors"]
    if errors:
        raise ApiError(422, errors[0]["message"], field=errors[0]["field"])
    t0 = time.time()
    try:
        rec = ctx.runtime.submit(spec)
    except PipelineInputError as exc:
        raise ApiError(422, exc.message, field=exc.field) from None
    replay = key is not None and rec.created_at < t0
    if replay and not _same_request(rec, kind, spec):
        raise ApiError(409, "Idempotency-Key was already used with a different request", field="Idempotency-Key")
    root = base_url(ctx.settings, request)
    headers = {"Location": f"{root}/v1/jobs/{rec.id}"}
    if replay:
        headers["Idempotent-Replayed"] = "true"
        return job_view(ctx, rec, base=root), 200, headers
    hook: dict[str, Any] | None = None
    url = body.webhook_url or ctx.settings.api.default_webhook_url.get(principal.tenant)
    if url is not None:
        ctx.runtime.store.set_webhook(rec.id, "job", principal.tenant, url)
        hook = {"url": url, "events": [], "deliveries": []}
    if body.metadata is not None:
        ctx.store.set_metadata(rec.id, principal.tenant, body.metadata)
    return job_view(ctx, rec, webhook=hook, base=root, metadata=body.metadata), 201, headers


@webhook_router.get("/v1/webhooks/secret", tags=["webhooks"],
                    summary="This tenant's webhook signing secret (verify X-Maydo-Signature with it)")
def webhook_secret(request: Request, principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    secret = tenant_webhook_secret(ctx.secret, principal.tenant).decode("ascii")
    return {"tenant": principal.tenant, "secret": secret, "signature_header": "X-Maydo-Signature",
            "timestamp_header": "X-Maydo-Timestamp", "scheme": "sha256=HMAC_SHA256(secret, timestamp + '.' + body)"}


_STATUSES = ("queued", "running", "retrying", "succeeded", "failed", "canceled")


@router.get("", summary="List jobs of your tenant, newest first (cursor-paginated, filterable)")
def list_jobs(
    request: Request,
    status: list[str] | None = Query(None, description=f"any of: {', '.join(_STATUSES)} (repeatable)"),
    kind: Literal["recolor", "voice", "ad", "render_ad", "noop"] | None = Query(None),
    campaign_id: str | None = Query(None, max_length=128),
    lane: Literal["interactive", "batch"] | None = Query(None),
    created_after: float | None = Query(None, ge=0, description="unix seconds, inclusive"),
    created_before: float | None = Query(None, ge=0, description="unix seconds, exclusive"),
    top_level: bool = Query(True, description="only jobs you submitted (false: also their recolor/voice children)"),
    tenant: str | None = Query(None, max_length=64, description="admins only: one tenant (default: all)"),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page"),
    principal: Principal = Depends(require("creator", "platform")),
) -> dict[str, Any]:
    ctx = ctx_of(request)
    for st in status or ():
        if st not in _STATUSES:
            raise ApiError(422, f"unknown status {st!r}; allowed: {', '.join(_STATUSES)}", field="status")
    if tenant is not None and not principal.is_admin:
        raise ApiError(403, "only admins may list another tenant's jobs; leave out 'tenant'", field="tenant")
    after = decode_cursor(cursor, float, str)
    if campaign_id is not None:  # the tenant's campaign id -> the internal id its jobs carry
        owner = tenant if principal.is_admin else principal.tenant
        if owner is not None:
            campaign_id = ctx.store.tenant_campaign(owner, campaign_id) or campaign_id
    rows = ctx.runtime.list(
        status=status or None,
        kind=KIND_ALIASES[kind] if kind else None,
        lane=lane,
        tenant=tenant if principal.is_admin else principal.tenant,
        campaign_id=campaign_id,
        created_after=created_after,
        created_before=created_before,
        before=None if after is None else (after[0], after[1]),
        top_level=top_level,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    root = base_url(ctx.settings, request)
    nxt = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return {
        "items": [job_view(ctx, r, include_deliveries=False, base=root) for r in rows],
        "next_cursor": nxt,
        "next_url": None if nxt is None else _next_url(request, root, nxt),
    }


def _next_url(request: Request, root: str, cursor: str) -> str:
    from urllib.parse import urlencode

    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"] + [("cursor", cursor)]
    return f"{root}{request.url.path}?{urlencode(query)}"


@router.get("/{job_id}", summary="A job: status, outputs, errors, webhook deliveries")
def get_job(request: Request, job_id: str,
            principal: Principal = Depends(require("creator", "platform"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    return job_view(ctx, visible_job(ctx, principal, job_id), base=base_url(ctx.settings, request))


@router.post("/{job_id}/cancel", summary="Cancel a job (queued: at once; running: at the next stage)")
def cancel_job(request: Request, job_id: str, principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    from workers.runtime import JobInUse

    rec = visible_job(ctx, principal, job_id)
    try:
        return job_view(ctx, ctx.runtime.cancel(rec.id), base=base_url(ctx.settings, request))
    except JobInUse as exc:  # shared work of other (same-tenant) jobs keeps running
        raise ApiError(409, str(exc), field="job_id") from None


@router.post("/{job_id}/retry", summary="Re-queue a failed or canceled job (409 for any other state)")
def retry_job(request: Request, job_id: str, principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    from workers.jobs.errors import InvalidTransition

    ctx = ctx_of(request)
    rec = visible_job(ctx, principal, job_id)
    try:
        again = ctx.runtime.retry(rec.id)
    except InvalidTransition as exc:
        raise ApiError(409, str(exc), field="status") from None
    hook = ctx.runtime.store.webhook(rec.id)
    if hook is not None:  # a retried job reports its new terminal state again
        ctx.runtime.store.rearm_webhook(rec.id)
        notifier = getattr(request.app.state, "notifier", None)
        if notifier is not None:
            notifier.poke()
    return job_view(ctx, again, base=base_url(ctx.settings, request))


def _sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


@router.get(
    "/{job_id}/events",
    summary="Server-Sent Events of progress; resumes from Last-Event-ID",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(
    request: Request,
    job_id: str,
    after: int = Query(0, ge=0, le=2**62, description="event id cursor (Last-Event-ID wins)"),
    principal: Principal = Depends(require("creator", "platform")),
) -> StreamingResponse:
    ctx = ctx_of(request)
    rec = await anyio.to_thread.run_sync(visible_job, ctx, principal, job_id)
    last = request.headers.get("last-event-id")
    cursor = after
    if last:  # an event id this server sent: a decimal integer 0..2^62
        if not (last.isascii() and last.isdigit() and len(last) <= 19 and int(last) <= 2**62):
            raise ApiError(422, "Last-Event-ID must be an event id this stream sent (an integer 0..2^62)",
                           field="Last-Event-ID")
        cursor = int(last)
    poll_s = 0.1

    def _events(after_id: int) -> list[Any]:
        return list(ctx.runtime.events(rec.id, after=after_id))

    async def stream() -> Any:
        nonlocal cursor
        yield "retry: 1000\n\n"
        idle = 0.0
        while True:
            events = await anyio.to_thread.run_sync(_events, cursor)
            for ev in events:
                cursor = ev.id
                yield _sse("progress", ev.to_dict(), ev.id)
            current = await anyio.to_thread.run_sync(ctx.runtime.get, rec.id)
            if current.terminal:
                tail = await anyio.to_thread.run_sync(_events, cursor)
                for ev in tail:
                    cursor = ev.id
                    yield _sse("progress", ev.to_dict(), ev.id)
                yield _sse("end", job_view(ctx, current, include_deliveries=False,
                                                   base=base_url(ctx.settings, request)))
                return
            if await request.is_disconnected():
                return
            idle = 0.0 if events else idle + poll_s
            if idle >= 15.0:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(poll_s)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
