"""HMAC secrets: the server's signing secret, signed asset URLs, webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from workers.settings import Settings


def signing_secret_path(settings: Settings) -> Path:
    return settings.api.signing_secret_file or settings.data_dir / "api-signing.key"


def load_signing_secret(settings: Settings) -> bytes:
    """The server secret, created (0600, 256 random bits) on first use and reused after."""
    path = signing_secret_path(settings)
    try:
        data = path.read_bytes().strip()
        if data:
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_hex(32).encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(fresh)
    return fresh


def sign_asset(secret: bytes, asset_id: str, expires: int, tenant: str | None = None) -> str:
    """Signature that authorises reading exactly ``asset_id`` until unix time ``expires`` (as
    ``tenant`` sees it: its own filename and media type, when given)."""
    msg = f"asset:{asset_id}:{expires}" + (f":{tenant}" if tenant is not None else "")
    return hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()


def verify_asset_signature(secret: bytes, asset_id: str, expires: int, signature: str,
                           now: float | None = None, tenant: str | None = None) -> bool:
    if expires < (time.time() if now is None else now):
        return False
    # Compare bytes: compare_digest raises TypeError on non-ASCII str (a 500 for a crafted URL).
    expected = sign_asset(secret, asset_id, expires, tenant).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


def tenant_webhook_secret(secret: bytes, tenant: str) -> bytes:
    """Per-tenant webhook secret, derived from the server secret (so nothing more is stored and a
    receiver never learns the key that signs asset URLs)."""
    return hmac.new(secret, f"webhook:{tenant}".encode(), hashlib.sha256).hexdigest().encode("ascii")


def sign_webhook(secret: bytes, timestamp: str, body: bytes) -> str:
    """``X-Maydo-Signature`` value: ``sha256=`` HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify_webhook(secret: bytes, timestamp: str, body: bytes, signature: str, *,
                   tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """Receiver-side check (documented in docs/api.md): right MAC and a fresh timestamp."""
    try:
        ts = float(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign_webhook(secret, timestamp, body).encode(), signature.encode("utf-8", "replace"))
