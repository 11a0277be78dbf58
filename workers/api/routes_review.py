"""A campaign's ads for review and delivery: list (cursor, filters), review decisions, re-render,
export of the approved set, and the served review page with its static script and style.

Roles: ``creator`` reviews and re-renders; ``platform`` reads ads and downloads the approved set;
``admin`` does everything. Ads of another tenant's campaign are a 404, as if absent.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from pipelines._common.errors import PipelineInputError
from workers import campaigns
from workers.api.context import ApiContext, authenticate, ctx_of, require
from workers.api.errors import ApiError, not_found
from workers.api.public import base_url, decode_cursor, encode_cursor, scrub
from workers.api.routes_assets import _bearer_of
from workers.api.routes_campaigns import visible_campaign
from workers.api.signing import sign_asset, verify_asset_signature
from workers.api.store import Principal
from workers.campaigns import gallery, review
from workers.campaigns.state import AdResult, CampaignResult

router = APIRouter(prefix="/v1/campaigns", tags=["review"])
static_router = APIRouter(prefix="/v1/static", tags=["review"])

_AD_FIELDS = ("sku", "product_name", "colourway", "colour_hex", "accent", "language", "tone", "template_variant",
              "format", "offer", "price_text", "currency")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["approved", "rejected"]
    comment: str = Field("", max_length=2000, description="required when rejecting: what should change")


class RerenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    colourway: str | None = Field(None, max_length=100, description="a colourway of the ad's product")
    accent: str | None = Field(None, max_length=64, description="a voice accent id (GET /v1/voices)")
    tone: str | None = Field(None, max_length=32, description="energetic | calm | empathetic")
    comment: str = Field("", max_length=2000)


def _manifest(ctx: ApiContext, campaign_id: str) -> dict[str, Any]:
    data = campaigns.load_manifest(ctx.settings, campaign_id, runtime=ctx.runtime)
    if data is None:
        raise not_found("campaign")
    return data


def public_ad(ad: dict[str, Any], root: str, campaign_id: str) -> dict[str, Any]:
    """One manifest row as the API shows it: absolute asset URLs, no file paths."""
    assets = ad.get("assets") or {}
    rev = ad.get("review")
    return {
        "customer_id": ad["customer_id"],
        "row": ad["row"],
        "first_name": ad.get("first_name", ""),
        "status": ad["status"],
        "review": None if rev is None else {k: rev.get(k) for k in ("state", "comment", "reviewer", "ts")},
        "formats": ad.get("formats", []),
        "job_id": ad.get("job_id"),
        **{k: (ad.get("plan") or {}).get(k) for k in _AD_FIELDS},
        "decisions": scrub(ad.get("decisions", [])),
        "assets": {name: {"asset_id": aid, "url": f"{root}/v1/assets/{aid}"} for name, aid in sorted(assets.items())},
        "error": None if not ad.get("error") else {"message": scrub(ad["error"]), "field": ad.get("error_field")},
        "url": f"{root}/v1/campaigns/{campaign_id}/ads/{ad['customer_id']}",
    }


def _matches(ad: dict[str, Any], filters: dict[str, str | None], q: str | None) -> bool:
    plan = ad.get("plan") or {}
    for name, want in filters.items():
        if want is None:
            continue
        if name == "status":
            have = ad.get("status")
        elif name == "review":
            have = (ad.get("review") or {}).get("state", "unreviewed")
        else:
            have = plan.get(name)
        if str(have) != want:
            return False
    if q:
        text = " ".join(str(x) for x in (ad.get("customer_id"), ad.get("first_name"), plan.get("product_name"),
                                         plan.get("sku"), *(d.get("reason", "") for d in ad.get("decisions", []))))
        return q.lower() in text.lower()
    return True


@router.get("/{campaign_id}/ads", summary="A campaign's ads: status, review, decisions, asset URLs (cursor-paginated)")
def list_ads(
    request: Request,
    campaign_id: str,
    status: Literal["done", "failed", "pending", "invalid", "canceled"] | None = Query(None),
    review_state: Literal["unreviewed", "approved", "rejected"] | None = Query(None, alias="review"),
    language: str | None = Query(None, max_length=16),
    accent: str | None = Query(None, max_length=64),
    colourway: str | None = Query(None, max_length=100),
    tone: str | None = Query(None, max_length=32),
    format: str | None = Query(None, max_length=8, description="ads rendered in this format, e.g. 9:16"),
    q: str | None = Query(None, max_length=200, description="search customer id, name, product, reasons"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=512),
    principal: Principal = Depends(require("creator", "platform")),
) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    ads = _manifest(ctx, internal).get("ads", [])
    filters = {"status": status, "review": review_state, "language": language, "accent": accent,
               "colourway": colourway, "tone": tone}
    after = decode_cursor(cursor, int)
    start_row = -1 if after is None else int(after[0])
    picked = [a for a in ads if a["row"] > start_row and _matches(a, filters, q)
              and (format is None or format in a.get("formats", []))]
    page = picked[:limit]
    root = base_url(ctx.settings, request)
    nxt = encode_cursor(page[-1]["row"]) if len(picked) > limit else None
    return {"campaign_id": campaign_id, "items": [public_ad(a, root, campaign_id) for a in page],
            "next_cursor": nxt}


@router.get("/{campaign_id}/ads/{customer_id}", summary="One ad of a campaign")
def get_ad(request: Request, campaign_id: str, customer_id: str,
           principal: Principal = Depends(require("creator", "platform"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    for ad in _manifest(ctx, internal).get("ads", []):
        if ad["customer_id"] == customer_id:
            return public_ad(ad, base_url(ctx.settings, request), campaign_id)
    raise not_found("ad", field="customer_id")


@router.post("/{campaign_id}/ads/{customer_id}/review", summary="Approve or reject one ad, with a comment")
def review_ad(request: Request, campaign_id: str, customer_id: str, body: ReviewIn,
              principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    try:
        ad = review.ad_result(ctx.settings, internal, customer_id)
    except KeyError:
        raise not_found("ad", field="customer_id") from None
    if body.state == "rejected" and not body.comment.strip():
        raise ApiError(422, "a rejection needs a comment saying what should change", field="comment")
    if ad.status != "done":
        raise ApiError(409, f"ad {customer_id!r} is {ad.status}; only rendered (done) ads can be reviewed",
                       field="status")
    row = ctx.runtime.store.add_review(internal, customer_id, ad.job_id, body.state, body.comment.strip(),
                                       f"{principal.tenant}/{principal.key_id}")
    campaigns.refresh_campaign(ctx.settings, internal, runtime=ctx.runtime)  # manifest + gallery show it
    return {"campaign_id": campaign_id, "customer_id": customer_id,
            "review": {k: row[k] for k in ("state", "comment", "reviewer", "ts", "job_id")}}


@router.post("/{campaign_id}/ads/{customer_id}/rerender", status_code=202,
             summary="Re-render one ad with changed inputs (colourway, accent, tone)")
def rerender(request: Request, campaign_id: str, customer_id: str, body: RerenderIn,
             principal: Principal = Depends(require("creator"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    try:
        res = review.rerender_ad(ctx.settings, internal, customer_id, runtime=ctx.runtime,
                                 colourway=body.colourway, accent=body.accent, tone=body.tone,
                                 comment=body.comment.strip(), reviewer=f"{principal.tenant}/{principal.key_id}")
    except KeyError:
        raise not_found("ad", field="customer_id") from None
    except PipelineInputError as exc:
        raise ApiError(422, exc.message, field=exc.field) from None
    campaigns.refresh_campaign(ctx.settings, internal, runtime=ctx.runtime)
    root = base_url(ctx.settings, request)
    return {"campaign_id": campaign_id, "customer_id": customer_id, "job_id": res.job_id, "status": res.status,
            "job_url": f"{root}/v1/jobs/{res.job_id}",
            "changes": [d for d in res.decisions if d.get("level") == 0][-3:]}


@router.get("/{campaign_id}/export", summary="The approved set: CSV, zip (videos + posters + CSV) or JSON asset list",
            responses={200: {"content": {"text/csv": {}, "application/zip": {}, "application/json": {}}}})
def export_approved(
    request: Request,
    campaign_id: str,
    format: Literal["csv", "zip", "json"] = Query("csv"),
    principal: Principal = Depends(require("creator", "platform")),
) -> Response:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    root = base_url(ctx.settings, request)
    ads = [public_ad(a, root, campaign_id) for a in review.approved(_manifest(ctx, internal).get("ads", []))]
    headers = {"X-Maydo-Approved": str(len(ads))}
    if format == "json":
        import json

        return Response(json.dumps({"campaign_id": campaign_id, "items": ads}, ensure_ascii=False),
                        media_type="application/json", headers=headers)
    buf = io.StringIO()
    cols = ["customer_id", "first_name", "sku", "colourway", "accent", "language", "tone", "formats", "reviewer",
            "comment", "asset", "asset_id", "url"]
    writer = csv.DictWriter(buf, fieldnames=cols)
    writer.writeheader()
    for ad in ads:
        for name, asset in ad["assets"].items():
            writer.writerow({**{k: ad.get(k) for k in cols[:7]}, "formats": ";".join(ad["formats"]),
                             "reviewer": (ad["review"] or {}).get("reviewer"),
                             "comment": (ad["review"] or {}).get("comment"), "asset": name,
                             "asset_id": asset["asset_id"], "url": asset["url"]})
    data = buf.getvalue().encode("utf-8")
    stamp = time.strftime("%Y%m%d", time.gmtime())
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{campaign_id}-approved-{stamp}.csv"'
        return Response(data, media_type="text/csv; charset=utf-8", headers=headers)
    out = io.BytesIO()
    ext = {"video": ".mp4", "poster": ".poster.png", "vtt": ".vtt", "srt": ".srt"}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:  # mp4/png are compressed already
        zf.writestr("approved.csv", data)
        for ad in ads:
            for name, asset in ad["assets"].items():
                fmt, _, kind = name.rpartition(".")
                if kind not in ext:
                    continue
                suffix = ext[kind]
                if kind == "poster" and ctx.assets.get(asset["asset_id"]).media_type == "image/jpeg":
                    suffix = ".poster.jpg"
                zf.write(ctx.assets.path(asset["asset_id"]),
                         f"{campaigns.safe_name(ad['customer_id'])}/{campaigns.fmt_tag(fmt)}{suffix}")
    headers["Content-Disposition"] = f'attachment; filename="{campaign_id}-approved-{stamp}.zip"'
    return Response(out.getvalue(), media_type="application/zip", headers=headers)


@router.get("/{campaign_id}/review/url", summary="A signed link to the review page (opens in a browser, no key)")
def review_link(request: Request, campaign_id: str,
                ttl: int | None = Query(None, ge=1, description="lifetime in seconds (default api.default_url_ttl_s)"),
                principal: Principal = Depends(require("creator", "platform"))) -> dict[str, Any]:
    ctx = ctx_of(request)
    internal = visible_campaign(ctx, principal, campaign_id)
    if ttl is not None and ttl > ctx.settings.api.max_url_ttl_s:
        raise ApiError(422, f"ttl must be between 1 and {ctx.settings.api.max_url_ttl_s} seconds", field="ttl")
    expires = int(time.time()) + (ttl or ctx.settings.api.default_url_ttl_s)
    # The link names the campaign by its internal (tenant-unique) id: it works without a key.
    sig = sign_asset(ctx.secret, f"review:{internal}", expires)
    root = base_url(ctx.settings, request)
    return {"url": f"{root}/v1/campaigns/{internal}/review?expires={expires}&signature={sig}", "expires": expires}


@router.get("/{campaign_id}/review", response_class=HTMLResponse,
            summary="The review page (HTML): API key, or expires+signature from /review/url")
def review_page(
    request: Request,
    campaign_id: str,
    expires: int | None = Query(None),
    signature: str | None = Query(None, max_length=128),
) -> HTMLResponse:
    ctx = ctx_of(request)
    if signature is not None or expires is not None:
        if signature is None or expires is None or not verify_asset_signature(
                ctx.secret, f"review:{campaign_id}", expires, signature):
            raise ApiError(403, "review link is invalid or has expired; ask for a new one at /review/url",
                           field="signature")
        internal = campaign_id  # signed links name the internal id
        known = ctx.store.campaign_by_internal(internal)
        if known is None:
            raise not_found("campaign")
        public = known[1]
    else:
        principal = authenticate(request, request.headers.get("x-api-key"), _bearer_of(request))
        if principal.role not in ("creator", "platform", "admin"):
            raise ApiError(403, "role may not read campaigns")
        internal = visible_campaign(ctx, principal, campaign_id)
        public = ctx.store.public_campaign_id(internal)
    result = campaigns.refresh_campaign(ctx.settings, internal, runtime=ctx.runtime)
    if result is None:
        raise not_found("campaign")
    root = base_url(ctx.settings, request)
    link_expiry = int(time.time()) + ctx.settings.api.default_url_ttl_s

    def media(ad: AdResult, output: str) -> str | None:
        aid = ad.assets.get(output)
        if not aid:
            return None
        return f"{root}/v1/assets/{aid}?expires={link_expiry}&signature={sign_asset(ctx.secret, aid, link_expiry)}" \
               f"&disposition=inline"

    spec = campaigns.CampaignSpec.model_validate(_spec_of(ctx, internal))
    spec = spec.model_copy(update={"campaign_id": public})
    reviews = ctx.runtime.store.reviews(internal)
    try:
        options = review.rerender_options(ctx.settings, internal)
    except (KeyError, PipelineInputError, OSError):
        options = {}
    page = gallery.render_gallery(result, spec, reviews=reviews, media_url=media,
                                  api=f"{root}/v1/campaigns/{public}", static_prefix=f"{root}/v1/static/",
                                  options=options)
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                       "Content-Security-Policy": review_page_csp(root)})


def review_page_csp(root: str) -> str:
    """CSP of the review page: only this API's script, stylesheet, media and fetches (``root`` is
    the page's absolute URL base, which may be ``api.public_base_url``), no inline script, no
    framing (its approve/reject buttons must not be clickjacked), no ``<base>``, no form posts."""
    src = f"'self' {root.rstrip('/')}"
    return (f"default-src 'none'; script-src {src}; style-src {src}; img-src {src}; media-src {src}; "
            f"connect-src {src}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _spec_of(ctx: ApiContext, campaign_id: str) -> dict[str, Any]:
    from workers.campaigns.state import campaign_dir, load_state

    state = load_state(campaign_dir(ctx.settings, campaign_id) / "state.json")
    spec = state.get("spec")
    if not isinstance(spec, dict):
        raise not_found("campaign")
    return spec


@static_router.get("/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    """The review page's script and style (packaged files; no CDN)."""
    try:
        data = await anyio.to_thread.run_sync(gallery.static_file, name)
    except KeyError:
        raise not_found("file") from None
    media = "text/javascript; charset=utf-8" if name.endswith(".js") else "text/css; charset=utf-8"
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=300"})


__all__ = ["CampaignResult", "public_ad", "router", "static_router"]
