"""How maydo starts (or joins) Ray without exposing it: loopback-only embedded Ray with token auth.

Ray left to its defaults binds the GCS, raylet, object manager, dashboard agent and every worker
to all interfaces, and anyone who reaches those ports can run code. An embedded (local) Ray
started by ``maydo serve`` / ``maydo worker`` / campaigns therefore:

- pins the node address to ``ray.node_ip_address`` (default ``127.0.0.1``): with a loopback
  address every Ray socket listens on loopback only (Ray would otherwise rewrite ``127.0.0.1`` to
  the host's routable address; ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps it on loopback);
- leaves the dashboard off unless ``ray.include_dashboard`` is set (then it binds
  ``ray.dashboard_host``, default loopback);
- runs with Ray token authentication (``RAY_AUTH_MODE=token``): unless the operator provides
  ``RAY_AUTH_TOKEN`` / ``RAY_AUTH_TOKEN_PATH``, a random 256-bit token is created once in
  ``<data_dir>/ray-auth-token`` (mode 0600). An operator's explicit ``RAY_AUTH_MODE`` is
  respected; maydo itself never sets ``disabled`` (only the test suite does).

Joining a cluster (``ray.address`` / ``RAY_ADDRESS``) changes nothing on the cluster: run it
with token auth on a private network (docs/workers.md, "Running a cluster safely").
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.settings import Settings

TOKEN_FILE = "ray-auth-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_token(data_dir: Path, env: dict[str, str] | os._Environ[str] | None = None) -> None:
    """Turn Ray token auth on in ``env`` (default ``os.environ``) with a token, unless the
    operator chose a mode or a token already. Creates ``<data_dir>/ray-auth-token`` (0600) once."""
    env = os.environ if env is None else env
    if "RAY_AUTH_MODE" not in env:
        env["RAY_AUTH_MODE"] = "token"
    if env["RAY_AUTH_MODE"].lower() != "token" or env.get("RAY_AUTH_TOKEN") or env.get("RAY_AUTH_TOKEN_PATH"):
        return
    path = Path(data_dir) / TOKEN_FILE
    if not path.is_file() or not path.read_text(encoding="ascii").strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
    env["RAY_AUTH_TOKEN_PATH"] = str(path)


def _refresh_ray_config() -> None:
    """Ray caches its config (the auth mode among it) per process: re-read the environment, as
    Ray's own ``_enable_token_auth`` does, so this driver speaks the mode its GCS will use."""
    import importlib

    try:
        raylet: Any = importlib.import_module("ray._raylet")
    except ImportError:  # pragma: no cover - ray is a core dependency
        return
    raylet.Config.initialize("")


def local_init_kwargs(settings: Settings, env: dict[str, str] | os._Environ[str] | None = None) -> dict[str, Any]:
    """``ray.init`` keyword arguments for an embedded local Ray, and the environment it needs
    (set in ``env``, default ``os.environ``, before ``ray.init``: Ray's processes inherit it)."""
    env = os.environ if env is None else env
    cfg = settings.ray
    kwargs: dict[str, Any] = {
        "_node_ip_address": cfg.node_ip_address,
        "include_dashboard": bool(cfg.include_dashboard),
    }
    if cfg.include_dashboard:
        kwargs["dashboard_host"] = cfg.dashboard_host
    if is_loopback(cfg.node_ip_address):
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        consts: Any = sys.modules.get("ray._private.ray_constants")
        if env is os.environ and consts is not None:
            # Ray read that variable when it was imported; its node-address lookup reads this
            # module attribute at call time (ray 2.60: services.get_node_ip_address).
            consts.ENABLE_RAY_CLUSTER = False
    ensure_token(settings.data_dir, env)
    if env is os.environ:
        _refresh_ray_config()
    if cfg.num_cpus is not None:
        kwargs["num_cpus"] = cfg.num_cpus
    if cfg.num_gpus is not None:
        kwargs["num_gpus"] = cfg.num_gpus
    return kwargs
