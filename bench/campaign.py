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


class _TreeCpu:
    """CPU seconds of this process and every descendant (Ray's processes, actors and the ffmpeg
    they reap), sampled every 0.5 s by pid: actors are killed before the campaign returns, and
    their CPU is not passed up to the raylet. Robust on a shared machine where wall time depends
    on other load."""

    def __init__(self) -> None:
        import threading

        self._seen: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._base = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> float:
        import psutil

        me = psutil.Process()
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                key = (p.pid, p.create_time())
            except psutil.Error:
                continue
            self._seen[key] = t.user + t.system + t.children_user + t.children_system
        return sum(self._seen.values())

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self._sample() - self._base


def run_one(n: int, size: str) -> dict[str, float]:
    import ray

    from workers.campaigns import load_spec, run_campaign
    from workers.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="maydo-bench-") as tmp:
        aud = Path(tmp) / "audience.csv"
        make_audience(n, aud)
        settings = load_settings(env={}, overrides={"data_dir": str(Path(tmp) / "data")})
        spec = load_spec(DEMO / "campaign.yaml", audience=str(aud), size=size, campaign_id=f"bench-{n}")
        meter = _TreeCpu()
        t0 = time.monotonic()
        result = run_campaign(spec, settings)
        wall = time.monotonic() - t0
        cpu = meter.stop()
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
        "cpu_s_per_ad": cpu / max(done, 1),
        "load": os.getloadavg()[0],
        "unique_recolors": st.get("unique_recolors", 0),
        "unique_voices": st.get("unique_voices", 0),
        **{f"share_{k}": v / busy for k, v in stage.items()},
        **{f"work_{k}_s": v for k, v in stage.items()},
        **{f"per_job_{k}_s": stage[k] / n_jobs for k, n_jobs in dict(st.get("stage_jobs", {})).items() if n_jobs},
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
        "| customers | ads | wall s | ads/min | CPU s/ad | load | unique recolor | unique voice | "
        + " | ".join(f"{s} %" for s in stages)
        + " | "
        + " | ".join(f"{s} s/job" for s in stages[1:])
        + " |"
    )
    print(head)
    print("|" + "---|" * (8 + 2 * len(stages) - 1))
    for r in rows:
        shares = " | ".join(f"{100 * r.get(f'share_{s}', 0.0):.0f}" for s in stages)
        per_job = " | ".join(f"{r.get(f'per_job_{s}_s', 0.0):.2f}" for s in stages[1:])
        print(
            f"| {r['customers']} | {r['done']} | {r['wall_s']:.0f} | {r['ads_per_min']:.1f} | "
            f"{r['cpu_s_per_ad']:.2f} | {r['load']:.1f} | "
            f"{r['unique_recolors']} | {r['unique_voices']} | {shares} | {per_job} |"
        )
    print("(share = fraction of summed work seconds: planning in this process, job run time per pool;")
    print(" s/job = mean run time of a job that really ran, not a cache hit; CPU s/ad = CPU of the whole")
    print(" process tree (driver, Ray, actors, ffmpeg) per finished ad; load = 1-min load average at the end)")


if __name__ == "__main__":
    main()
