"""The static HTML gallery of a campaign (opens from disk: relative links only)."""

from __future__ import annotations

import html

from workers.campaigns.jobs import safe_name
from workers.campaigns.spec import CampaignSpec
from workers.campaigns.state import CampaignResult

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;background:#f6f5f2;color:#222}
h1{margin:0 0 4px}.sub{color:#666;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:16px}
.card{background:#fff;border-radius:10px;padding:12px;box-shadow:0 1px 3px #0002}
.card h2{font-size:17px;margin:0 0 6px}.status{font-size:12px;padding:2px 6px;border-radius:4px;background:#ddd}
.done{background:#cdeccd}.failed,.invalid,.canceled{background:#f5c6c6}.pending{background:#f3e3b5}
video,img.poster{width:100%;max-height:420px;object-fit:contain;background:#111;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:12px;margin-top:8px}
td{border-top:1px solid #eee;padding:3px 4px;vertical-align:top}td.f{white-space:nowrap;font-weight:600}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;vertical-align:middle;border:1px solid #0003}
.err{color:#a00;font-size:13px}
"""


def render_gallery(result: CampaignResult, spec: CampaignSpec) -> str:
    """Static HTML gallery: relative links only, so it opens from disk (file://)."""
    e = html.escape
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts().items()))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(spec.name or result.campaign_id)} — maydo gallery</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(spec.name or result.campaign_id)}</h1>",
        f"<div class='sub'>campaign <code>{e(result.campaign_id)}</code> · {len(result.ads)} rows · {e(counts)}"
        f"{' · <b>interrupted: run resume to finish</b>' if result.interrupted else ''}"
        " · <a href='manifest.csv'>manifest.csv</a> · <a href='manifest.json'>manifest.json</a></div>",
        "<div class='grid'>",
    ]
    for a in result.ads:
        parts.append(
            f"<div class='card' id='c-{e(safe_name(a.customer_id or f'row-{a.row}'))}' "
            f"data-customer='{e(a.customer_id)}'>"
        )
        title = f"{a.first_name} · {a.customer_id}" if a.first_name else (a.customer_id or f"row {a.row}")
        parts.append(f"<h2>{e(title)} <span class='status {e(a.status)}'>{e(a.status)}</span></h2>")
        video = next((p for k, p in a.files.items() if k.endswith(".video")), None)
        poster = next((p for k, p in a.files.items() if k.endswith(".poster")), None)
        vtt = next((p for k, p in a.files.items() if k.endswith(".vtt")), None)
        if video:
            parts.append(
                f"<video controls preload='none'{f' poster={chr(39)}{e(poster)}{chr(39)}' if poster else ''}>"
                f"<source src='{e(video)}' type='video/mp4'>"
            )
            if vtt:
                parts.append(f"<track kind='captions' src='{e(vtt)}' default>")
            parts.append("</video>")
            parts.append(
                f"<div><a href='{e(video)}'>video</a>"
                f"{f' · <a href={chr(39)}{e(poster)}{chr(39)}>poster</a>' if poster else ''}</div>"
            )
        elif poster:
            parts.append(f"<img class='poster' src='{e(poster)}' alt='poster'>")
        if a.error:
            parts.append(f"<div class='err'>row {a.row}: {e((a.error_field or '') + ': ' + a.error)}</div>")
        if a.plan:
            hexv = str(a.plan.get("colour_hex", ""))
            parts.append(
                f"<div>{e(str(a.plan.get('product_name', '')))} · <span class='swatch' style='background:{e(hexv)}'>"
                f"</span> {e(str(a.plan.get('colourway', '')))} · {e(str(a.plan.get('price_text', '')))}</div>"
            )
            parts.append(f"<div><i>{e(str(a.plan.get('copy', {}).get('headline', '')))}</i></div>")
        if a.decisions:
            parts.append("<table>")
            for d in a.decisions:
                parts.append(
                    f"<tr><td class='f'>L{d['level']} {e(d['field'])}</td><td>{e(str(d['value']))}</td>"
                    f"<td>{e(d['reason'])}</td></tr>"
                )
            parts.append("</table>")
        parts.append("</div>")
    parts.append("</div></body></html>")
    return "\n".join(parts)
