"""``/v1/assets``: upload, download (ETag, Range, disposition) and signed, expiring URLs."""

from __future__ import annotations

import mimetypes
import time
from dataclasses import replace
from typing import Annotated
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile as StarletteUpload

from workers.api.context import ApiContext, authenticate, can_see, ctx_of, require
from workers.api.errors import ApiError, not_found
from workers.api.files import (
    ASSET_CSP,
    AssetFileResponse,
    AssetStreamResponse,
    RangeNotSatisfiable,
    clean_filename,
    clean_media_type,
    content_disposition,
    download_name,
    etag_matches,
    etag_of,
    may_inline,
    parse_range,
    served_type,
)
from workers.api.signing import sign_asset, verify_asset_signature
from workers.api.store import Principal
from workers.storage import AssetNotFound, AssetRef

router = APIRouter(prefix="/v1/assets", tags=["assets"])


class AssetOut(BaseModel):
    id: str
    size: int
    media_type: str
    created: float
    filename: str | None = None
    url: str


class SignedUrlOut(BaseModel):
    url: str
    expires: int
    asset_id: str


def asset_out(request: Request, ref: AssetRef) -> AssetOut:
    return AssetOut(**ref.to_dict(), url=str(request.url_for("get_asset", asset_id=ref.id)))


def tenant_view(ctx: ApiContext, ref: AssetRef, tenant: str | None) -> AssetRef:
    """The asset as ``tenant`` sees it: its own upload's filename and media type. Bytes are
    stored once (content-addressed), so the store's metadata is whoever stored them first; a
    tenant that did not upload them gets no filename of someone else's upload."""
    if tenant is not None:
        meta = ctx.store.upload_meta(ref.id, tenant)
        if meta is not None:
            return replace(ref, filename=meta[0], media_type=meta[1] or ref.media_type)
    if ctx.store.uploaded_by_anyone(ref.id):
        return replace(ref, filename=None)  # a job output that equals someone's upload
    return ref


def visible_asset(ctx: ApiContext, principal: Principal, asset_id: str) -> AssetRef:
    """The asset if it exists and the principal's tenant owns it; 404 otherwise (same answer)."""
    try:
        ref = ctx.assets.get(asset_id)
    except AssetNotFound:
        raise not_found("asset") from None
    if not principal.is_admin and not ctx.owns_asset(asset_id, principal.tenant):
        raise not_found("asset")
    return tenant_view(ctx, ref, principal.tenant)


def media_type_for(upload: StarletteUpload) -> str:
    declared = clean_media_type(upload.content_type)
    if declared != "application/octet-stream":
        return declared
    guessed = mimetypes.guess_type(clean_filename(upload.filename) or "")[0]
    return clean_media_type(guessed)


async def store_upload(ctx: ApiContext, tenant: str, upload: StarletteUpload, field: str) -> AssetRef:
    """Read an uploaded part (bounded by the body-size middleware), store it, record the owner."""
    limit = ctx.settings.limits.max_upload_bytes
    data = await upload.read()
    if len(data) > limit:
        raise ApiError(413, f"upload {field!r} is {len(data)} bytes; the limit is {limit} bytes", field=field)
    if not data:
        raise ApiError(422, f"upload {field!r} is empty", field=field)
    name = clean_filename(upload.filename)
    media_type = media_type_for(upload)

    def put() -> AssetRef:
        ref = ctx.assets.put(data, media_type, filename=name)
        ctx.store.add_asset_owner(ref.id, tenant, name, media_type)
        return replace(ref, filename=name, media_type=media_type)  # this tenant's metadata

    return await anyio.to_thread.run_sync(put)  # hashing + file write + SQLite: off the event loop


@router.post("", status_code=201, response_model=AssetOut, summary="Upload an asset (multipart field 'file')")
async def upload_asset(
    request: Request,
    file: Annotated[UploadFile, File(description="the file to store")],
    principal: Principal = Depends(require("creator")),
) -> AssetOut:
    ctx = ctx_of(request)
    ref = await store_upload(ctx, principal.tenant, file, "file")
    return asset_out(request, ref)


def _serve(request: Request, ctx: ApiContext, ref: AssetRef, disposition: str) -> Response:
    etag = etag_of(ref.id)
    if not may_inline(ref.media_type):
        disposition = "attachment"  # only media and captions may render in a browser
    common = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",  # content-addressed: never changes
        "Content-Disposition": content_disposition(download_name(ref), disposition),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": ASSET_CSP,
        "Cross-Origin-Resource-Policy": "same-site",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=common)
    storage = ctx.settings.storage
    if storage.downloads == "redirect" and request.method != "HEAD":
        # The bucket serves the bytes (ranges included) under a short-lived presigned URL; the
        # caller was authorised above. HEAD is answered here: a presigned GET does not allow HEAD.
        url = ctx.assets.presigned_url(ref.id, storage.presign_ttl_s, filename=download_name(ref),
                                       disposition=disposition)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, no-store"})
    size = ref.size
    path = ctx.assets.direct_path(ref.id)
    rng: tuple[int, int] | None = None
    if_range = request.headers.get("if-range")
    if if_range is None or if_range.strip() == etag:
        try:
            rng = parse_range(request.headers.get("range"), size)
        except RangeNotSatisfiable:
            raise ApiError(416, f"range not satisfiable; the asset has {size} bytes", field="range",
                           headers={"Content-Range": f"bytes */{size}"}) from None
    start, end = rng if rng is not None else (0, size)
    status = 200 if rng is None else 206
    headers = common if rng is None else {**common, "Content-Range": f"bytes {start}-{end - 1}/{size}"}
    if path is not None:
        return AssetFileResponse(path, start, end, status, headers, served_type(ref.media_type))
    return AssetStreamResponse(ctx.assets, ref.id, start, end, status, headers, served_type(ref.media_type))


@router.head("/{asset_id}", name="head_asset", summary="Asset headers only: size, type, ETag (no body)")
@router.get(
    "/{asset_id}",
    name="get_asset",
    summary="Download an asset (API key, or expires+signature from /url)",
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "partial content"},
               304: {"description": "not modified"}},
)
def get_asset(
    request: Request,
    asset_id: str,
    expires: int | None = Query(None, description="signed URL: expiry (unix seconds)"),
    signature: str | None = Query(None, max_length=128, description="signed URL: HMAC signature"),
    tenant: str | None = Query(None, max_length=64, description="signed URL: whose view of the asset"),
    disposition: str = Query("attachment", pattern="^(attachment|inline)$"),
) -> Response:
    ctx = ctx_of(request)
    if signature is not None or expires is not None:
        # A signed URL stands in for a key, for this one asset only.
        if signature is None or expires is None or not verify_asset_signature(
            ctx.secret, asset_id, expires, signature, tenant=tenant
        ):
            raise ApiError(403, "signed URL is invalid or has expired", field="signature")
        try:
            ref = ctx.assets.get(asset_id)
        except AssetNotFound:
            raise not_found("asset") from None
        return _serve(request, ctx, tenant_view(ctx, ref, tenant), disposition)
    principal = authenticate(request, request.headers.get("x-api-key"), _bearer_of(request))
    ref = visible_asset(ctx, principal, asset_id)
    return _serve(request, ctx, ref, disposition)


def _bearer_of(request: Request):  # type: ignore[no-untyped-def]
    from fastapi.security import HTTPAuthorizationCredentials

    auth = request.headers.get("authorization", "")
    scheme, _, cred = auth.partition(" ")
    if scheme.lower() == "bearer" and cred:
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=cred.strip())
    return None


@router.get("/{asset_id}/meta", response_model=AssetOut, summary="Asset metadata")
def asset_meta(request: Request, asset_id: str,
               principal: Principal = Depends(require("creator", "platform"))) -> AssetOut:
    return asset_out(request, visible_asset(ctx_of(request), principal, asset_id))


@router.get("/{asset_id}/url", response_model=SignedUrlOut, summary="A signed URL for this asset, no key needed")
def signed_url(
    request: Request,
    asset_id: str,
    ttl: int | None = Query(None, ge=1, description="lifetime in seconds (default api.default_url_ttl_s)"),
    principal: Principal = Depends(require("creator", "platform")),
) -> SignedUrlOut:
    ctx = ctx_of(request)
    ref = visible_asset(ctx, principal, asset_id)
    max_ttl = ctx.settings.api.max_url_ttl_s
    if ttl is not None and ttl > max_ttl:
        raise ApiError(422, f"ttl must be between 1 and {max_ttl} seconds", field="ttl")
    expires = int(time.time()) + (ttl or ctx.settings.api.default_url_ttl_s)
    sig = sign_asset(ctx.secret, ref.id, expires, principal.tenant)
    base = str(request.url_for("get_asset", asset_id=ref.id))
    query = urlencode({"expires": expires, "tenant": principal.tenant, "signature": sig})
    return SignedUrlOut(url=f"{base}?{query}", expires=expires, asset_id=ref.id)


__all__ = ["asset_out", "can_see", "router", "store_upload", "visible_asset"]
