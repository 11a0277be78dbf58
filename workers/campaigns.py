"""Campaign runner: audience x catalogue x template -> personalized, explained ads.

``validate_campaign(spec)`` reads the whole audience first (CSV, JSONL or Parquet) and plans
every row with :func:`pipelines.personalization.personalize`; bad rows are reported with their
row number, column and reason, good rows still run — nothing is silently dropped.

``run_campaign(spec, settings)`` submits one ``render_ad`` job per customer through
:class:`workers.runtime.Runtime` (the job system; no second queue here). Shared work is
deduplicated twice: the product image is recoloured only when the colourway differs from the
photo's hero colourway, and the runtime shares ``recolor``/``voice`` child jobs with equal
fingerprints (same SKU + colourway -> one recolor; same script + accent + tone -> one voice).
Each job carries a stable idempotency key (campaign, customer, hash of the job), so running
again — after a crash, Ctrl-C or on purpose (``resume``) — re-renders nothing that finished:
ads already exported with the same key are skipped, finished jobs are re-exported, and only
missing ads are queued.

Outputs under ``<data_dir>/campaigns/<campaign_id>/``: ``ads/<customer>/<format>.mp4`` (+
poster PNG, WebVTT), ``manifest.json``, ``manifest.csv``, ``index.html`` (gallery that opens
from disk), and ``state.json`` (resume bookkeeping).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines._common.errors import PipelineInputError
from pipelines._common.files import atomic_write_bytes
from pipelines.personalization import (
    Catalogue,
    CopyDeck,
    CustomerProfile,
    PersonalizationPlan,
    load_catalogue,
    load_copy_deck,
    personalize,
)
from workers.settings import Settings

SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"scale": 0.125, "fps": 6},  # tests
    "small": {"scale": 1 / 3, "fps": 15},  # demo / previews on a laptop
    "full": {"scale": 1.0},  # delivery: 1080p-class, template fps
}
AUDIENCE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
CAMPAIGN_POOLS = ("recolor", "voice", "video")
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


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

    campaign_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str = ""
    catalogue: Path
    audience: Path
    copy_deck: Path = Field(alias="copy")
    template: str = "product_promo"
    templates: dict[str, str] = Field(default_factory=dict)  # template variant -> template override
    formats: list[Format] = Field(default_factory=_default_formats, min_length=1)
    products: list[str] | None = None  # candidate SKUs (default: the whole catalogue)
    recolor_engine: Literal["exact", "diffusion"] = "exact"
    voice_engine: Literal["espeak", "piper", "coqui"] = "espeak"
    voiceover: bool = True
    commercial: bool = True
    priority: int = Field(0, ge=-1000, le=1000)
    tenant: str = Field("default", pattern=r"^[A-Za-z0-9._:@/+-]{1,200}$")
    size: Literal["tiny", "small", "full"] = "small"
    captions: Literal["sentence", "words", "none"] = "sentence"
    music: str | None = None
    template_text: dict[str, dict[str, str]] = Field(default_factory=dict)  # language -> layer id -> text
    offer_labels: dict[str, str | dict[str, str]] = Field(default_factory=_default_offer_labels)
    offer_end: str = "2026-12-31"  # ISO date shown by templates as offer.end_date

    def template_for(self, variant: str) -> str:
        return self.templates.get(variant, self.template)


def load_spec(path: str | Path, **overrides: Any) -> CampaignSpec:
    """Parse a campaign YAML; ``overrides`` replace top-level keys (used by tests and bench)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise CampaignSpecError(f"campaign spec not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CampaignSpecError(f"campaign spec {p} is not valid YAML: {exc}") from exc
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
                lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise CampaignSpecError(f"invalid campaign spec {p}:\n  " + "\n  ".join(lines)) from exc
    base = p.resolve().parent
    from pipelines._common.data import ASSETS_DIR, REPO_ROOT

    updates: dict[str, Any] = {}
    for name in ("catalogue", "audience", "copy_deck"):
        value = getattr(spec, name)
        if not value.is_absolute():
            # Spec dir first; an uploaded spec (HTTP API) has none, so cwd, assets/ and the repo follow.
            cands = [base / value, Path.cwd() / value, ASSETS_DIR / value, REPO_ROOT / value]
            updates[name] = next((c for c in cands if c.exists()), cands[0]).resolve()
    if spec.music and not Path(spec.music).is_absolute() and (base / spec.music).exists():
        updates["music"] = str((base / spec.music).resolve())
    return spec.model_copy(update=updates)


# -- audience + validation ------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """A bad audience row: 1-based row number in the file (CSV header = row 1), column, reason."""

    row: int
    customer_id: str
    field: str
    message: str


@dataclass(frozen=True)
class PlannedRow:
    row: int
    profile: CustomerProfile
    plan: PersonalizationPlan


@dataclass
class Validation:
    spec: CampaignSpec
    catalogue: Catalogue
    deck: CopyDeck
    rows_total: int
    planned: list[PlannedRow]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


def read_audience(path: Path, *, max_rows: int = 100_000) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (row number, row dict or RowError for an unreadable row). Raises for unreadable files."""
    suffix = path.suffix.lower()
    if suffix not in AUDIENCE_SUFFIXES:
        raise PipelineInputError(
            f"audience {path.name}: unsupported file type {suffix!r}; allowed: {', '.join(AUDIENCE_SUFFIXES)}",
            field="audience",
        )
    if not path.is_file():
        raise PipelineInputError(f"audience file not found: {path}", field="audience")
    count = 0

    def _limit() -> None:
        nonlocal count
        count += 1
        if count > max_rows:
            raise PipelineInputError(
                f"audience has more than {max_rows} rows (limits.max_audience_rows)", field="audience"
            )

    if suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "customer_id" not in reader.fieldnames:
                raise PipelineInputError(
                    f"audience {path.name}: header must include customer_id (got {reader.fieldnames})",
                    field="audience",
                )
            for row in reader:
                _limit()
                line = reader.line_num
                if None in row:
                    yield line, RowError(line, str(row.get("customer_id") or ""), "row", "more cells than columns")
                    continue
                yield line, dict(row)
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for line_no, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                _limit()
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield line_no, RowError(line_no, "", "row", f"not valid JSON: {exc.msg}")
                    continue
                if not isinstance(obj, dict):
                    yield line_no, RowError(line_no, "", "row", "each line must be a JSON object")
                    continue
                yield line_no, obj
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for i, row in enumerate(table.to_pylist(), start=1):
            _limit()
            yield i, row


def validate_campaign(spec: CampaignSpec, settings: Settings | None = None) -> Validation:
    """Load catalogue + copy deck and plan every audience row; collects every bad row."""
    from pipelines.voice.accents import load_registry

    catalogue = load_catalogue(spec.catalogue)
    deck = load_copy_deck(spec.copy_deck)
    for product in catalogue:
        if not product.image.is_file():
            raise PipelineInputError(f"catalogue: image of {product.sku} not found: {product.image}", field="catalogue")
    if spec.products:
        for sku in spec.products:
            catalogue.get(sku, field="products")
    registry = load_registry()
    max_rows = settings.limits.max_audience_rows if settings else 100_000
    planned: list[PlannedRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    total = 0
    for row_no, row in read_audience(spec.audience, max_rows=max_rows):
        total += 1
        if isinstance(row, RowError):
            errors.append(row)
            continue
        cid = str(row.get("customer_id") or "").strip()
        try:
            profile = CustomerProfile.from_row(row, catalogue=catalogue)
            if profile.customer_id in seen:
                raise PipelineInputError(
                    f"duplicate customer_id {profile.customer_id!r} (first on row {seen[profile.customer_id]})",
                    field="customer_id",
                )
            plan = personalize(
                profile, catalogue, deck, registry=registry, formats=spec.formats, candidates=spec.products
            )
        except PipelineInputError as exc:
            errors.append(RowError(row_no, cid, exc.field or "row", exc.message))
            continue
        seen[profile.customer_id] = row_no
        planned.append(PlannedRow(row_no, profile, plan))
    return Validation(spec, catalogue, deck, total, planned, errors)


# -- jobs ---------------------------------------------------------------------------------------


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


def localized_template(spec: CampaignSpec, out_dir: Path, variant: str, language: str, currency: str) -> str:
    """Path of the template localised for one market: ``locale`` (language, currency, date format),
    media paths made absolute, and the spec's ``template_text`` layer overrides for the language.

    Templates carry one locale; a campaign spans markets (249.000 ₫, $14.00, £12.00), so the runner
    writes one derived copy per (template, language, currency) into the campaign folder. The copy
    is rewritten only when its content changes, so job fingerprints stay stable across runs.
    """
    import yaml

    from pipelines._common.data import load_data_file

    src = template_path(spec, variant)
    raw = load_data_file(src, field="template")
    if not isinstance(raw, dict):
        raise PipelineInputError(f"template {src} must be a mapping", field="template")
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

    text = yaml.safe_dump(fix(raw), allow_unicode=True, sort_keys=False)
    dest = out_dir / "templates" / f"{src.stem}.{language}.{currency}.yaml"
    if not dest.is_file() or dest.read_text(encoding="utf-8") != text:
        atomic_write_bytes(dest, text.encode("utf-8"))
    return str(dest)


def ad_job_spec(
    spec: CampaignSpec, v: Validation, pr: PlannedRow, image_assets: dict[str, str], out_dir: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """(params, inputs) of the ``render_ad`` job for one planned customer."""
    plan = pr.plan
    product = v.catalogue.get(plan.sku)
    data = plan.merge_data()
    data["product"]["price"] = product.prices[plan.currency]  # the template's currency filter formats it
    data["product"]["price_text"] = plan.price_text
    label = spec.offer_labels.get(plan.offer or "none", "")
    if isinstance(label, dict):
        label = label.get(plan.language) or label.get("en") or ""
    data["offer"].update({"discount": label, "end_date": spec.offer_end})
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
            "text": plan.copy["script"],
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


# -- results ------------------------------------------------------------------------------------


@dataclass
class AdResult:
    """One manifest row (also for invalid rows, with status ``invalid``)."""

    row: int
    customer_id: str
    status: str  # done | failed | invalid | pending | canceled
    first_name: str = ""
    job_id: str | None = None
    key: str | None = None
    cache_hit: bool = False
    resumed: bool = False
    formats: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # output (e.g. 9:16.video) -> path relative to campaign dir
    assets: dict[str, str] = field(default_factory=dict)  # output name -> asset id
    plan: dict[str, Any] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    error_field: str | None = None


@dataclass
class CampaignResult:
    campaign_id: str
    out_dir: Path
    ads: list[AdResult]
    rows_total: int
    stats: dict[str, Any]
    interrupted: bool = False

    @property
    def gallery(self) -> Path:
        return self.out_dir / "index.html"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ad in self.ads:
            out[ad.status] = out.get(ad.status, 0) + 1
        return out


def campaign_dir(settings: Settings, campaign_id: str) -> Path:
    return settings.data_dir / "campaigns" / campaign_id


def _load_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}  # a torn state file only costs re-exporting finished jobs (keys still dedupe)
    return data if isinstance(data, dict) else {}


def _files_exist(out_dir: Path, files: dict[str, str]) -> bool:
    return bool(files) and all((out_dir / rel).is_file() for rel in files.values())


@dataclass
class Expansion:
    """A campaign expanded into jobs: every row's result slot, and the jobs still to wait for."""

    spec: CampaignSpec
    out_dir: Path
    results: dict[str, AdResult]
    pending: dict[str, AdResult]  # job id -> result slot
    stats: dict[str, Any]
    store: Any

    def save(self, interrupted: bool = False) -> CampaignResult:
        """Persist state.json and write manifest.json/.csv + index.html for what is known now."""
        ads = sorted(self.results.values(), key=lambda r: r.row)
        result = CampaignResult(self.spec.campaign_id, self.out_dir, ads, self.stats["rows"], self.stats, interrupted)
        state = {
            "campaign_id": self.spec.campaign_id,
            "spec": json.loads(self.spec.model_dump_json(by_alias=True)),
            "stats": self.stats,
            "interrupted": interrupted,
            "results": {k: asdict(r) for k, r in self.results.items()},
        }
        atomic_write_bytes(self.out_dir / "state.json", json.dumps(state, ensure_ascii=False, indent=1).encode("utf-8"))
        write_outputs(result, self.spec)
        return result


def expand_campaign(spec: CampaignSpec, settings: Settings, rt: Any) -> Expansion:
    """Validate + plan every row, then submit the ads that are not already exported (idempotent)."""
    from workers.jobs.models import JobSpec, JobStatus
    from workers.storage import LocalAssetStore

    t0 = time.monotonic()
    v = validate_campaign(spec, settings)
    out_dir = campaign_dir(settings, spec.campaign_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _load_state(out_dir / "state.json").get("results", {})
    store = LocalAssetStore(settings.assets_dir)
    image_assets = {p.sku: store.put(p.image, "image/png", filename=p.image.name).id for p in v.catalogue}
    results: dict[str, AdResult] = {}
    pending: dict[str, AdResult] = {}
    for err in v.errors:
        results[f"row:{err.row}"] = AdResult(
            row=err.row, customer_id=err.customer_id, status="invalid", error=err.message, error_field=err.field
        )
    recolors: set[tuple[str, str]] = set()
    voices: set[tuple[str, str, str]] = set()
    for pr in v.planned:
        plan = pr.plan
        params, inputs = ad_job_spec(spec, v, pr, image_assets, out_dir)
        key = job_key(spec, plan.customer_id, params, inputs)
        if "recolor" in params:
            recolors.add((plan.sku, plan.colourway))
        if "voice" in params:
            voices.add((params["voice"]["text"], plan.accent, plan.tone))
        plan_dict = plan.to_dict()
        res = AdResult(
            row=pr.row,
            customer_id=plan.customer_id,
            first_name=plan.first_name,
            status="pending",
            key=key,
            formats=[plan.format],
            plan={k: val for k, val in plan_dict.items() if k != "decisions"},
            decisions=plan_dict["decisions"],
        )
        results[plan.customer_id] = res
        prev = previous.get(plan.customer_id) or {}
        if prev.get("key") == key and prev.get("status") == "done" and _files_exist(out_dir, prev.get("files", {})):
            res.status, res.resumed = "done", True
            for attr in ("job_id", "files", "assets", "durations", "cache_hit"):
                setattr(res, attr, prev.get(attr, getattr(res, attr)))
            continue
        rec = rt.submit(
            JobSpec(
                kind="render_ad",
                params=params,
                inputs=inputs,
                lane="batch",
                priority=spec.priority,
                tenant=spec.tenant,
                campaign_id=spec.campaign_id,
                idempotency_key=key,
            )
        )
        if rec.status in (JobStatus.FAILED, JobStatus.CANCELED):
            rec = rt.retry(rec.id)  # a re-run retries what failed before (its failed children too)
        res.job_id = rec.id
        pending[rec.id] = res
    stats: dict[str, Any] = {
        "rows": v.rows_total,
        "planned": len(v.planned),
        "invalid": len(v.errors),
        "resumed": sum(1 for r in results.values() if r.resumed),
        "submitted": len(pending),
        "unique_recolors": len(recolors),
        "unique_voices": len(voices),
        "plan_s": round(time.monotonic() - t0, 3),
    }
    return Expansion(spec, out_dir, results, pending, stats, store)


ProgressHook = Callable[[AdResult], None]


def run_campaign(
    spec: CampaignSpec,
    settings: Settings,
    *,
    runtime: Any | None = None,
    show_progress: bool = True,
    stop_after: int | None = None,
    on_ad: ProgressHook | None = None,
    timeout_s: float | None = None,
) -> CampaignResult:
    """Validate, plan, submit, wait, export, and write manifest + gallery (see module docstring).

    Starts a dispatcher in this process (embedded local Ray unless ``ray.address``) unless one is
    already serving the job store (``maydo worker``). ``stop_after``: behave as if Ctrl-C was
    pressed after that many ads finished in this run (tests, bench). On Ctrl-C, in-flight jobs
    finish or are re-queued, finished ads are kept, manifest and gallery show what is done, and
    a later ``run``/``resume`` renders only what is missing.
    """
    from workers.runtime import Runtime

    t0 = time.monotonic()
    rt = runtime or Runtime(settings)
    exp = expand_campaign(spec, settings, rt)
    interrupted = False
    started = False
    t_wait = time.monotonic()
    try:
        if exp.pending and not rt.status()["dispatcher"]["alive"]:
            _start_local(rt, settings)
            started = True
        interrupted = _wait_and_export(
            rt, exp, show_progress=show_progress, stop_after=stop_after, on_ad=on_ad, timeout_s=timeout_s
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if started:
            rt.stop(graceful=True)
        exp.stats["wait_s"] = round(time.monotonic() - t_wait, 3)
        exp.stats.update(_stage_times(rt, [r for r in exp.results.values() if r.job_id]))
        exp.stats["wall_s"] = round(time.monotonic() - t0, 3)
        result = exp.save(interrupted)
        if runtime is None:
            rt.close()
    return result


def start_campaign(
    settings: Settings,
    spec_path: str | Path,
    audience_path: str | Path | None = None,
    *,
    tenant: str | None = None,
    runtime: Any | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Non-blocking start (HTTP API): validate, submit the ads, write a pending manifest, return.

    A running ``maydo worker`` renders the jobs; ``campaign_status``/``load_manifest`` export
    finished ads into the campaign folder as they are read. ``dry_run`` only validates.
    """
    from workers.runtime import Runtime

    overrides: dict[str, Any] = {}
    if audience_path is not None:
        overrides["audience"] = str(audience_path)
    if tenant is not None:
        overrides["tenant"] = tenant
    try:
        spec = load_spec(spec_path, **overrides)
    except CampaignSpecError as exc:
        raise PipelineInputError(str(exc), field="spec") from exc
    if dry_run:
        v = validate_campaign(spec, settings)
        return {
            "id": spec.campaign_id,
            "dry_run": True,
            "rows": v.rows_total,
            "valid": len(v.planned),
            "errors": [asdict(e) for e in v.errors],
        }
    rt = runtime or Runtime(settings)
    try:
        exp = expand_campaign(spec, settings, rt)
        exp.stats["expanding"] = False
        exp.save()
    finally:
        if runtime is None:
            rt.close()
    return {"id": spec.campaign_id, **{k: exp.stats[k] for k in ("rows", "planned", "invalid", "submitted")}}


def refresh_campaign(settings: Settings, campaign_id: str, *, runtime: Any | None = None) -> CampaignResult | None:
    """Export ads whose jobs finished since the last look and rewrite manifest + gallery.

    None when the campaign has never run here.
    """
    from workers.runtime import JobNotFound, Runtime
    from workers.storage import LocalAssetStore

    out_dir = campaign_dir(settings, campaign_id)
    state = _load_state(out_dir / "state.json")
    if not state.get("results"):
        return None
    spec = CampaignSpec.model_validate(state["spec"])
    results = {k: AdResult(**r) for k, r in state["results"].items()}
    pending = {r.job_id: r for r in results.values() if r.status == "pending" and r.job_id}
    exp = Expansion(spec, out_dir, results, pending, dict(state.get("stats", {})), LocalAssetStore(settings.assets_dir))
    rt = runtime or Runtime(settings)
    try:
        for job_id, res in pending.items():
            try:
                rec = rt.get(job_id)
            except JobNotFound:
                continue
            if rec.terminal:
                _record(exp.store, out_dir, rec, res)
        return exp.save(bool(state.get("interrupted")) and any(r.status == "pending" for r in results.values()))
    finally:
        if runtime is None:
            rt.close()


def load_manifest(settings: Settings, campaign_id: str) -> dict[str, Any] | None:
    """The campaign manifest (refreshed from the job store first); None when there is none."""
    result = refresh_campaign(settings, campaign_id)
    if result is None:
        return None
    data = json.loads((result.out_dir / "manifest.json").read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def campaign_settings(settings: Settings) -> Settings:
    """Settings for an embedded local run: the three campaign pools fit the machine's CPUs.

    Default pools ask 1 CPU each; on a 2-core laptop one of three would never be placed, so the
    local Ray gets at least one logical CPU per pool (they interleave: recolor and voice are
    short, video dominates). A cluster (``ray.address``) is left alone.
    """
    if settings.ray_address:
        return settings
    cpus = settings.ray.num_cpus or (os.cpu_count() or 2)
    need = sum(settings.pools[p].num_cpus * settings.pools[p].size for p in CAMPAIGN_POOLS if p in settings.pools)
    if need <= cpus:
        return settings
    ray_cfg = settings.ray.model_copy(update={"num_cpus": int(max(cpus, need + 0.999))})
    return settings.model_copy(update={"ray": ray_cfg})


def _start_local(rt: Any, settings: Settings) -> None:
    """Start the dispatcher in this process for the campaign pools."""
    import ray

    if not ray.is_initialized():
        rt.settings = campaign_settings(settings)
    elif not settings.ray_address:  # e.g. the test session's Ray: fit the pools' CPU asks into it
        avail = float(ray.cluster_resources().get("CPU", 1.0))
        pools = dict(rt.settings.pools)
        need = sum(pools[p].num_cpus * pools[p].size for p in CAMPAIGN_POOLS)
        if need > avail:
            factor = avail / need
            for p in CAMPAIGN_POOLS:
                # floor, not round: 3 x 0.667 would ask 2.001 CPUs of 2 and one pool would never start
                cpus = math.floor(pools[p].num_cpus * factor * 1000) / 1000
                pools[p] = pools[p].model_copy(update={"num_cpus": cpus})
            rt.settings = rt.settings.model_copy(update={"pools": pools})
    rt.start(pools=list(CAMPAIGN_POOLS))


def _wait_and_export(
    rt: Any,
    exp: Expansion,
    *,
    show_progress: bool,
    stop_after: int | None,
    on_ad: ProgressHook | None,
    timeout_s: float | None,
) -> bool:
    """Poll the jobs, export each finished ad, keep state current; True if stopped early."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from workers.commands.common import console

    already = exp.stats["resumed"]
    done_here = failed = cached = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ok {task.fields[ok]} · failed {task.fields[failed]} · cached {task.fields[cached]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not show_progress,
    )
    waiting = dict(exp.pending)
    with progress:
        task = progress.add_task(
            exp.spec.name or exp.spec.campaign_id,
            total=exp.stats["planned"],
            completed=already,
            ok=already,
            failed=0,
            cached=0,
        )
        while waiting:
            if deadline is not None and time.monotonic() > deadline:
                states = sorted({rt.get(j).status.value for j in waiting})
                pools = {k: (p["actors"], p["healthy"], p["error"]) for k, p in rt.status()["pools"].items()}
                raise TimeoutError(
                    f"campaign did not finish within {timeout_s} s: {len(waiting)} ads still {states}; pools {pools}"
                )
            finished = []
            for job_id, res in waiting.items():
                rec = rt.get(job_id)
                if not rec.terminal:
                    continue
                finished.append(job_id)
                _record(exp.store, exp.out_dir, rec, res)
                if res.status == "done":
                    done_here += 1
                    cached += int(res.cache_hit)
                else:
                    failed += 1
                if on_ad is not None:
                    on_ad(res)
            for job_id in finished:
                del waiting[job_id]
            if not finished:
                time.sleep(0.1)
                continue
            exp.save()  # state on disk after every batch: a crash loses nothing
            ok = already + done_here
            progress.update(task, completed=ok + failed, ok=ok, failed=failed, cached=cached)
            if stop_after is not None and done_here >= stop_after and waiting:
                return True
    return False


def _record(store: Any, out_dir: Path, rec: Any, res: AdResult) -> None:
    """Copy a finished job's outputs into the campaign folder and fill the manifest row."""
    from workers.jobs.models import JobStatus

    res.cache_hit = bool(rec.cache_hit)
    if rec.status != JobStatus.SUCCEEDED:
        res.status = "canceled" if rec.status == JobStatus.CANCELED else "failed"
        res.error = f"{rec.error_class}: {rec.error_message}" if rec.error_class else (rec.error_message or "")
        res.error_field = rec.error_field
        return
    folder = out_dir / "ads" / safe_name(res.customer_id)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    ext = {"video": ".mp4", "poster": ".poster.png", "vtt": ".vtt", "srt": ".srt"}
    for name, asset_id in sorted(rec.outputs.items()):
        fmt, _, kind = name.rpartition(".")
        if kind not in ext:
            continue
        dest = folder / f"{fmt_tag(fmt)}{ext[kind]}"
        if not dest.is_file() or dest.stat().st_size != store.get(asset_id).size:
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(store.path(asset_id), tmp)
            os.replace(tmp, dest)
        files[name] = dest.relative_to(out_dir).as_posix()
    res.files = files
    res.assets = dict(rec.outputs)
    res.status = "done"
    res.error = res.error_field = None
    durations: dict[str, float] = {}
    if rec.started_at and rec.finished_at and not rec.cache_hit:
        durations["render_s"] = round(rec.finished_at - rec.started_at, 3)
    for r in (rec.result or {}).get("renders", []):
        meta = r.get("metadata") or {}
        dur = meta.get("duration_s") or meta.get("duration")
        if isinstance(dur, int | float):
            durations[f"{r.get('format')}.video_s"] = round(float(dur), 3)
    res.durations = durations


def _stage_times(rt: Any, ads: Sequence[AdResult]) -> dict[str, Any]:
    """Seconds of actual work per stage (recolor, voice, video) over the jobs this campaign used."""
    from workers.runtime import JobNotFound

    seen: set[str] = set()
    totals = {"recolor": 0.0, "voice": 0.0, "video": 0.0}
    counts = {"recolor": 0, "voice": 0, "video": 0}
    stack = [a.job_id for a in ads if a.job_id]
    while stack:
        jid = stack.pop()
        if jid is None or jid in seen:
            continue
        seen.add(jid)
        try:
            rec = rt.get(jid)
        except JobNotFound:
            continue
        stage = {"recolor": "recolor", "voice": "voice", "render_ad": "video"}.get(rec.kind)
        if stage and rec.started_at and rec.finished_at and not rec.cache_hit:
            totals[stage] += rec.finished_at - rec.started_at
            counts[stage] += 1
        stack.extend(rec.depends_on or [])
    return {
        "stage_s": {k: round(v, 3) for k, v in totals.items()},
        "stage_jobs": counts,
    }


# -- manifest + gallery -------------------------------------------------------------------------

CSV_COLUMNS = (
    "row", "customer_id", "first_name", "status", "sku", "colourway", "colour_hex", "accent", "language", "tone",
    "template_variant", "formats", "video", "poster", "captions", "asset_ids", "job_id", "cache_hit", "resumed",
    "durations", "decisions", "error",
)  # fmt: skip


def write_outputs(result: CampaignResult, spec: CampaignSpec) -> None:
    """manifest.json, manifest.csv and index.html in the campaign folder (atomic writes)."""
    out = result.out_dir
    manifest = {
        "campaign_id": result.campaign_id,
        "name": spec.name,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "interrupted": result.interrupted,
        "complete": not any(a.status == "pending" for a in result.ads),
        "counts": result.counts(),
        "stats": result.stats,
        "spec": json.loads(spec.model_dump_json(by_alias=True)),
        "ads": [asdict(a) for a in result.ads],
    }
    atomic_write_bytes(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for a in result.ads:
        writer.writerow(
            {
                "row": a.row,
                "customer_id": a.customer_id,
                "first_name": a.first_name,
                "status": a.status,
                **{k: a.plan.get(k, "") for k in ("sku", "colourway", "colour_hex", "accent", "language", "tone")},
                "template_variant": a.plan.get("template_variant", ""),
                "formats": ";".join(a.formats),
                "video": ";".join(p for k, p in a.files.items() if k.endswith(".video")),
                "poster": ";".join(p for k, p in a.files.items() if k.endswith(".poster")),
                "captions": ";".join(p for k, p in a.files.items() if k.endswith(".vtt")),
                "asset_ids": ";".join(f"{k}={v}" for k, v in a.assets.items()),
                "job_id": a.job_id or "",
                "cache_hit": a.cache_hit,
                "resumed": a.resumed,
                "durations": ";".join(f"{k}={v}" for k, v in a.durations.items()),
                "decisions": " | ".join(f"L{d['level']} {d['field']}={d['value']}: {d['reason']}" for d in a.decisions),
                "error": (f"[{a.error_field}] " if a.error_field else "") + (a.error or ""),
            }
        )
    atomic_write_bytes(out / "manifest.csv", buf.getvalue().encode("utf-8"))
    atomic_write_bytes(out / "index.html", render_gallery(result, spec).encode("utf-8"))


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
            if vtt and not (spec.voiceover and spec.captions != "none"):  # burned in: no second caption track
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


def campaign_status(settings: Settings, campaign_id: str) -> dict[str, Any]:
    """Exported ads, manifest counts and live job counts for a campaign (refreshes the manifest)."""
    from workers.runtime import Runtime

    result = refresh_campaign(settings, campaign_id)
    if result is None:
        raise KeyError(campaign_id)
    jobs: dict[str, int] = {}
    with Runtime(settings) as rt:
        offset = 0
        while True:
            batch = rt.list(campaign_id=campaign_id, kind="render_ad", limit=500, offset=offset)
            for rec in batch:
                jobs[rec.status.value] = jobs.get(rec.status.value, 0) + 1
            if len(batch) < 500:
                break
            offset += 500
    return {
        "campaign_id": campaign_id,
        "dir": str(result.out_dir),
        "counts": result.counts(),
        "jobs": jobs,
        "expanding": False,
        "interrupted": result.interrupted,
        "gallery": str(result.gallery),
    }
