"""Validation and planning: catalogue + copy deck + every audience row -> a plan or a row error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines._common.data import is_file
from pipelines._common.errors import PipelineInputError
from pipelines.personalization import (
    Catalogue,
    CopyDeck,
    CustomerProfile,
    PersonalizationPlan,
    load_catalogue,
    load_copy_deck,
    personalize,
)
from workers.campaigns.audience import RowError, read_audience
from workers.campaigns.spec import CampaignSpec
from workers.settings import Settings


@dataclass(frozen=True)
class PlannedRow:
    row: int
    profile: CustomerProfile
    plan: PersonalizationPlan
    columns: Mapping[str, Any] = field(default_factory=dict)  # the audience row as read (customer.<column>)


@dataclass
class Validation:
    spec: CampaignSpec
    catalogue: Catalogue
    deck: CopyDeck
    rows_total: int
    planned: list[PlannedRow]
    errors: list[RowError]
    warnings: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_campaign(spec: CampaignSpec, settings: Settings | None = None, *, resolver: Any | None = None) -> Validation:
    """Load catalogue + copy deck, plan every audience row and check what its render would reject
    (``workers.campaigns.checks``): every error of every row, with row number and field.

    The one validation path: ``maydo campaign validate``, ``campaign run --dry-run``, HTTP
    ``dry_run`` and the runner (which submits only rows without errors) all call this.
    ``resolver`` resolves template/music/media references (default: registry names, and asset
    ids of the local asset store of ``settings``; the HTTP API passes the tenant's).
    """
    from pipelines.voice.accents import load_registry
    from workers.campaigns.checks import CampaignChecker

    catalogue = load_catalogue(spec.catalogue)
    deck = load_copy_deck(spec.copy_deck)
    for product in catalogue:
        if not is_file(product.image):
            raise PipelineInputError(f"catalogue: image of {product.sku} not found: {product.image}", field="catalogue")
    if spec.products:
        for sku in spec.products:
            catalogue.get(sku, field="products")
    registry = load_registry()
    if resolver is None and settings is not None:
        from workers.resolver import Resolver
        from workers.storage import open_store

        resolver = Resolver(open_store(settings))
    checker = CampaignChecker(spec, catalogue, resolver)
    max_rows = settings.limits.max_audience_rows if settings else 100_000
    planned: list[PlannedRow] = []
    errors: list[RowError] = []
    warnings: list[RowError] = []
    seen: dict[str, int] = {}
    total = 0
    for row_no, row in read_audience(spec.audience, max_rows=max_rows):
        total += 1
        if isinstance(row, RowError):
            errors.append(row)
            continue
        cid = str(row.get("customer_id") or "").strip()[:128]
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
        result = checker.check(plan, row)
        warnings.extend(RowError(row_no, cid, f, m) for f, m in result.warnings)
        if result.errors:
            errors.extend(RowError(row_no, cid, f, m) for f, m in result.errors)
            continue
        planned.append(PlannedRow(row_no, profile, plan, row))
    return Validation(spec, catalogue, deck, total, planned, errors, warnings)
