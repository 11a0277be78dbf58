"""Non-blocking start (the HTTP API's entry point): jobs queued, pending manifest, status."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines._common.errors import PipelineInputError
from workers.campaigns import campaign_status, load_manifest, start_campaign
from workers.runtime import Runtime

DEMO = Path(__file__).resolve().parents[3] / "assets" / "demo"


def test_start_queues_jobs_and_writes_a_pending_manifest(settings):
    dry = start_campaign(settings, DEMO / "campaign.yaml", dry_run=True)
    assert (dry["rows"], dry["valid"], len(dry["errors"])) == (14, 12, 2)
    with Runtime(settings) as rt:
        out = start_campaign(settings, DEMO / "campaign.yaml", tenant="acme", runtime=rt)
        assert out == {"id": "demo-tet-2026", "rows": 14, "planned": 12, "invalid": 2, "submitted": 12}
        ads = rt.list(campaign_id="demo-tet-2026", kind="render_ad")
        assert len(ads) == 12 and {a.tenant for a in ads} == {"acme"}
        assert {a.status.value for a in ads} == {"queued"}
        # Same spec again: idempotency keys return the same jobs, nothing new is queued.
        start_campaign(settings, DEMO / "campaign.yaml", tenant="acme", runtime=rt)
        assert len(rt.list(campaign_id="demo-tet-2026", kind="render_ad")) == 12
    manifest = load_manifest(settings, "demo-tet-2026")
    assert manifest is not None
    assert manifest["counts"] == {"pending": 12, "invalid": 2}
    assert all(a["decisions"] for a in manifest["ads"] if a["status"] == "pending")
    status = campaign_status(settings, "demo-tet-2026")
    assert status["jobs"] == {"queued": 12} and Path(status["gallery"]).is_file()
    assert load_manifest(settings, "nope") is None


def test_start_rejects_a_bad_spec(settings, tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("campaign_id: '!!'\n", encoding="utf-8")
    with pytest.raises(PipelineInputError) as err:
        start_campaign(settings, bad)
    assert err.value.field == "spec" and "campaign_id" in err.value.message
