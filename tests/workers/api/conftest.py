"""API fixtures: a real uvicorn on 127.0.0.1 (random free port, in a thread) over a fresh data dir,
keys for two tenants and every role, and a real dispatcher (session Ray) for tests that run jobs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from workers.api import create_app
from workers.api.context import ApiContext
from workers.api.server import uvicorn_config
from workers.runtime import Runtime
from workers.settings import Settings, load_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    ctx: ApiContext
    runtime: Runtime
    settings: Settings
    keys: dict[str, str]  # "acme-creator", "acme-platform", "globex-creator", "admin"

    def client(self, who: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"X-API-Key": self.keys[who]} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False, **kw)


def serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    # What `maydo serve` runs: httptools + uvloop when importable, zero-copy asset bodies.
    config = uvicorn_config(app, "127.0.0.1", port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread


def api_settings(data_dir: Path, **api: Any) -> Settings:
    return load_settings(env={}, overrides={
        "data_dir": str(data_dir),
        "limits": {"max_upload_bytes": 2 * 1024 * 1024},
        "dispatcher": {"test_kinds": True, "lease_s": 2.0, "poll_s": 0.02, "cancel_grace_s": 0.5},
        "pools": {"noop": {"enabled": True, "size": 1, "max_in_flight": 4, "backoff_s": 0.05,
                           "backoff_max_s": 0.2}},
        "api": {"rate_limit_per_minute": 100_000,
                "webhooks": {"timeout_s": 2.0, "max_attempts": 4, "backoff_s": 0.1, "backoff_max_s": 0.5},
                **api},
    })


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = api_settings(tmp_path_factory.mktemp("api") / "data")
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    ctx = app.state.ctx
    keys = {
        "acme-creator": ctx.store.create_key("acme", "creator").key,
        "acme-platform": ctx.store.create_key("acme", "platform").key,
        "globex-creator": ctx.store.create_key("globex", "creator").key,
        "admin": ctx.store.create_key("ops", "admin").key,
    }
    uv, thread = serve(app, free_port())
    yield Server(f"http://127.0.0.1:{uv.config.port}", ctx, runtime, settings, keys)
    uv.should_exit = True
    thread.join(timeout=10)
    runtime.close()


@pytest.fixture(scope="session")
def dispatcher(server: Server, ray_session: Any) -> Iterator[Runtime]:
    """The server's runtime with its dispatcher running the noop pool on the session Ray."""
    server.runtime.start(pools=["noop"])
    yield server.runtime
    server.runtime.stop()


@pytest.fixture
def allow_private(server: Server) -> Iterator[None]:
    """Let webhooks reach the loopback receiver for one test (SSRF guard back on afterwards)."""
    hooks = server.settings.api.webhooks
    hooks.allow_private_targets = True
    yield
    hooks.allow_private_targets = False


def upload(client: httpx.Client, data: bytes, name: str = "f.bin", media_type: str = "application/octet-stream"
           ) -> dict[str, Any]:
    resp = client.post("/v1/assets", files={"file": (name, data, media_type)})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())
