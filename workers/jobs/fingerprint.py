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


def pipeline_version(pool: str) -> str:
    """The version of the pipeline an actor pool runs, as that pipeline declares it.

    Each pipeline package keeps its version import-free in its ``__init__`` (``pipelines.recolor``
    ``EXACT_VERSION``/``DIFFUSION_VERSION``, ``pipelines.voice.VERSION``, ``pipelines.video.VERSION``),
    so bumping one invalidates the cached results of that kind only. ``noop`` (tests) is "1".
    """
    import pipelines.recolor
    import pipelines.video
    import pipelines.voice

    versions = {
        "recolor": pipelines.recolor.EXACT_VERSION,
        "recolor_diffusion": pipelines.recolor.DIFFUSION_VERSION,
        "voice": pipelines.voice.VERSION,
        "video": pipelines.video.VERSION,
    }
    return versions.get(pool, "1")


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
    """sha256 (64 hex chars) over canonical JSON; key order and whitespace never matter.

    ``pool`` is the actor pool that runs the job (it selects the pipeline version, see
    :func:`pipeline_version`); ``revision`` the pool's model revision from settings.
    """
    doc = {
        "tenant": tenant,
        "kind": kind,
        "inputs": inputs,
        "params": params,
        "engine": pool,
        "revision": revision,
        "pipeline_version": pipeline_version(pool),
        "extra": extra or {},
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
