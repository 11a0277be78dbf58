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

Modules, one concern each: ``spec`` (the YAML spec), ``audience`` (audience files), ``plan``
(validation + per-row plans), ``jobs`` (one render_ad job per customer), ``state`` (results,
resume state, exporting a finished job), ``runner`` (expand, wait, run/start), ``manifest``
(manifest files, refresh, status), ``gallery`` (the HTML page).
"""

from workers.campaigns.audience import AUDIENCE_SUFFIXES, RowError, read_audience
from workers.campaigns.gallery import render_gallery
from workers.campaigns.jobs import ad_job_spec, fmt_tag, job_key, localized_template, safe_name, template_path
from workers.campaigns.manifest import campaign_status, load_manifest, refresh_campaign, write_outputs
from workers.campaigns.plan import PlannedRow, Validation, validate_campaign
from workers.campaigns.runner import (
    CAMPAIGN_POOLS,
    Progress,
    campaign_settings,
    expand_campaign,
    run_campaign,
    start_campaign,
)
from workers.campaigns.spec import MAX_SPEC_BYTES, SIZE_PRESETS, CampaignSpec, CampaignSpecError, load_spec
from workers.campaigns.state import AdResult, CampaignResult, Expansion, campaign_dir

__all__ = [
    "AUDIENCE_SUFFIXES",
    "CAMPAIGN_POOLS",
    "MAX_SPEC_BYTES",
    "SIZE_PRESETS",
    "AdResult",
    "CampaignResult",
    "CampaignSpec",
    "CampaignSpecError",
    "Expansion",
    "PlannedRow",
    "Progress",
    "RowError",
    "Validation",
    "ad_job_spec",
    "campaign_dir",
    "campaign_settings",
    "campaign_status",
    "expand_campaign",
    "fmt_tag",
    "job_key",
    "load_manifest",
    "load_spec",
    "localized_template",
    "read_audience",
    "refresh_campaign",
    "render_gallery",
    "run_campaign",
    "safe_name",
    "start_campaign",
    "template_path",
    "validate_campaign",
    "write_outputs",
]
