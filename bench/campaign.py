"""Campaign throughput: ads/min for the demo campaign at N customers, and time share per stage.

The audience is the demo audience's valid rows replicated with new customer ids (so recolor and
voice work dedupes the way it would for look-alike segments; every ad is still its own video).
Each size runs in a fresh data dir on embedded local Ray, exactly as `maydo demo` does.

    .venv/bin/python bench/campaign.py                 # 50 and 200 customers, demo size (small)
    .venv/bin/python bench/campaign.py --customers 50 --size tiny
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
# bench/ holds queue.py (the queue bench): drop it from sys.path so it cannot shadow the stdlib.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

DEMO = REPO / "assets" / "demo"


def make_audience(n: int, dest: Path) -> None:
    """``n`` valid rows cycling through the demo audience with fresh ids."""
    from pipelines.personalization import CustomerProfile, load_catalogue

    catalogue = load_catalogue(DEMO / "catalogue.yaml")
    with open(DEMO / "audience.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        good = []
        for row in reader:
            try:
                CustomerProfile.from_row(row, catalogue=catalogue)
            except ValueError:
                continue
            good.append(row)
    with open(dest, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for i in range(n):
            row = dict(good[i % len(good)])
            row["customer_id"] = f"bench-{i:05d}"
            writer.writerow(row)


def run_one(n: int, size: str) -> dict[str, float]:
    import ray

    from workers.campaigns import load_spec, run_campaign
    from workers.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="maydo-bench-") as tmp:
        aud = Path(tmp) / "audience.csv"
        make_audience(n, aud)
        settings = load_settings(env={}, overrides={"data_dir": str(Path(tmp) / "data")})
        spec = load_spec(DEMO / "campaign.yaml", audience=str(aud), size=size, campaign_id=f"bench-{n}")
        t0 = time.monotonic()
        result = run_campaign(spec, settings)
        wall = time.monotonic() - t0
        ray.shutdown()
    st = result.stats
    done = result.counts().get("done", 0)
    stage = dict(st.get("stage_s", {}))
    stage["plan+submit"] = st.get("plan_s", 0.0)
    busy = sum(stage.values()) or 1.0
    return {
        "customers": n,
        "done": done,
        "wall_s": wall,
        "ads_per_min": done / wall * 60.0,
        "unique_recolors": st.get("unique_recolors", 0),
        "unique_voices": st.get("unique_voices", 0),
        **{f"share_{k}": v / busy for k, v in stage.items()},
        **{f"work_{k}_s": v for k, v in stage.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", default="50,200", help="comma-separated audience sizes")
    ap.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    args = ap.parse_args()
    rows = []
    for n in (int(x) for x in args.customers.split(",")):
        r = run_one(n, args.size)
        rows.append(r)
        print(f"[{n} customers done in {r['wall_s']:.0f} s]", flush=True)
    stages = ("plan+submit", "recolor", "voice", "video")
    print(f"\ncampaign bench — demo campaign, size={args.size}, {os.cpu_count()} CPUs, embedded Ray")
    head = (
        "| customers | ads | wall s | ads/min | unique recolor | unique voice | "
        + " | ".join(f"{s} %" for s in stages)
        + " |"
    )
    print(head)
    print("|" + "---|" * (6 + len(stages)))
    for r in rows:
        shares = " | ".join(f"{100 * r.get(f'share_{s}', 0.0):.0f}" for s in stages)
        print(
            f"| {r['customers']} | {r['done']} | {r['wall_s']:.0f} | {r['ads_per_min']:.1f} | "
            f"{r['unique_recolors']} | {r['unique_voices']} | {shares} |"
        )
    print("(share = fraction of summed work seconds: planning in this process, job run time per pool)")


if __name__ == "__main__":
    main()
