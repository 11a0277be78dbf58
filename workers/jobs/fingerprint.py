"""Job fingerprints: same (tenant, kind, input asset ids, params, engine + model revision,
pipeline version) -> same fingerprint -> the earlier result is reused instead of running again.

The tenant is part of the fingerprint, so the result cache and child-job sharing never cross
tenants: tenant A can neither learn that tenant B rendered a script (``cache_hit`` is no oracle)
nor end up depending on (or cancelling) B's work. Within one tenant (a campaign's customers)
equal work is still shared. See docs/security.md."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bump when a pipeline's output for the same inputs changes (invalidates every cached result of that kind).
PIPELINE_VERSIONS: dict[str, str] = {"recolor": "1", "voice": "1", "render_ad": "1", "noop": "1"}


def fingerprint(
    kind: str,
    inputs: dict[str, str],
    params: dict[str, Any],
    *,
    pool: str,
    revision: str,
    extra: dict[str, Any] | None = None,
    tenant: str = "default",
) -> str:
    """sha256 over canonical JSON; key order and whitespace never matter."""
    doc = {
        "tenant": tenant,
        "kind": kind,
        "inputs": inputs,
        "params": params,
        "engine": pool,
        "revision": revision,
        "pipeline_version": PIPELINE_VERSIONS.get(kind, "1"),
        "extra": extra or {},
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
