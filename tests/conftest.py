"""Test-wide setup: single-threaded maths, no hub, local Ray without auth, one Ray per session."""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Only the test suite turns Ray's token auth off (its Ray binds loopback only, below); maydo's own
# embedded Ray always runs with a token (workers/raynet.py).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep 127.0.0.1 as the node address
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.pop("RAY_ADDRESS", None)
# read before the MAYDO_* scrub below: lets a dev box without PostgreSQL skip the postgres params
_ALLOW_NO_PG = os.environ.get("MAYDO_ALLOW_NO_PG") == "1" and os.environ.get("CI", "").lower() not in ("1", "true")
for _k in [k for k in os.environ if k.startswith("MAYDO_")]:
    del os.environ[_k]
# S3 tests talk to a loopback moto server: dummy credentials, set before any Ray worker starts
# (workers inherit them), and never a developer's real AWS profile.
for _k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_k, None)
os.environ["AWS_ACCESS_KEY_ID"] = "maydo-test"
os.environ["AWS_SECRET_ACCESS_KEY"] = "maydo-test-secret"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

import glob  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

try:  # torch's threads thrash on 2 cores
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is part of the dev install
    pass


@pytest.fixture(scope="session")
def ray_session() -> Iterator[object]:
    """One local Ray for the whole session, with a logical GPU so GPU pools schedule on CPU."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings pointing every path into a fresh temp data dir."""
    from workers.settings import load_settings

    return load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})


# -- PostgreSQL: one throwaway cluster per session, one fresh database per test ---------------------


def pg_bindir() -> Path | None:
    """Directory of PostgreSQL's initdb/pg_ctl (Debian keeps them off PATH), newest version first."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]), reverse=True):
        return Path(cand).parent
    return None


class PgCluster:
    """A PostgreSQL cluster in a temp dir on a free loopback port (initdb + pg_ctl; as root, run as
    the ``postgres`` user because initdb refuses root). ``url(db)`` gives a psycopg URL."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="maydo-pg-"))
        self.data = self.base / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.base, user="postgres", group="postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> None:
        res = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "maydo", "-E", "UTF8", "--no-sync")
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {res.stderr.strip() or res.stdout.strip()}")
        opts = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=300"
        )
        res = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60",
                        "-o", opts, "start")
        if res.returncode != 0:
            log = (self.base / "server.log").read_text(errors="replace") if (self.base / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()} {log[-2000:]}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://maydo@127.0.0.1:{self.port}/{db}"

    def create_db(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_db(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _no_pg(reason: str) -> None:
    if _ALLOW_NO_PG:
        pytest.skip(f"PostgreSQL tests skipped (MAYDO_ALLOW_NO_PG=1): {reason}")
    pytest.fail(
        f"PostgreSQL tests cannot run: {reason}. Install Debian postgresql-15 and psycopg "
        "(make test does both as root), or set MAYDO_ALLOW_NO_PG=1 to skip them on a dev box (never in CI)."
    )


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster for the session (fails loudly when PostgreSQL is missing)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _no_pg("psycopg is not installed (pip install 'maydo[postgres]')")
    bindir = pg_bindir()
    if bindir is None:
        _no_pg("no initdb found on PATH or under /usr/lib/postgresql/*/bin")
    assert bindir is not None
    cluster = PgCluster(bindir)
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        _no_pg(f"could not start a cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """URL of a fresh, empty database in the session cluster (dropped afterwards)."""
    name = pg_cluster.create_db()
    yield pg_cluster.url(name)
    pg_cluster.drop_db(name)


@pytest.fixture(params=["sqlite", "postgres"])
def job_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A job database URL, once per backend: SQLite in the temp dir, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


# -- S3: moto's standalone server on loopback ----------------------------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-protocol server (moto's standalone server) on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(tmp_path: Path, s3_server: str):  # type: ignore[no-untyped-def]
    """Settings with ``storage.backend: s3`` on a fresh bucket of the loopback server."""
    import uuid

    import boto3

    from workers.settings import load_settings

    bucket = f"maydo-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return load_settings(env={}, overrides={
        "data_dir": str(tmp_path / "data"),
        "storage": {"backend": "s3", "s3": {"bucket": bucket, "endpoint_url": s3_server, "prefix": "assets/"}},
    })
