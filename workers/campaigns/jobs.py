"""One ``render_ad`` job per planned customer: params, inputs, localised template, idempotency key."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError
from pipelines._common.files import atomic_write_bytes
from workers.campaigns.plan import PlannedRow, Validation
from workers.campaigns.spec import SIZE_PRESETS, CampaignSpec

_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(customer_id: str) -> str:
    """File-system-safe folder name for a customer id (hash suffix when characters were replaced)."""
    cleaned = _SAFE_RE.sub("_", customer_id).strip("._") or "customer"
    if cleaned != customer_id:
        cleaned = f"{cleaned[:48]}-{hashlib.sha256(customer_id.encode()).hexdigest()[:8]}"
    return cleaned[:64]


def fmt_tag(fmt: str) -> str:
    return fmt.replace(":", "x")


def template_path(spec: CampaignSpec, variant: str) -> Path:
    """The template file for a variant: a path, or a name under assets/templates/."""
    from pipelines._common.data import ASSETS_DIR

    name = spec.template_for(variant)
    for cand in (Path(name), ASSETS_DIR / "templates" / name, ASSETS_DIR / "templates" / f"{name}.yaml"):
        if cand.is_file():
            return cand.resolve()
    found = sorted(p.stem for p in (ASSETS_DIR / "templates").glob("*.yaml"))
    from pipelines._common.errors import unknown_choice

    raise unknown_choice("template", name, found, field="template")


def localized_template_raw(spec: CampaignSpec, variant: str, language: str, currency: str) -> tuple[dict[str, Any], Path]:
    """(template mapping localised for one market, source file): ``locale`` (language, currency,
    date format), media paths made absolute, and the spec's ``template_text`` overrides for the
    language. Raises PipelineInputError (field ``template``) when the template is missing or unreadable."""
    from pipelines._common.data import load_data_file

    src = template_path(spec, variant)
    raw = load_data_file(src, field="template")
    if not isinstance(raw, dict):
        raise PipelineInputError(f"template {src.name} must be a mapping of keys", field="template")
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
            if isinstance(out.get("src"), str) and not Path(out["src"]).is_absolute():
                cand = (src.parent / out["src"]).resolve()
                if cand.exists():
                    out["src"] = str(cand)
            if isinstance(out.get("id"), str) and out["id"] in overrides and "text" in out:
                out["text"] = overrides[out["id"]]
            return out
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

    return fix(raw), src


def localized_template(spec: CampaignSpec, out_dir: Path, variant: str, language: str, currency: str) -> str:
    """Path of the template localised for one market (see ``localized_template_raw``).

    Templates carry one locale; a campaign spans markets (249.000 ₫, $14.00, £12.00), so the runner
    writes one derived copy per (template, language, currency) into the campaign folder. The copy
    is rewritten only when its content changes, so job fingerprints stay stable across runs.
    """
    import yaml

    raw, src = localized_template_raw(spec, variant, language, currency)
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    dest = out_dir / "templates" / f"{src.stem}.{language}.{currency}.yaml"
    if not dest.is_file() or dest.read_text(encoding="utf-8") != text:
        atomic_write_bytes(dest, text.encode("utf-8"))
    return str(dest)


def ad_job_spec(
    spec: CampaignSpec, v: Validation, pr: PlannedRow, image_assets: dict[str, str], out_dir: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """(params, inputs) of the ``render_ad`` job for one planned customer."""
    from workers.campaigns.checks import merge_data, spoken_script

    plan = pr.plan
    product = v.catalogue.get(plan.sku)
    data = merge_data(spec, v.catalogue, plan, pr.columns)
    params: dict[str, Any] = {
        "template": localized_template(spec, out_dir, plan.template_variant, plan.language, plan.currency),
        "data": data,
        "formats": [plan.format],
        "basename": safe_name(plan.customer_id),
        "captions": spec.captions if spec.voiceover else "none",
        **SIZE_PRESETS[spec.size],
    }
    if spec.music:
        params["music"] = spec.music
    if plan.colourway != product.hero_colourway:  # the photo already shows the hero colourway
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
            "engine": spec.voice_engine,
            "commercial": spec.commercial,
        }
    return params, {"product_image": image_assets[plan.sku]}


def job_key(spec: CampaignSpec, customer_id: str, params: dict[str, Any], inputs: dict[str, str]) -> str:
    """Stable idempotency key: same campaign + customer + job content -> the same job."""
    digest = hashlib.sha256(
        json.dumps({"p": params, "i": inputs}, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    cid = hashlib.sha256(customer_id.encode()).hexdigest()[:12]
    return f"campaign:{spec.campaign_id}:{cid}:{digest[:16]}"
