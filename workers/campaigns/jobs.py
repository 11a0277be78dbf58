"""One ``render_ad`` job per planned customer: params, inputs, localised template, idempotency key."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines._common.errors import PipelineInputError
from pipelines._common.files import atomic_write_bytes
from workers.campaigns.plan import PlannedRow, Validation
from workers.campaigns.spec import SIZE_PRESETS, CampaignSpec

if TYPE_CHECKING:
    from workers.resolver import Resolver
    from workers.storage.base import AssetStore

_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(customer_id: str) -> str:
    """File-system-safe folder name for a customer id (hash suffix when characters were replaced)."""
    cleaned = _SAFE_RE.sub("_", customer_id).strip("._") or "customer"
    if cleaned != customer_id:
        cleaned = f"{cleaned[:48]}-{hashlib.sha256(customer_id.encode()).hexdigest()[:8]}"
    return cleaned[:64]


def ad_formats(spec: CampaignSpec, primary: str) -> list[str]:
    """Every format the spec lists, the customer's personalized choice (channel/device) first."""
    return [primary, *(f for f in spec.formats if f != primary)]


def fmt_tag(fmt: str) -> str:
    return fmt.replace(":", "x")


def template_path(spec: CampaignSpec, variant: str, resolver: Resolver | None = None) -> Path:
    """The template file for a variant: a registry name (``assets/templates``) or an asset id
    (an uploaded template, or one the CLI ingested), through ``workers.resolver``."""
    from workers.resolver import Resolver

    field = f"templates.{variant}" if variant in spec.templates else "template"
    return (resolver or Resolver()).template(spec.template_for(variant), field)[0]


def localized_template_raw(
    spec: CampaignSpec, variant: str, language: str, currency: str, resolver: Resolver | None = None
) -> tuple[dict[str, Any], Path, str]:
    """``(mapping, source file, reference)`` of the template localised for one market: ``locale``
    (language, currency, date format), media ``src`` as registry names or asset ids, and the
    spec's ``template_text`` layer overrides for the language. Raises PipelineInputError naming
    the field (``template`` or ``templates.<variant>``) when it is missing or unreadable."""
    from pipelines._common.data import load_data_file
    from workers.resolver import Resolver, canonical_media_name, is_asset_id

    res = resolver or Resolver()
    ref = spec.template_for(variant)
    field = f"templates.{variant}" if variant in spec.templates else "template"
    src, trusted = res.template(ref, field)
    raw = load_data_file(src, field=field)
    if not isinstance(raw, dict):
        raise PipelineInputError(f"{field}: template {ref!r} must be a mapping", field=field)
    raw["locale"] = {
        **(raw.get("locale") or {}),
        "lang": language,
        "currency": currency,
        "date_format": "%m/%d/%Y" if currency == "USD" else "%d/%m/%Y",
    }
    overrides = spec.template_text.get(language, {})

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fix(val) for k, val in node.items()}
            value = out.get("src")
            if trusted and isinstance(value, str) and "{{" not in value and not is_asset_id(value):
                # A shipped template's media, relative to its folder -> its registry name.
                name = canonical_media_name(src.parent / value, res.registry)
                if name is not None:
                    out["src"] = name
            if isinstance(out.get("id"), str) and out["id"] in overrides and "text" in out:
                out["text"] = overrides[out["id"]]
            return out
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

    return fix(raw), src, ref


def localized_template(
    spec: CampaignSpec, out_dir: Path, variant: str, language: str, currency: str, resolver: Resolver | None = None
) -> str:
    """Path of the template localised for one market (see ``localized_template_raw``).

    Templates carry one locale; a campaign spans markets (249.000 ₫, $14.00, £12.00), so the runner
    writes one derived copy per (template, language, currency) into the campaign folder (and hands
    it to the job as an asset). The copy is rewritten only when its content changes, so job
    fingerprints stay stable across runs.
    """
    import yaml

    from pipelines._common.data import SAFE_DUMPER
    from workers.resolver import is_asset_id

    raw, src, ref = localized_template_raw(spec, variant, language, currency, resolver)
    text = yaml.dump(raw, Dumper=SAFE_DUMPER, allow_unicode=True, sort_keys=False)
    stem = ref[:16] if is_asset_id(ref) else src.stem
    dest = out_dir / "templates" / f"{stem}.{language}.{currency}.yaml"
    if not dest.is_file() or dest.read_text(encoding="utf-8") != text:
        atomic_write_bytes(dest, text.encode("utf-8"))
    return str(dest)


def ad_job_spec(
    spec: CampaignSpec,
    v: Validation,
    pr: PlannedRow,
    image_assets: dict[str, str],
    out_dir: Path,
    store: AssetStore | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(params, inputs) of the ``render_ad`` job for one planned customer.

    The localised template goes into the asset store ``store`` (required) and travels as
    ``inputs.template``: a job never carries a server path. Raises ``ValueError`` without a store.
    """
    from workers.campaigns.checks import merge_data, spoken_script
    from workers.resolver import Resolver

    if store is None:
        raise ValueError("ad_job_spec needs the asset store (store=...) to hand the template over as an asset")
    plan = pr.plan
    product = v.catalogue.get(plan.sku)
    data = merge_data(spec, v.catalogue, plan, pr.columns)
    local = localized_template(spec, out_dir, plan.template_variant, plan.language, plan.currency, Resolver(store))
    template_id = store.put(Path(local), "application/yaml", filename=Path(local).name).id
    params: dict[str, Any] = {
        "data": data,
        "formats": ad_formats(spec, plan.format),
        "basename": safe_name(plan.customer_id),
        "captions": spec.captions if spec.voiceover else "none",
        **SIZE_PRESETS[spec.size],
    }
    if spec.music:
        params["music"] = spec.music
    # Every ad goes through recolor, the hero colourway too (onto its exact hex): the video takes the
    # recolor's RGBA cut-out, so no ad shows the photo as an opaque backdrop tile.
    params["recolor"] = {
        "to_colors": [plan.colour_hex],
        "from_color": product.colourways[product.hero_colourway],
        "engine": spec.recolor_engine,
    }
    if spec.voiceover:
        params["voice"] = {
            "text": spoken_script(plan.copy["script"])[0],  # emoji/pictographs are not spoken
            "accent": plan.accent,
            "tone": plan.tone,
            "engine": None if spec.voice_engine == "auto" else spec.voice_engine,
            "commercial": spec.commercial,
        }
    return params, {"product_image": image_assets[plan.sku], "template": template_id}


def job_key(spec: CampaignSpec, customer_id: str, params: dict[str, Any], inputs: dict[str, str]) -> str:
    """Stable idempotency key: same campaign + customer + job content -> the same job."""
    digest = hashlib.sha256(
        json.dumps({"p": params, "i": inputs}, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    cid = hashlib.sha256(customer_id.encode()).hexdigest()[:12]
    return f"campaign:{spec.campaign_id}:{cid}:{digest[:16]}"
