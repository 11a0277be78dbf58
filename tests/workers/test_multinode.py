"""A real multi-node run: two "hosts" on one machine (issue #15, part C).

Topology, all private to this test (no other host is ever contacted)::

    netns mn-h-<id>  10.77.0.1/24                    netns mn-w-<id>  10.77.0.2/24
    ─────────────────────────────────  veth pair  ─────────────────────────────────
    PostgreSQL :5432 (jobs)                          Ray worker node (--resources video_node)
    moto S3 server :5000 (assets)                    └─ the video pool's actor(s)
    Ray head :6390 (recolor, voice pools)            own MAYDO_DATA_DIR, own TMPDIR; the head's
    maydo campaign run (driver, dispatcher)          data dir is hidden under an empty tmpfs
    own MAYDO_DATA_DIR                               (private mount namespace)

The campaign (10 ads, ``size: tiny``, demo catalogue, first 10 demo customers) must complete, with
every ``render_ad`` attempt recorded on the worker node (``video@10.77.0.2:<pid>``) and every ad's
video an object in the bucket. Ray runs with token auth (``RAY_AUTH_MODE=token``, a random token
for this cluster only). Needs root (``ip netns``); skipped with the reason otherwise; as root a
failure to build the namespaces FAILS the test.

Cleanup (always, even on failure): every process in the two namespaces is killed by pid
(``ip netns pids``) — never ``ray stop``, which would kill other Ray clusters on the machine —
then PostgreSQL's directory, the namespaces and the temp dirs are removed.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAD_IP, WORKER_IP = "10.77.0.1", "10.77.0.2"
RAY_PORT, PG_PORT, S3_PORT = 6390, 5432, 5000
N_ADS = 10
BUCKET = "maydo-multinode"

pytestmark = pytest.mark.slow


def _pg_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[4]), reverse=True)
    return cands[0].parent if cands else None


def _run(cmd: list[str], *, timeout: float = 60, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... exited {res.returncode}: {res.stderr.strip()[-2000:]}"
                           f" {res.stdout.strip()[-1000:]}")
    return res


@dataclass
class Cluster:
    """Two network namespaces joined by a veth pair, and what runs in them."""

    tag: str
    base: Path
    head_ns: str
    worker_ns: str
    token: str
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pg_data: Path | None = None
    pg_bindir: Path | None = None

    @property
    def head_dir(self) -> Path:
        return self.base / "h"

    @property
    def worker_dir(self) -> Path:
        return self.base / "w"

    def env(self, data_dir: Path) -> dict[str, str]:
        """A clean environment for a maydo/Ray process of one node (nothing from the test session)."""
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(data_dir),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO),  # the checkout under test, on both nodes (same machine: same venv)
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",  # this cluster's own random token, on every node and the driver
            "RAY_AUTH_TOKEN": self.token,
            "MAYDO_DATA_DIR": str(data_dir),  # per node: the S3 cache and temp files stay on the node
            "TMPDIR": str(data_dir / "tmp"),
            "AWS_ACCESS_KEY_ID": "maydo-multinode",
            "AWS_SECRET_ACCESS_KEY": "maydo-multinode-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        return env

    def in_ns(self, ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]


def _kill_ns_processes(ns: str) -> None:
    """SIGTERM, then SIGKILL, every process inside ``ns`` (by pid; nothing outside it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        res = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False)
        pids = [int(p) for p in res.stdout.split() if p.strip().isdigit()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            res = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False)
            if not res.stdout.split():
                return
            time.sleep(0.2)


def _teardown(c: Cluster) -> None:
    if c.pg_data is not None and c.pg_bindir is not None and c.head_ns in c.namespaces:
        subprocess.run(c.in_ns(c.head_ns, "runuser", "-u", "postgres", "--", str(c.pg_bindir / "pg_ctl"),
                               "-D", str(c.pg_data), "-m", "immediate", "-w", "-t", "20", "stop"),
                       capture_output=True, timeout=30, check=False)
    for ns in c.namespaces:
        _kill_ns_processes(ns)
    for p in c.procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
    for ns in c.namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)
    shutil.rmtree(c.base, ignore_errors=True)


def _wait_for(what: str, probe: list[str], env: dict[str, str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        res = subprocess.run(probe, capture_output=True, text=True, timeout=30, env=env, check=False)
        if res.returncode == 0:
            return
        last = (res.stderr or res.stdout).strip()[-500:]
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready within {timeout:.0f} s: {last}")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("multi-node test needs root for `ip netns` (network namespaces + veth); not root here")
    if shutil.which("ip") is None:
        pytest.fail("running as root but the `ip` command (iproute2) is missing: install iproute2")
    pg_bindir = _pg_bindir()
    if pg_bindir is None:
        pytest.fail("running as root but PostgreSQL server binaries are missing (make test installs postgresql-15)")
    tag = uuid.uuid4().hex[:6]
    # short: Ray's unix socket paths live under the node's temp dir (107-byte limit)
    base = Path(tempfile.mkdtemp(prefix=f"mn{tag}-", dir="/tmp"))
    c = Cluster(tag=tag, base=base, head_ns=f"mn-h-{tag}", worker_ns=f"mn-w-{tag}", token=secrets.token_hex(32),
                pg_bindir=pg_bindir)
    base.chmod(0o711)  # PostgreSQL (user postgres) must traverse to its own directory
    try:
        for d in (c.head_dir / "tmp", c.worker_dir / "tmp"):
            d.mkdir(parents=True)
        # -- two "hosts": network namespaces joined by a veth pair (failure as root = test failure)
        veth_h, veth_w = f"mnh{tag}", f"mnw{tag}"
        for ns in (c.head_ns, c.worker_ns):
            _run(["ip", "netns", "add", ns])
            c.namespaces.append(ns)
            _run(c.in_ns(ns, "ip", "link", "set", "lo", "up"))
        _run(["ip", "link", "add", veth_h, "type", "veth", "peer", "name", veth_w])
        _run(["ip", "link", "set", veth_h, "netns", c.head_ns])
        _run(["ip", "link", "set", veth_w, "netns", c.worker_ns])
        _run(c.in_ns(c.head_ns, "ip", "addr", "add", f"{HEAD_IP}/24", "dev", veth_h))
        _run(c.in_ns(c.worker_ns, "ip", "addr", "add", f"{WORKER_IP}/24", "dev", veth_w))
        _run(c.in_ns(c.head_ns, "ip", "link", "set", veth_h, "up"))
        _run(c.in_ns(c.worker_ns, "ip", "link", "set", veth_w, "up"))
        if shutil.which("ping"):
            _run(c.in_ns(c.worker_ns, "ping", "-c", "1", "-W", "5", HEAD_IP), check=False)  # warms ARP
        yield c
    finally:
        _teardown(c)


def _start_services(c: Cluster) -> None:
    """PostgreSQL and the S3 server in the head namespace, then the Ray head and worker node."""
    assert c.pg_bindir is not None
    head_env, worker_env = c.env(c.head_dir), c.env(c.worker_dir)
    py = sys.executable
    # -- model files per node, as `maydo models install` leaves them on each host (copied from this
    #    checkout's install, which `make test` runs first: no download here)
    from workers.settings import load_settings

    models = load_settings(env={k: v for k, v in os.environ.items() if k == "MAYDO_MODELS_DIR"}).models_path
    models = models if models.is_absolute() else REPO / models
    if not (models / "u2netp.onnx").is_file():
        pytest.fail(f"no installed model files at {models}: run `make models` (make test does) first")
    for node_dir in (c.head_dir, c.worker_dir):
        shutil.copytree(models, node_dir / "models")
    # -- PostgreSQL on the head's address; trust only for the private subnet
    pg_base = c.base / "pg"
    pg_base.mkdir()
    shutil.chown(pg_base, user="postgres", group="postgres")
    c.pg_data = pg_base / "data"
    _run(["runuser", "-u", "postgres", "--", str(c.pg_bindir / "initdb"), "-D", str(c.pg_data), "-A", "trust",
          "-U", "maydo", "-E", "UTF8", "--no-sync"], timeout=120)
    with open(c.pg_data / "pg_hba.conf", "a", encoding="utf-8") as fh:
        fh.write("host all maydo 10.77.0.0/24 trust\n")
    _run(c.in_ns(c.head_ns, "runuser", "-u", "postgres", "--", str(c.pg_bindir / "pg_ctl"), "-D", str(c.pg_data),
                 "-l", str(pg_base / "server.log"), "-w", "-t", "60", "-o",
                 f"-p {PG_PORT} -k {pg_base} -c listen_addresses={HEAD_IP} -c fsync=off -c max_connections=100",
                 "start"), timeout=90)
    # -- S3 (moto's standalone server) on the head's address
    moto = Path(py).parent / "moto_server"
    log = open(c.base / "moto.log", "wb")  # noqa: SIM115 - closed with the process at teardown
    c.procs.append(subprocess.Popen(c.in_ns(c.head_ns, str(moto), "-H", HEAD_IP, "-p", str(S3_PORT)),
                                    env=head_env, stdout=log, stderr=subprocess.STDOUT))
    make_bucket = (
        "import boto3,sys\n"
        f"c=boto3.client('s3',endpoint_url='http://{HEAD_IP}:{S3_PORT}',region_name='us-east-1')\n"
        f"c.create_bucket(Bucket='{BUCKET}')\n"
    )
    _wait_for("moto S3 server", c.in_ns(c.head_ns, py, "-c", make_bucket), head_env, 60)
    # -- Ray head (no video_node resource) and Ray worker node (video_node: 1)
    ray = str(Path(py).parent / "ray")
    _run(c.in_ns(c.head_ns, ray, "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={RAY_PORT}",
                 "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                 f"--temp-dir={c.head_dir / 'ray'}"), env=head_env, timeout=120)
    # The worker node gets a private mount namespace in which the head's data dir (jobs, campaign
    # folders, Ray session) is an empty tmpfs: the worker node shares no data directory with it.
    hidden = c.head_dir
    script = (
        "set -e\n"
        f"mount -t tmpfs -o size=64m,mode=0700 maydo-hidden {hidden}\n"
        f"ls -A {hidden} > {c.worker_dir / 'sees-head-dir.txt'}\n"
        f"exec {ray} start --address={HEAD_IP}:{RAY_PORT} --node-ip-address={WORKER_IP} --num-cpus=2 --num-gpus=0 "
        f"--resources='{{\"video_node\": 1}}' --disable-usage-stats\n"
    )
    _run(c.in_ns(c.worker_ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script),
         env=worker_env, timeout=120)
    check_nodes = (
        "import ray,sys,time\n"
        f"ray.init(address='{HEAD_IP}:{RAY_PORT}',log_to_driver=False)\n"
        "n=[x for x in ray.nodes() if x['Alive']]\n"
        "sys.exit(0 if len(n)==2 and any(x['Resources'].get('video_node') for x in n) else 1)\n"
    )
    _wait_for("a 2-node Ray cluster", c.in_ns(c.head_ns, py, "-c", check_nodes), head_env, 90)


def _write_campaign(c: Cluster) -> tuple[Path, Path, str]:
    demo = REPO / "assets" / "demo"
    with open(demo / "audience.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) - 1 >= N_ADS, "the demo audience has fewer rows than the test needs"
    audience = c.head_dir / "audience.csv"
    with open(audience, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows[: N_ADS + 1])
    campaign_id = f"mn-{c.tag}"
    spec = {
        "campaign_id": campaign_id,
        "name": "multi-node test",
        "catalogue": str(demo / "catalogue.yaml"),
        "audience": str(audience),
        "copy": str(demo / "copy.yaml"),
        "template": "product_promo",
        "formats": ["9:16"],
        "recolor_engine": "exact",
        "voice_engine": "espeak",
        "commercial": False,
        "tenant": "demo",
        "size": "tiny",
        "offer_end": "2026-02-28",
    }
    spec_path = c.head_dir / "campaign.yaml"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    config = {
        "jobs": {"database_url": f"postgresql://maydo@{HEAD_IP}:{PG_PORT}/postgres"},
        "storage": {"backend": "s3", "s3": {"bucket": BUCKET, "endpoint_url": f"http://{HEAD_IP}:{S3_PORT}",
                                            "addressing_style": "path", "region": "us-east-1"}},
        "ray": {"address": f"{HEAD_IP}:{RAY_PORT}"},
        "pools": {
            # the video pool only fits on a node offering the video_node resource: the worker node
            "video": {"num_cpus": 1, "size": 2, "resources": {"video_node": 0.5}},
            "recolor": {"num_cpus": 0.5},
            "voice": {"num_cpus": 0.5},
        },
    }
    config_path = c.head_dir / "maydo.yaml"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return spec_path, config_path, campaign_id


_INSPECT = r"""
import json, sys
from workers.settings import load_settings
from workers.jobs.store import open_job_store
from workers.storage import open_store
s = load_settings()
store = open_job_store(s)
assets = open_store(s)
ids = set(assets.iter_ids())
out = []
for rec in store.list_jobs(limit=1000):
    out.append({"id": rec.id, "kind": str(rec.kind),
                "status": rec.status.value, "outputs": rec.outputs,
                "workers": [a.worker for a in store.attempts(rec.id)],
                "in_bucket": {k: v in ids for k, v in rec.outputs.items()}})
print(json.dumps({"jobs": out, "objects": len(ids)}))
"""


_LOOK = r"""
import json, os, sys, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
head_dir, worker_ip = sys.argv[1], sys.argv[2]

@ray.remote(num_cpus=0)
def look(path):
    return {"node_ip": ray.util.get_node_ip_address(), "listing": sorted(os.listdir(path)) if os.path.isdir(path) else None,
            "data_dir": os.environ.get("MAYDO_DATA_DIR")}

nodes = {n["NodeManagerAddress"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
out = {ip: ray.get(look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(head_dir),
                   timeout=60) for ip, node in nodes.items()}
print(json.dumps(out))
"""


def test_campaign_on_two_ray_nodes_pg_s3(cluster: Cluster) -> None:
    c = cluster
    t0 = time.monotonic()
    _start_services(c)
    t_up = time.monotonic() - t0
    spec_path, config_path, campaign_id = _write_campaign(c)
    env = {**c.env(c.head_dir), "MAYDO_CONFIG": str(config_path), "RAY_ADDRESS": f"{HEAD_IP}:{RAY_PORT}"}
    t1 = time.monotonic()
    run = subprocess.run(
        c.in_ns(c.head_ns, sys.executable, "-m", "workers.cli", "campaign", "run", str(spec_path), "--no-progress",
                "--json"),
        capture_output=True, text=True, timeout=420, env=env, check=False, cwd=str(c.head_dir),
    )
    t_run = time.monotonic() - t1
    state_file = c.head_dir / "campaigns" / campaign_id / "state.json"
    failed = []
    if state_file.is_file():
        failed = [(k, r.get("status"), r.get("error")) for k, r in json.loads(state_file.read_text())["results"].items()
                  if r.get("status") != "done"]
    assert run.returncode == 0, f"campaign run failed ({run.returncode}): {failed} {run.stderr[-3000:]}"
    result = json.loads(run.stdout[run.stdout.index("{"):])
    # -- every ad rendered
    assert result["counts"] == {"done": N_ADS}, result
    # -- job records (PostgreSQL, read from the head namespace) and bucket objects (S3)
    insp = subprocess.run(c.in_ns(c.head_ns, sys.executable, "-c", _INSPECT), capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert insp.returncode == 0, insp.stderr[-3000:]
    data = json.loads(insp.stdout)
    jobs = data["jobs"]
    renders = [j for j in jobs if j["kind"] == "render_ad"]
    assert len(renders) == N_ADS and all(j["status"] == "succeeded" for j in renders), renders
    for j in renders:
        # every attempt of every ad ran on the worker node's video actor ...
        assert j["workers"] and all(w and w.startswith(f"video@{WORKER_IP}:") for w in j["workers"]), j["workers"]
        # ... and its outputs (video, poster, captions) are objects in the bucket
        assert j["outputs"] and all(j["in_bucket"].values()), j
    others = [j for j in jobs if j["kind"] != "render_ad"]
    assert all(j["status"] == "succeeded" for j in others), others
    # -- no shared data dir: a Ray task on each node lists the head's data dir; on the worker node
    #    it is empty (the campaign folder, configs and Ray session of the head are not there)
    look = subprocess.run(c.in_ns(c.head_ns, sys.executable, "-c", _LOOK, str(c.head_dir), WORKER_IP),
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert look.returncode == 0, look.stderr[-3000:]
    views = json.loads(look.stdout.strip().splitlines()[-1])
    assert set(views) == {HEAD_IP, WORKER_IP}, views
    # (the worker node's own Ray session, under the same temp-dir path, lives on its private tmpfs)
    assert set(views[WORKER_IP]["listing"]) <= {"ray"} and views[WORKER_IP]["data_dir"] == str(c.worker_dir), views
    assert "campaigns" in views[HEAD_IP]["listing"] and views[HEAD_IP]["data_dir"] == str(c.head_dir), views
    assert (c.worker_dir / "sees-head-dir.txt").read_text().strip() == ""
    # -- Ray token auth is on: a driver with another token is refused
    t_bad = time.monotonic()
    bad = subprocess.run(c.in_ns(c.head_ns, sys.executable, "-c", "import os,ray; ray.init(address=os.environ['RAY_ADDRESS'])"),
                         capture_output=True, text=True, timeout=90, env={**env, "RAY_AUTH_TOKEN": "0" * 64}, check=False)
    assert bad.returncode != 0, bad.stdout[-2000:]
    assert "InvalidAuthToken" in bad.stderr or "AuthenticationError" in bad.stderr, bad.stderr[-2000:]
    said = [ln for ln in bad.stderr.splitlines() if any(w in ln.lower() for w in ("auth", "token"))]
    print(f"\nwrong-token driver refused in {time.monotonic() - t_bad:.1f} s:", (said or bad.stderr.splitlines() or ["?"])[-1][:300])
    worker_cache = c.worker_dir / "cache" / "assets"
    assert worker_cache.is_dir() and any(p.is_file() for p in worker_cache.rglob("*")), \
        "the worker node's actors did not read inputs through their own node's cache"
    assert not (c.head_dir / "assets").exists(), "a local asset store was used on the head"
    assert not list(c.base.rglob("jobs.sqlite3")), "a SQLite job store was used instead of PostgreSQL"
    # the ad files the runner exported on the head come from the bucket, byte for byte in size
    out_dir = c.head_dir / "campaigns"
    videos = list(out_dir.rglob("*.mp4"))
    assert len(videos) >= N_ADS, videos
    print(f"\nmulti-node: cluster up {t_up:.1f} s, campaign of {N_ADS} ads {t_run:.1f} s, "
          f"{data['objects']} objects in the bucket, {len(jobs)} jobs")
