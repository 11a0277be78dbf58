"""Queue benchmark: the dispatcher's own cost, measured with the ``noop`` job kind.

Prints:
- throughput: jobs/s through store -> dispatcher -> Ray actor -> store, no-op-sized jobs;
- overhead per job: one job at a time, submit -> succeeded latency, vs calling the same actor
  code directly in-process (and a 64×64 exact recolor direct vs through the queue);
- memory: dispatcher process RSS idle, with 10 000 queued jobs, and while they are being
  dispatched (bounded in-flight keeps it flat: queued jobs live in SQLite, not in Ray).

Targets: ≥ 100 jobs/s on 2 cores; overhead ≤ 50 ms/job; RSS growth with 10 000 queued ≤ 50 MiB.
Usage: ``python bench/queue.py [--jobs 1000] [--queued 10000] [--no-recolor] [--database-url URL]``
(``--database-url postgresql://...``: the same figures on a PostgreSQL job store; default SQLite).
"""

from __future__ import annotations

import sys

# This file is named queue.py: drop its folder from sys.path so `import queue` finds the stdlib.
_HERE = __file__.rsplit("/", 1)[0] or "."
sys.path[:] = [p for p in sys.path if p not in ("", _HERE) and not p.endswith("/bench")]
sys.path.insert(0, _HERE + "/..")

import argparse  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _fresh_db(url: str, name: str) -> str:
    """A new database ``maydo_bench_<name>_<pid>`` on the server of ``url``; its URL."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    db = f"maydo_bench_{name}_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--queued", type=int, default=10_000)
    ap.add_argument("--serial", type=int, default=50)
    ap.add_argument("--no-recolor", action="store_true")
    ap.add_argument("--database-url", default=None, help="job store URL (default: SQLite in a temp dir)")
    args = ap.parse_args()

    import ray

    from workers.actors.noop import NoopActor
    from workers.jobs.models import JobSpec, JobStatus
    from workers.raynet import local_init_kwargs
    from workers.runtime import Runtime
    from workers.settings import load_settings

    data = Path(tempfile.mkdtemp(prefix="maydo-bench-queue-"))
    # The same loopback-only, token-authenticated Ray as `maydo worker` (workers/raynet.py).
    ray_kw = local_init_kwargs(load_settings(env={}, overrides={"data_dir": str(data)}))
    ray.init(**{**ray_kw, "num_cpus": 2, "num_gpus": 1}, log_to_driver=False, configure_logging=False)
    rows: list[tuple[str, str]] = []

    def runtime(name: str, **noop: object) -> Runtime:
        pool = {"enabled": True, "size": 1, "max_in_flight": 8, **noop}
        overrides: dict[str, object] = {
            "data_dir": str(data / name),
            "dispatcher": {"test_kinds": True, "poll_s": 0.01},
            "pools": {"noop": pool},
        }
        if args.database_url:  # each runtime gets a fresh schema: one database per section
            overrides["jobs"] = {"database_url": _fresh_db(args.database_url, name)}
        return Runtime(load_settings(env={}, overrides=overrides))

    # -- throughput -----------------------------------------------------------------------------
    rt = runtime("throughput")
    rt.start(pools=["noop"])
    t0 = time.perf_counter()
    ids = [rt.submit(JobSpec(kind="noop", params={"i": i, "stages": 1})).id for i in range(args.jobs)]
    t_submit = time.perf_counter() - t0
    recs = rt.wait(ids, timeout=600, poll_s=0.05)
    t_all = time.perf_counter() - t0
    assert all(r.status == JobStatus.SUCCEEDED for r in recs)
    rows.append(("submit rate (store insert, jobs/s)", f"{args.jobs / t_submit:,.0f}"))
    rows.append((f"throughput, {args.jobs} no-op jobs, 1 actor × 8 in flight (jobs/s)", f"{args.jobs / t_all:,.1f}"))
    rt.close()

    # -- overhead per job -----------------------------------------------------------------------
    rt = runtime("serial", max_in_flight=1)
    rt.start(pools=["noop"])
    rt.wait(rt.submit(JobSpec(kind="noop", params={"warm": 1})).id, timeout=60)
    lat = []
    for i in range(args.serial):
        t = time.perf_counter()
        [r] = rt.wait(rt.submit(JobSpec(kind="noop", params={"serial": i, "stages": 1})).id, timeout=60, poll_s=0.002)
        lat.append(time.perf_counter() - t)
        assert r.status == JobStatus.SUCCEEDED
    rt.close()
    direct_actor = NoopActor("noop", {}, str(data / "direct-assets"))
    direct = []
    for i in range(args.serial):
        t = time.perf_counter()
        out = direct_actor.run({"job_id": f"d{i}", "fence": 1, "kind": "noop", "params": {"stages": 1}})
        direct.append(time.perf_counter() - t)
        assert out["ok"]
    q, d = statistics.median(lat), statistics.median(direct)
    rows.append(("no-op job direct call (ms, median)", f"{d * 1000:.2f}"))
    rows.append(("no-op job through queue, submit->succeeded (ms, median)", f"{q * 1000:.1f}"))
    rows.append(("queue overhead per job (ms)", f"{(q - d) * 1000:.1f}"))

    if not args.no_recolor:
        from PIL import Image

        from maydo_testing.synthetic import render_product
        from pipelines.recolor.config import RecolorParams
        from pipelines.recolor.pipeline_recolor import RecolorPipeline
        from workers.storage import LocalAssetStore

        buf = io.BytesIO()
        Image.fromarray(render_product(size=64).image).save(buf, format="PNG")
        pipe = RecolorPipeline()
        img = Image.open(io.BytesIO(buf.getvalue()))
        direct_rc = []
        for i in range(10):
            t = time.perf_counter()
            pipe(img, RecolorParams(to_colors=[f"#{(i * 20 + 30):02x}3040"]))
            direct_rc.append(time.perf_counter() - t)
        s = load_settings(env={}, overrides={"data_dir": str(data / "recolor")})
        rt = Runtime(s)
        asset = LocalAssetStore(s.assets_dir).put(buf.getvalue(), "image/png").id
        rt.start(pools=["recolor"])
        rt.wait(rt.submit(JobSpec(kind="recolor", inputs={"image": asset}, params={"to_colors": ["#000000"]})).id, 120)
        queued_rc = []
        for i in range(10):
            t = time.perf_counter()
            spec = JobSpec(kind="recolor", inputs={"image": asset}, params={"to_colors": [f"#{(i * 20 + 30):02x}3040"]})
            [r] = rt.wait(rt.submit(spec).id, timeout=120, poll_s=0.002)
            queued_rc.append(time.perf_counter() - t)
            assert r.status == JobStatus.SUCCEEDED, r.error_message
        rt.close()
        dr, qr = statistics.median(direct_rc), statistics.median(queued_rc)
        rows.append(("64×64 exact recolor direct pipeline call (ms, median)", f"{dr * 1000:.1f}"))
        rows.append(("64×64 exact recolor through queue (ms, median)", f"{qr * 1000:.1f}  ({qr / dr:.2f}×)"))

    # -- memory with 10 000 queued ----------------------------------------------------------------
    rt = runtime("memory", max_in_flight=4)
    rss0 = rss_mib()
    t = time.perf_counter()
    for i in range(args.queued):
        rt.submit(JobSpec(kind="noop", params={"m": i, "stages": 1}))
    t_q = time.perf_counter() - t
    rss_queued = rss_mib()
    rt.start(pools=["noop"])
    peak = rss_queued
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        peak = max(peak, rss_mib())
        time.sleep(0.1)
    disp = rt._dispatcher
    if disp is not None and disp.error is not None:
        raise RuntimeError(f"dispatcher failed: {disp.error!r}")
    in_flight = len(disp.in_flight) if disp else -1
    left = rt.status()["lanes"]["batch"]["queued"]
    rt.close()
    rows.append(("RSS idle runtime (MiB)", f"{rss0:.0f}"))
    rows.append((f"RSS with {args.queued} queued (MiB), insert {args.queued / t_q:,.0f} jobs/s", f"{rss_queued:.0f}"))
    rows.append((f"RSS peak while dispatching 5 s (MiB), in flight {in_flight}, still queued {left}", f"{peak:.0f}"))
    ray.shutdown()

    width = max(len(k) for k, _ in rows)
    print(f"\n{'measure':<{width}}  value")
    print("-" * (width + 14))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
