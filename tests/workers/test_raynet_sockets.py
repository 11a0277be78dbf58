"""`maydo serve --host 127.0.0.1` as a user runs it: the API and its embedded Ray (GCS, raylet,
object manager, dashboard agent, workers, actors) listen on loopback only, with Ray token auth."""

from __future__ import annotations

import io
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image, ImageDraw

from tests.workers.api.conftest import free_port
from workers.api.store import ApiStore

ROOT = Path(__file__).resolve().parents[2]


def _listening(root: psutil.Process) -> list[tuple[str, int, str]]:
    procs = [root, *root.children(recursive=True)]
    pids = {p.pid: p for p in procs}
    out = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            try:
                name = pids[conn.pid].name()
            except psutil.Error:
                name = "?"
            out.append((conn.laddr.ip, conn.laddr.port, name))
    return out


def _is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


@pytest.mark.timeout(300)
def test_serve_and_embedded_ray_listen_on_loopback_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = ApiStore(data / "api.sqlite3").create_key("acme", "creator").key
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MAYDO_"))}
    env.update(PYTHONPATH=str(ROOT), MAYDO_DATA_DIR=str(data), RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1",
               MAYDO_RAY__NUM_CPUS="1")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--pools", "recolor"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10, trust_env=False) as c:
            while True:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                try:
                    if (c.get("/v1/healthz").json().get("dispatcher") or {}).get("alive"):
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "maydo serve did not come up"
                time.sleep(0.5)
            # A real job through the token-authenticated Ray: the recolor actor runs it.
            buf = io.BytesIO()
            img = Image.new("RGB", (64, 64), (245, 245, 245))
            ImageDraw.Draw(img).ellipse((16, 16, 48, 48), fill=(200, 40, 40))  # a product on a backdrop
            img.save(buf, format="PNG")
            up = c.post("/v1/assets", files={"file": ("red.png", buf.getvalue(), "image/png")})
            assert up.status_code == 201, up.text
            job = c.post("/v1/jobs", json={"kind": "recolor", "inputs": {"image": up.json()["id"]},
                                           "params": {"to_colors": ["#1f3a93"]}})
            assert job.status_code == 201, job.text
            while (rec := c.get(f"/v1/jobs/{job.json()['id']}").json())["status"] not in (
                    "succeeded", "failed", "canceled"):
                assert time.monotonic() < deadline, rec
                time.sleep(0.3)
            assert rec["status"] == "succeeded", rec["error"]
            sockets = _listening(psutil.Process(proc.pid))
        names = {name for _, _, name in sockets}
        # The API itself, Ray's GCS and raylet, and the actor that ran the job all listen somewhere...
        assert any(p == port for _, p, _ in sockets)
        assert {"gcs_server", "raylet"} <= names, sockets
        assert any(n.startswith("ray::") for n in names), sockets
        # ...and every one of them on loopback only.
        exposed = [s for s in sockets if not _is_loopback(s[0])]
        assert exposed == [], exposed
        # Token auth is on: maydo wrote its own 256-bit token (0600) into the data dir.
        token = data / "ray-auth-token"
        assert token.is_file() and len(token.read_text().strip()) == 64
        assert token.stat().st_mode & 0o077 == 0
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
