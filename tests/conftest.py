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
for _k in [k for k in os.environ if k.startswith("MAYDO_")]:
    del os.environ[_k]

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
