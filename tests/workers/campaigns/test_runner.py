"""End-to-end campaign runs on the real runtime (Ray actors, job store, video/voice/recolor):
dedupe counts, interrupted run + resume renders only what is missing, manifest and gallery."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from workers.campaigns import load_spec, run_campaign
from workers.runtime import Runtime

DEMO = Path(__file__).resolve().parents[3] / "assets" / "demo"
AUDIENCE = (
    "customer_id,first_name,age,location,viewed,favourite_colors,channel,intent,message\n"
    # a1 and a2 get the same product, colourway, script and accent: one recolor, one voice for both.
    "a1,An,24,Hà Nội,TEE-LOTUS:Jade,,tiktok,browsing,Áo đẹp quá!\n"
    "a2,An,22,Hà Nội,TEE-LOTUS:Jade,,tiktok,browsing,Áo đẹp quá!\n"
    'b3,Ben,45,"London, England",MUG-CAPHE:Cobalt,,youtube,comparing,not bad\n'
    "x4,Zed,7,Huế,,,tiktok,browsing,\n"
)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.customers: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-customer") is not None:
            self.customers.append(a["data-customer"] or "")
        for key in ("src", "href", "poster"):
            if a.get(key):
                self.links.append(a[key] or "")


@pytest.fixture
def spec(tmp_path):
    aud = tmp_path / "audience.csv"
    aud.write_text(AUDIENCE, encoding="utf-8")
    return load_spec(DEMO / "campaign.yaml", audience=str(aud), size="tiny", campaign_id="t-run")


def test_interrupted_run_resumes_without_rerendering(ray_session, settings, spec):
    first = run_campaign(spec, settings, stop_after=1, timeout_s=240)
    assert first.interrupted
    st = first.stats
    assert (st["planned"], st["invalid"], st["submitted"]) == (3, 1, 3)
    # Dedupe: a1/a2 share SKU+colourway and script+accent+tone.
    assert (st["unique_recolors"], st["unique_voices"]) == (2, 2)
    done_first = {a.customer_id: a for a in first.ads if a.status == "done"}
    assert done_first, "at least one ad finished before the interruption"
    mtimes = {cid: (first.out_dir / a.files["9:16.video"]).stat().st_mtime_ns for cid, a in done_first.items()}
    manifest = json.loads((first.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["interrupted"] is True

    second = run_campaign(spec, settings, timeout_s=240)
    assert not second.interrupted
    assert second.counts() == {"done": 3, "invalid": 1}
    assert second.stats["resumed"] == len(done_first)
    for cid, a in done_first.items():  # finished ads were not re-rendered nor rewritten
        assert (second.out_dir / a.files["9:16.video"]).stat().st_mtime_ns == mtimes[cid]

    with Runtime(settings) as rt:
        ads = rt.list(campaign_id="t-run", kind="render_ad")
        assert len(ads) == 3 and all(rt.get(j.id).status == "succeeded" for j in ads)
        assert all(len(rt.attempts(j.id)) == 1 for j in ads), "every ad rendered exactly once"
        recolors = rt.list(campaign_id="t-run", kind="recolor")
        voices = rt.list(campaign_id="t-run", kind="voice")
        assert len(recolors) == 2 and len(voices) == 2  # shared child jobs
        a1, a2 = (next(j for j in ads if j.params["data"]["customer"]["id"] == c) for c in ("a1", "a2"))
        assert set(a1.depends_on) == set(a2.depends_on)
        # The recolors hit the chosen colourways exactly (Jade tee, Cobalt mug), logos/background kept.
        for job in recolors:
            report = rt.get(job.id).result["reports"][0]
            assert report["target_hex"] in {"#1F9E6E", "#1F4E9C"}
            assert report["median_de00"] < 2.3 and report["max_abs_outside"] == 0
        assert {v.params["accent"] for v in voices} == {"vi-north", "en-gb"}

    third = run_campaign(spec, settings, timeout_s=60)
    assert third.stats["submitted"] == 0 and third.stats["resumed"] == 3

    # Manifest CSV: one row per audience row, decisions with reasons, files that exist.
    rows = list(csv.DictReader((third.out_dir / "manifest.csv").open(encoding="utf-8")))
    assert [r["customer_id"] for r in rows] == ["a1", "a2", "b3", "x4"]
    by_id = {r["customer_id"]: r for r in rows}
    assert by_id["x4"]["status"] == "invalid" and "[age]" in by_id["x4"]["error"]
    assert by_id["a1"]["colourway"] == "Jade" and "L2 colourway=Jade" in by_id["a1"]["decisions"]
    assert by_id["b3"]["accent"] == "en-gb" and by_id["b3"]["template_variant"] == "comparison"
    for r in rows[:3]:
        assert (third.out_dir / r["video"]).is_file() and (third.out_dir / r["poster"]).is_file()
        assert r["status"] == "done" and "render_s=" in r["durations"] or r["durations"]

    # Gallery: every customer present, every link resolves to a file next to index.html.
    parser = _Links()
    parser.feed((third.out_dir / "index.html").read_text(encoding="utf-8"))
    assert parser.customers == ["a1", "a2", "b3", "x4"]
    videos = [link for link in parser.links if link.endswith(".mp4")]
    assert len(set(videos)) == 3
    for link in parser.links:
        assert not link.startswith(("/", "http")), link
        assert (third.out_dir / link).is_file(), link
