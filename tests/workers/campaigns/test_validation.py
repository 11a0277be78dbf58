"""Campaign spec + audience validation (no Ray): bad rows reported with row number and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.campaigns import CampaignSpecError, load_spec, read_audience, validate_campaign

DEMO = Path(__file__).resolve().parents[3] / "assets" / "demo"
HEADER = "customer_id,first_name,age,location,viewed,favourite_colors,channel,intent,message\n"


def test_demo_audience_plans_good_rows_and_reports_bad_ones(settings):
    v = validate_campaign(load_spec(DEMO / "campaign.yaml"), settings)
    assert v.rows_total == 14 and len(v.planned) == 12
    bad = {(e.row, e.customer_id, e.field) for e in v.errors}
    assert bad == {(14, "bad-013", "age"), (15, "bad-014", "channel")}
    assert all(e.message for e in v.errors)
    locations = {p.profile.location.split(",")[-1].strip() for p in v.planned}
    assert {"Hà Nội", "Huế", "Đà Nẵng", "TP.HCM", "Cần Thơ", "Scotland", "Jamaica", "England"} <= locations
    accents = {p.plan.accent for p in v.planned}
    assert {"vi-north", "vi-central", "vi-south", "en-us", "en-gb", "en-scotland", "en-caribbean"} <= accents
    assert {p.plan.tone for p in v.planned} == {"energetic", "calm", "empathetic"}


def test_duplicate_ids_and_unreadable_rows(settings, tmp_path):
    aud = tmp_path / "a.csv"
    aud.write_text(
        HEADER
        + "c1,An,30,Huế,,,tiktok,browsing,\n"
        + "c1,Bình,30,Huế,,,tiktok,browsing,\n"
        + "c3,Chi,30,Huế,,,tiktok,browsing,,extra-cell\n"
        + "c4,Dung,30,Huế,,blurple-ish,tiktok,browsing,\n",
        encoding="utf-8",
    )
    v = validate_campaign(load_spec(DEMO / "campaign.yaml", audience=str(aud)), settings)
    assert [p.profile.customer_id for p in v.planned] == ["c1"]
    errs = {e.row: (e.field, e.message) for e in v.errors}
    assert errs[3][0] == "customer_id" and "first on row 2" in errs[3][1]
    assert errs[4][0] == "row" and "more cells" in errs[4][1]
    assert errs[5][0] == "favourite_colors" and "blurple" in errs[5][1]


def test_jsonl_and_parquet_audiences(settings, tmp_path):
    rows = [
        {"customer_id": "j1", "first_name": "Lan", "location": "Cần Thơ", "viewed": ["MUG-CAPHE:Cobalt"], "intent": ""},
        {"customer_id": "j2", "first_name": "Sam", "location": "Glasgow, Scotland", "viewed": [], "intent": "teleport"},
    ]
    jl = tmp_path / "a.jsonl"
    jl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{not json\n", encoding="utf-8")
    v = validate_campaign(load_spec(DEMO / "campaign.yaml", audience=str(jl)), settings)
    assert [p.plan.colourway for p in v.planned] == ["Cobalt"]
    assert {(e.row, e.field) for e in v.errors} == {(2, "intent"), (3, "row")}

    import pyarrow as pa
    import pyarrow.parquet as pq

    pqf = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "viewed": r.get("viewed", [])} for r in rows]), pqf)
    v2 = validate_campaign(load_spec(DEMO / "campaign.yaml", audience=str(pqf)), settings)
    assert [p.plan.accent for p in v2.planned] == ["vi-south"]
    assert [(e.row, e.field) for e in v2.errors] == [(2, "intent")]


def test_spec_errors_name_the_key(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("campaign_id: x\ncatalogue: a\naudience: b.csv\ncopy: c\nformat: ['9:16']\n", encoding="utf-8")
    with pytest.raises(CampaignSpecError, match="unknown key 'format'"):
        load_spec(bad)
    with pytest.raises(CampaignSpecError, match="formats"):
        load_spec(DEMO / "campaign.yaml", formats=["3:2"])


def test_audience_type_and_row_limit(tmp_path):
    from pipelines._common.errors import PipelineInputError

    with pytest.raises(PipelineInputError, match="unsupported file type"):
        list(read_audience(tmp_path / "a.docx"))
    with pytest.raises(PipelineInputError, match="CSV UTF-8"):
        list(read_audience(tmp_path / "a.xlsx"))
    big = tmp_path / "big.csv"
    big.write_text(HEADER + "".join(f"c{i},N,30,Huế,,,tiktok,browsing,\n" for i in range(5)), encoding="utf-8")
    with pytest.raises(PipelineInputError, match="more than 3 rows"):
        list(read_audience(big, max_rows=3))
