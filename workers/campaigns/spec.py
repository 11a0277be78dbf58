"""Campaign spec (YAML): the keys, their defaults, and loading with every problem listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"scale": 0.125, "fps": 6},  # tests
    "small": {"scale": 1 / 3, "fps": 15},  # demo / previews on a laptop
    "full": {"scale": 1.0},  # delivery: 1080p-class, template fps
}


MAX_SPEC_BYTES = 256 * 1024  # a spec is a page of keys; the audience and catalogue are separate files

Format = Literal["9:16", "4:5", "1:1", "16:9"]


def _default_formats() -> list[Format]:
    return ["9:16"]


def _default_offer_labels() -> dict[str, str | dict[str, str]]:
    return {"comeback": "-15%", "freeship": "FREESHIP", "none": {"vi": "MỚI", "en": "NEW"}}


class CampaignSpecError(ValueError):
    """The campaign spec file is missing or invalid; the message lists every problem."""


class CampaignSpec(BaseModel):
    """Campaign spec (YAML). Relative paths resolve against the spec file's directory (then the
    current directory, assets/ and the repository root, for specs uploaded without their folder)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # up to 64 characters as written; the HTTP API appends a tenant suffix (".<10 hex>") internally
    campaign_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,74}$")
    name: str = ""
    catalogue: Path
    audience: Path
    copy_deck: Path = Field(alias="copy")
    template: str = "product_promo"  # a template name (assets/templates) or an asset id; see workers.resolver
    templates: dict[str, str] = Field(default_factory=dict)  # template variant -> template override
    formats: list[Format] = Field(default_factory=_default_formats, min_length=1)
    products: list[str] | None = None  # candidate SKUs (default: the whole catalogue)
    recolor_engine: Literal["exact", "diffusion"] = "exact"
    voice_engine: Literal["auto", "espeak", "flite", "piper", "coqui"] = "auto"  # auto: the accent's default voice
    voiceover: bool = True
    commercial: bool = True
    priority: int = Field(0, ge=-1000, le=1000)
    tenant: str = Field("default", pattern=r"^[A-Za-z0-9._:@/+-]{1,200}$")
    size: Literal["tiny", "small", "full"] = "small"
    captions: Literal["sentence", "words", "none"] = "sentence"
    music: str | None = None  # a music bed name (assets/music) or an asset id; the CLI ingests local files
    template_text: dict[str, dict[str, str]] = Field(default_factory=dict)  # language -> layer id -> text
    offer_labels: dict[str, str | dict[str, str]] = Field(default_factory=_default_offer_labels)
    offer_end: str = "2026-12-31"  # ISO date shown by templates as offer.end_date

    def template_for(self, variant: str) -> str:
        return self.templates.get(variant, self.template)


def load_spec(path: str | Path, **overrides: Any) -> CampaignSpec:
    """Parse a campaign YAML (bounded: size, aliases, expansion, depth — see
    ``pipelines._common.data.parse_data_text``); ``overrides`` replace top-level keys."""
    from pipelines._common.data import parse_data_text
    from pipelines._common.errors import PipelineInputError

    p = Path(path)
    if not p.is_file():
        raise CampaignSpecError(f"campaign spec not found: {p}")
    try:
        raw = parse_data_text(p.read_bytes(), suffix=p.suffix if p.suffix == ".json" else ".yaml",
                              field="spec", source=f"campaign spec {p.name}", max_bytes=MAX_SPEC_BYTES)
    except PipelineInputError as exc:
        raise CampaignSpecError(exc.message) from None
    if not isinstance(raw, dict):
        raise CampaignSpecError(f"campaign spec {p} must be a mapping of keys")
    raw.update(overrides)
    try:
        spec = CampaignSpec.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(sorted(f.alias or n for n, f in CampaignSpec.model_fields.items()))
                lines.append(f"unknown key {key!r}; allowed: {allowed}")
            else:
                got = repr(err.get("input"))
                lines.append(f"{key}: {err['msg']} (got {got[:200] + '…' if len(got) > 200 else got})")
        raise CampaignSpecError(f"invalid campaign spec {p}:\n  " + "\n  ".join(lines)) from exc
    base = p.resolve().parent
    from pipelines._common.data import ASSETS_DIR, REPO_ROOT, is_file

    updates: dict[str, Any] = {}
    for name in ("catalogue", "audience", "copy_deck"):
        value = getattr(spec, name)
        if "\x00" in str(value) or len(str(value)) > 1024:
            key = "copy" if name == "copy_deck" else name
            raise CampaignSpecError(f"invalid campaign spec {p.name}:\n  {key}: not a usable file path "
                                    "(NUL byte or longer than 1024 characters)")
        if not value.is_absolute():
            # Spec dir first; an uploaded spec (HTTP API) has none, so cwd, assets/ and the repo follow.
            cands = [base / value, Path.cwd() / value, ASSETS_DIR / value, REPO_ROOT / value]
            updates[name] = next((c for c in cands if is_file(c)), cands[0]).resolve()
    return spec.model_copy(update=updates)
