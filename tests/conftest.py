"""Test-wide setup: single-threaded maths, no hub, local Ray without auth, one Ray per session."""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.pop("RAY_ADDRESS", None)
for _k in [k for k in os.environ if k.startswith("MAYDO_")]:
    del os.environ[_k]
# S3 tests talk to a loopback moto server: dummy credentials, set before any Ray worker starts
# (workers inherit them), and never a developer's real AWS profile.
for _k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_k, None)
os.environ["AWS_ACCESS_KEY_ID"] = "maydo-test"
os.environ["AWS_SECRET_ACCESS_KEY"] = "maydo-test-secret"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

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
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings pointing every path into a fresh temp data dir."""
    from workers.settings import load_settings

    return load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})


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
