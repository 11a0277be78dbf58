"""Reviewing a campaign: re-render one ad with changed inputs, the re-render choices, the approved
set, and deleting a campaign with its outputs and the audience's personal data.

Review decisions themselves live in the job store (``ad_reviews``: history kept, newest wins);
this module works on the campaign folder's ``state.json`` the runner keeps.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError
from pipelines._common.files import atomic_write_bytes
from workers.campaigns.spec import CampaignSpec
from workers.campaigns.state import AdResult, campaign_dir, campaign_lock, load_state
from workers.settings import Settings

REVIEW_STATES = ("approved", "rejected")
def _state(settings: Settings, campaign_id: str) -> tuple[Path, dict[str, Any]]:
    out_dir = campaign_dir(settings, campaign_id)
    state = load_state(out_dir / "state.json")
    if not state.get("results"):
        raise KeyError(campaign_id)
    return out_dir, state


def ad_result(settings: Settings, campaign_id: str, customer_id: str) -> AdResult:
    """The manifest row of one customer; KeyError when the campaign or customer is unknown."""
    _, state = _state(settings, campaign_id)
    raw = state["results"].get(customer_id)
    if raw is None:
        raise KeyError(customer_id)
    return AdResult(**raw)


def rerender_options(settings: Settings, campaign_id: str) -> dict[str, Any]:
    """What a reviewer may change on re-render: colourways per SKU, voice accents, tones."""
    from pipelines.personalization import load_catalogue
    from pipelines.voice.accents import load_registry
    from pipelines.voice.config import TONES

    _, state = _state(settings, campaign_id)
    spec = CampaignSpec.model_validate(state["spec"])
    catalogue = load_catalogue(spec.catalogue)
    return {
        "colourways": {p.sku: list(p.colourways) for p in catalogue},
        "accents": sorted(load_registry().ids()),
        "tones": list(TONES),
    }


def rerender_ad(
    settings: Settings,
    campaign_id: str,
    customer_id: str,
    *,
    runtime: Any,
    colourway: str | None = None,
    accent: str | None = None,
    tone: str | None = None,
    comment: str = "",
    reviewer: str = "",
) -> AdResult:
    """Submit a new ``render_ad`` job for one customer with the given changes and mark the row
    pending; the previous render moves to the row's ``history``. Every change is recorded as a
    level-0 decision with the reviewer's comment as its reason.

    Raises ``KeyError`` (no such campaign/customer), ``PipelineInputError`` (a value that is not
    allowed, naming the field and the allowed values; a row that has no job to start from).
    """
    from pipelines._common.errors import unknown_choice
    from pipelines.personalization import load_catalogue, load_copy_deck
    from pipelines.voice.accents import load_registry
    from pipelines.voice.config import TONES
    from workers.jobs.models import JobSpec

    with campaign_lock(campaign_id):
        out_dir, state = _state(settings, campaign_id)
        raw = state["results"].get(customer_id)
        if raw is None:
            raise KeyError(customer_id)
        res = AdResult(**raw)
        if not res.job_id:
            raise PipelineInputError(f"ad {customer_id!r} was never rendered ({res.status}); fix its audience row",
                                     field="customer_id")
        spec = CampaignSpec.model_validate(state["spec"])
        base = runtime.get(res.job_id)
        params = copy.deepcopy(base.params)
        before = {k: res.plan.get(k) for k in ("colourway", "accent", "tone")}
        changes: list[tuple[str, str]] = []
        if colourway is not None and colourway != res.plan.get("colourway"):
            product = load_catalogue(spec.catalogue).get(str(res.plan.get("sku")), field="sku")
            if colourway not in product.colourways:
                raise unknown_choice("colourway", colourway, list(product.colourways), field="colourway")
            hexv = product.colourways[colourway]
            params["data"]["product"].update({"colourway": colourway, "colour": hexv})
            if colourway == product.hero_colourway:
                params.pop("recolor", None)
            else:
                params["recolor"] = {"to_colors": [hexv], "from_color": product.colourways[product.hero_colourway],
                                     "engine": spec.recolor_engine}
            res.plan.update({"colourway": colourway, "colour_hex": hexv})
            changes.append(("colourway", colourway))
        for name, value, allowed in (("accent", accent, sorted(load_registry().ids())), ("tone", tone, list(TONES))):
            if value is None or value == res.plan.get(name):
                continue
            if value not in allowed:
                raise unknown_choice(name, value, allowed, field=name)
            if "voice" not in params:
                raise PipelineInputError(f"this campaign has no voiceover, so {name} cannot change", field=name)
            params["voice"][name] = value
            res.plan[name] = value
            changes.append((name, value))
        if not changes:
            raise PipelineInputError("nothing to change: give a colourway, accent or tone different from the "
                                     "current ad", field="body")
        if any(name in ("colourway", "tone") for name, _ in changes):
            # The copy names the colourway and is written per tone: render it again from the deck.
            plan = res.plan
            product = load_catalogue(spec.catalogue).get(str(plan.get("sku")), field="sku")
            language = str(plan.get("language", "en"))
            values = {
                "first_name": res.first_name,
                "product": str(plan.get("product_name", "")),
                "colourway": str(plan.get("colourway", "")),
                "price": str(plan.get("price_text", "")),
                "offer": str(plan.get("offer_text", "")),
                "feature": product.features.get(language) or product.features.get("en", ""),
            }
            copy_key, new_copy = load_copy_deck(spec.copy_deck).render(
                language, str(plan.get("template_variant", "promo")), str(plan.get("tone", "")), values)
            plan.update({"copy": dict(new_copy), "copy_key": copy_key})
            params["data"]["copy"] = dict(new_copy)
            if "voice" in params:
                params["voice"]["text"] = new_copy["script"]
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
        cid = hashlib.sha256(customer_id.encode()).hexdigest()[:12]
        rec = runtime.submit(JobSpec(
            kind="render_ad", params=params, inputs=dict(base.inputs), lane="interactive", priority=spec.priority,
            tenant=base.tenant, campaign_id=campaign_id, idempotency_key=f"rerender:{campaign_id}:{cid}:{digest}",
        ))
        if res.status == "done":
            summary = ", ".join(f"{k} {before[k]} -> {v}" for k, v in changes)
            # The new render lands on the same file names: keep the previous files beside them.
            kept: dict[str, str] = {}
            for name, rel in res.files.items():
                src = out_dir / rel
                dest = src.parent / f"prev-{res.job_id}" / src.name
                if src.is_file():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src.replace(dest)
                    kept[name] = dest.relative_to(out_dir).as_posix()
            res.history.append({"job_id": res.job_id, "files": kept, "assets": res.assets,
                                "formats": res.formats, "summary": f"replaced: {summary}", "ts": time.time()})
        why = f"re-render requested in review{f' by {reviewer}' if reviewer else ''}"
        for name, value in changes:
            res.decisions.append({"level": 0, "level_name": "review", "field": name, "value": value,
                                  "reason": f"{why}: {comment}" if comment else why})
        res.job_id, res.status, res.files, res.assets = rec.id, "pending", {}, {}
        res.error = res.error_field = None
        res.resumed = False
        state["results"][customer_id] = asdict(res)
        atomic_write_bytes(out_dir / "state.json", json.dumps(state, ensure_ascii=False, indent=1).encode("utf-8"))
    return res


def approved(ads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a manifest whose newest review approves a finished ad."""
    return [a for a in ads if a.get("status") == "done" and (a.get("review") or {}).get("state") == "approved"]


def delete_campaign_files(settings: Settings, campaign_id: str) -> dict[str, Any]:
    """Remove the campaign folder (ads, manifests, gallery, state with the audience's rows) and the
    uploads the API kept for it; returns the asset ids its ads produced and what was removed."""
    out_dir = campaign_dir(settings, campaign_id)
    state = load_state(out_dir / "state.json")
    assets: set[str] = set()
    for raw in (state.get("results") or {}).values():
        assets.update((raw.get("assets") or {}).values())
        for old in raw.get("history") or []:
            assets.update((old.get("assets") or {}).values())
    removed_files = 0
    with campaign_lock(campaign_id):
        if out_dir.is_dir():
            removed_files = sum(1 for p in out_dir.rglob("*") if p.is_file())
            shutil.rmtree(out_dir)
    return {"assets": sorted(assets), "files_removed": removed_files}
