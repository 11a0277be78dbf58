"""Asset references of the job store: which tenant's job used or produced each asset.

The ``job_assets`` index answers API read access (``tenants_for_asset``) and tells ``maydo gc``
which assets are never garbage (``referenced_assets``). Jobs index their inputs at creation and
their outputs on success.
"""

from __future__ import annotations

from typing import Any

from workers.jobs.sql import SQLBase


class AssetRefsMixin(SQLBase):
    """The ``job_assets`` index (asset id, tenant, job id)."""

    def _index_assets(self, db: Any, job_id: str, tenant: str, *mappings: dict[str, Any]) -> None:
        """Record which tenant's job used or produced each asset (API read access, GC references)."""
        ids = sorted({v for m in mappings for v in m.values() if isinstance(v, str)})
        for asset_id in ids:
            self._x(
                db,
                "INSERT INTO job_assets(asset_id, tenant, job_id) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                (asset_id, tenant, job_id),
            )

    def tenants_for_asset(self, asset_id: str) -> set[str]:
        """Tenants with a job that has ``asset_id`` as an input or output (indexed lookup)."""
        rows = self._read("SELECT DISTINCT tenant FROM job_assets WHERE asset_id = ?", (asset_id,)).fetchall()
        return {str(r["tenant"]) for r in rows}

    def referenced_assets(self) -> set[str]:
        """Every asset id any job (any status) has as an input or output: never garbage."""
        return {str(r["asset_id"]) for r in self._read("SELECT DISTINCT asset_id FROM job_assets").fetchall()}
