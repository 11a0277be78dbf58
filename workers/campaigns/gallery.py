"""The campaign review page: one HTML renderer for the static gallery (opens from disk, relative
links only) and the page the API serves at ``GET /v1/campaigns/{id}/review`` (signed media URLs,
approve / reject / re-render / export through the API).

Per customer: poster and player for every rendered format, every personalization decision with
its reason (a plain flowing list, never clipped or overlapped), review state and comment.
Filtering, search, side-by-side compare and the review actions are ``review.js`` (vanilla, no
CDN, no inline script: CSP-friendly); the page reads fully without it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from workers.campaigns.jobs import safe_name
from workers.campaigns.spec import CampaignSpec
from workers.campaigns.state import AdResult, CampaignResult

STATIC_FILES = ("review.js", "review.css")
FILTERS = ("status", "language", "accent", "colourway", "tone", "review")

MediaUrl = Callable[[AdResult, str], str | None]


def static_file(name: str) -> bytes:
    """The bytes of a packaged static file of the review page (``review.js``, ``review.css``)."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files("workers.campaigns").joinpath("static", name).read_bytes()


def _disk_media(ad: AdResult, output: str) -> str | None:
    return ad.files.get(output)


def review_state(review: dict[str, Any] | None) -> str:
    return str(review["state"]) if review else "unreviewed"


def render_gallery(
    result: CampaignResult,
    spec: CampaignSpec,
    *,
    reviews: dict[str, dict[str, Any]] | None = None,
    media_url: MediaUrl | None = None,
    api: str | None = None,
    static_prefix: str = "",
    options: dict[str, Any] | None = None,
) -> str:
    """The review page as HTML.

    Static gallery (defaults): media and ``review.js``/``review.css`` are relative links next to
    ``index.html``. Served by the API: ``media_url(ad, output_name)`` gives signed asset URLs,
    ``api`` is the campaign's API URL (enables approve / reject / re-render / export), and
    ``static_prefix`` where the JS and CSS are served. ``reviews``: customer id -> newest review.
    ``options``: re-render choices (``colourways`` per SKU, ``accents``, ``tones``).
    """
    e = html.escape
    reviews = reviews or {}
    media = media_url or _disk_media
    title = spec.name or spec.campaign_id
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts().items()))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(title)} — maydo review</title>",
        f"<link rel='stylesheet' href='{e(static_prefix)}review.css'>",
        f"<script defer src='{e(static_prefix)}review.js'></script></head>",
        f"<body data-campaign='{e(spec.campaign_id)}'" + (f" data-api='{e(api)}'" if api else "") + ">",
        f"<header><h1>{e(title)}</h1>",
        f"<div class='sub'>campaign <code>{e(spec.campaign_id)}</code> · {len(result.ads)} rows · {e(counts)}"
        f"{' · <b>interrupted: run resume to finish</b>' if result.interrupted else ''}",
    ]
    if api:
        parts.append(f" · <a id='export-csv' href='{e(api)}/export?format=csv'>approved CSV</a>"
                     f" · <a id='export-zip' href='{e(api)}/export?format=zip'>approved zip</a></div>")
    else:
        parts.append(" · <a href='manifest.csv'>manifest.csv</a> · <a href='manifest.json'>manifest.json</a></div>")
    parts.append(_toolbar(result, reviews, api is not None))
    parts.append("</header><div id='compare' class='compare' hidden><div class='compare-head'>"
                 "<b id='compare-title'></b> <button type='button' id='compare-close'>close</button></div>"
                 "<div id='compare-body' class='compare-body'></div></div>")
    parts.append("<main class='grid' id='cards'>")
    for a in result.ads:
        parts.append(_card(a, reviews.get(a.customer_id), media, api is not None))
    parts.append("</main>")
    parts.append("<script type='application/json' id='maydo-options'>"
                 + json.dumps(options or {}, ensure_ascii=False).replace("</", "<\\/") + "</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _values(result: CampaignResult, reviews: dict[str, dict[str, Any]], name: str) -> list[str]:
    vals: set[str] = set()
    for a in result.ads:
        if name == "status":
            vals.add(a.status)
        elif name == "review":
            vals.add(review_state(reviews.get(a.customer_id)))
        elif a.plan.get(name):
            vals.add(str(a.plan[name]))
    if name == "review":
        vals |= {"unreviewed", "approved", "rejected"}
    return sorted(vals)


def _toolbar(result: CampaignResult, reviews: dict[str, dict[str, Any]], served: bool) -> str:
    e = html.escape
    out = ["<form id='toolbar' class='toolbar' role='search'>",
           "<label>search <input id='q' type='search' placeholder='name, id, product, reason…'></label>"]
    for name in FILTERS:
        opts = "".join(f"<option value='{e(v)}'>{e(v)}</option>" for v in _values(result, reviews, name))
        out.append(f"<label>{e(name)} <select id='f-{name}' data-filter='{name}'><option value=''>all</option>"
                   f"{opts}</select></label>")
    out.append("<span id='shown' class='shown'></span>")
    if served:
        out.append("<label>API key <input id='api-key' type='password' autocomplete='off' "
                   "placeholder='mdk_… (creator)'></label>")
    out.append("</form><div id='notice' class='notice' role='status'></div>")
    return "".join(out)


def _card(a: AdResult, review: dict[str, Any] | None, media: MediaUrl, served: bool) -> str:
    e = html.escape
    plan = a.plan
    state = review_state(review)
    search = " ".join(
        str(x) for x in (a.customer_id, a.first_name, plan.get("product_name", ""), plan.get("sku", ""),
                         plan.get("colourway", ""), plan.get("accent", ""), (review or {}).get("comment", ""),
                         *(d.get("reason", "") for d in a.decisions))
    ).lower()
    attrs = {
        "id": f"c-{safe_name(a.customer_id or f'row-{a.row}')}",
        "data-customer": a.customer_id,
        "data-status": a.status,
        "data-language": str(plan.get("language", "")),
        "data-accent": str(plan.get("accent", "")),
        "data-colourway": str(plan.get("colourway", "")),
        "data-tone": str(plan.get("tone", "")),
        "data-sku": str(plan.get("sku", "")),
        "data-review": state,
        "data-search": search,
    }
    head = "<article class='card' " + " ".join(f"{k}='{e(v)}'" for k, v in attrs.items()) + ">"
    name = f"{a.first_name} · {a.customer_id}" if a.first_name else (a.customer_id or f"row {a.row}")
    parts = [head, f"<h2>{e(name)} <span class='status {e(a.status)}'>{e(a.status)}</span> "
                   f"<span class='review-badge {e(state)}'>{e(state)}</span></h2>"]
    variants = []
    for fmt in a.formats:
        video = media(a, f"{fmt}.video")
        poster = media(a, f"{fmt}.poster")
        vtt = media(a, f"{fmt}.vtt")
        if not video and not poster:
            continue
        cell = [f"<figure class='variant' data-format='{e(fmt)}'>"]
        if poster and not video:
            cell.append(f"<img class='poster' src='{e(poster)}' alt='poster {e(fmt)}' loading='lazy'>")
        if video:  # the player shows the poster until played
            cell.append(f"<video controls preload='none'{f' poster={chr(39)}{e(poster)}{chr(39)}' if poster else ''}>"
                        f"<source src='{e(video)}' type='video/mp4'>")
            if vtt and fmt not in a.burned_captions:  # burned in: no second caption track over them
                cell.append(f"<track kind='captions' src='{e(vtt)}' default>")
            cell.append("</video>")
        links = [f"<a href='{e(video)}'>video</a>"] if video else []
        if poster:
            links.append(f"<a href='{e(poster)}'>poster</a>")
        cell.append(f"<figcaption>{e(fmt)} · {' · '.join(links)}</figcaption></figure>")
        variants.append("".join(cell))
    if variants:
        parts.append("<div class='variants'>" + "".join(variants) + "</div>")
    for old in reversed(a.history[-3:] if a.history else []):
        parts.append(_history(old, media, a))
    if a.error:
        parts.append(f"<p class='err'>row {a.row}: {e((a.error_field or '') + ': ' + a.error)}</p>")
    if plan:
        hexv = str(plan.get("colour_hex", ""))
        parts.append(
            f"<p class='plan'>{e(str(plan.get('product_name', '')))} · <span class='swatch' data-hex='{e(hexv)}'>"
            f"</span> {e(str(plan.get('colourway', '')))} · {e(str(plan.get('price_text', '')))} · "
            f"{e(str(plan.get('accent', '')))} · {e(str(plan.get('tone', '')))}</p>"
        )
        headline = str((plan.get("copy") or {}).get("headline", ""))
        if headline:
            parts.append(f"<p class='headline'><i>{e(headline)}</i></p>")
    if a.decisions:
        parts.append("<ol class='decisions'>")
        for d in a.decisions:
            parts.append(
                f"<li class='decision' data-field='{e(str(d['field']))}'><span class='field'>L{d['level']} "
                f"{e(str(d['field']))}</span> <span class='value'>{e(str(d['value']))}</span>"
                f"<span class='reason'>{e(str(d['reason']))}</span></li>"
            )
        parts.append("</ol>")
    comment = (review or {}).get("comment", "")
    who = (review or {}).get("reviewer", "")
    parts.append(f"<p class='review-note'{'' if comment else ' hidden'}>{e(state)}"
                 f"{f' by {e(who)}' if who else ''}: <span class='comment'>{e(comment)}</span></p>")
    if served and a.status in ("done", "failed", "canceled", "pending"):
        parts.append(
            "<div class='actions'>"
            "<textarea class='comment-in' rows='2' placeholder='comment (required to reject)'></textarea>"
            "<button type='button' class='approve'>Approve</button>"
            "<button type='button' class='reject'>Reject</button>"
            "<button type='button' class='compare-btn'>Compare variants</button>"
            "<details class='rerender'><summary>Re-render with changes</summary>"
            "<label>colourway <select class='rr-colourway'></select></label>"
            "<label>accent <select class='rr-accent'></select></label>"
            "<label>tone <select class='rr-tone'></select></label>"
            "<button type='button' class='rerender-btn'>Re-render</button></details></div>"
        )
    elif variants:
        parts.append("<div class='actions'><button type='button' class='compare-btn'>Compare variants</button></div>")
    parts.append("</article>")
    return "".join(parts)


def _history(old: dict[str, Any], media: MediaUrl, ad: AdResult) -> str:
    e = html.escape
    probe = AdResult(row=ad.row, customer_id=ad.customer_id, status="done", files=old.get("files", {}),
                     assets=old.get("assets", {}), formats=old.get("formats", []))
    figs = []
    for fmt in probe.formats:
        poster = media(probe, f"{fmt}.poster")
        video = media(probe, f"{fmt}.video")
        if poster or video:
            figs.append(f"<figure class='variant previous' data-format='{e(fmt)}'>"
                        + (f"<img class='poster' src='{e(poster)}' alt='previous {e(fmt)}' loading='lazy'>"
                           if poster else "")
                        + (f"<a href='{e(video)}'>video</a>" if video else "")
                        + f"<figcaption>previous {e(fmt)}: {e(str(old.get('summary', '')))}</figcaption></figure>")
    return "<div class='variants history'>" + "".join(figs) + "</div>" if figs else ""

