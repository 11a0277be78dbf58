"""Outgoing webhooks: SSRF-checked targets, signed JSON bodies, retries with backoff, a delivery log.

A target is accepted only when it is ``http``/``https`` and every address its host resolves to is
globally routable (no loopback, private, link-local — which covers cloud metadata 169.254.169.254 —
CGNAT, multicast, reserved or unspecified), unless ``api.webhooks.allow_private_targets`` is set.
The check runs at submit time and again before each attempt, and the request goes to the address
that was checked (Host header and TLS SNI keep the name), so DNS rebinding cannot redirect it.
Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from workers.api.signing import sign_webhook
from workers.api.store import ApiStore
from workers.settings import WebhookSettings

SIGNATURE_HEADER = "X-Maydo-Signature"
TIMESTAMP_HEADER = "X-Maydo-Timestamp"
EVENT_HEADER = "X-Maydo-Event"
DELIVERY_HEADER = "X-Maydo-Delivery"  # one id per event, stable across retries


class WebhookTargetError(ValueError):
    """The webhook URL is not an allowed target; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str  # as given
    connect_url: str  # host replaced by the checked IP address
    host_header: str
    sni_host: str | None


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_target(url: str, *, allow_private: bool) -> Target:
    """Validate a webhook URL and pin it to a checked address; raises ``WebhookTargetError``."""
    if not isinstance(url, str) or len(url) > 2048:
        raise WebhookTargetError("webhook URL must be a string of at most 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookTargetError(f"webhook URL is malformed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookTargetError(f"webhook URL scheme {parts.scheme!r} not allowed; allowed: http, https")
    host = parts.hostname
    if not host:
        raise WebhookTargetError("webhook URL has no host")
    if parts.username or parts.password:
        raise WebhookTargetError("webhook URL must not carry credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookTargetError(f"webhook host {host!r} does not resolve: {exc}") from None
    addrs = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]
        addrs.append(ipaddress.ip_address(raw))
    if not addrs:
        raise WebhookTargetError(f"webhook host {host!r} does not resolve")
    if not allow_private:
        bad = [str(a) for a in addrs if not _is_public(a)]
        if bad:
            raise WebhookTargetError(
                f"webhook host {host!r} resolves to a private, loopback, link-local or reserved address "
                f"({', '.join(sorted(set(bad)))}); only public targets are allowed"
            )
    ip = addrs[0]
    ip_text = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{ip_text}:{port}"
    connect_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    default_port = (parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)
    host_header = host if default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if default_port else f"[{host}]:{port}"
    return Target(url=url, connect_url=connect_url, host_header=host_header,
                  sni_host=host if parts.scheme == "https" else None)


class WebhookSender:
    """Delivers one event with retries (exponential backoff) and logs every attempt."""

    def __init__(self, settings: WebhookSettings, store: ApiStore) -> None:
        self.settings = settings
        self.store = store
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s), follow_redirects=False, trust_env=False
        )

    def close(self) -> None:
        self.client.close()

    def deliver(self, object_id: str, url: str, event: str, payload: dict[str, Any], secret: bytes,
                sleep: Any = time.sleep) -> bool:
        """POST ``payload`` to ``url`` (signed with ``secret``) until a 2xx or ``max_attempts``."""
        # One delivery id per event, the same on every retry: receivers dedupe on it.
        delivery_id = str(payload.get("delivery_id") or uuid.uuid4().hex)
        body = json.dumps({"event": event, "delivery_id": delivery_id, **payload}, separators=(",", ":"),
                          default=str).encode()
        delay = self.settings.backoff_s
        for attempt in range(1, self.settings.max_attempts + 1):
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            ok = False
            try:
                target = check_target(url, allow_private=self.settings.allow_private_targets)
                ts = str(int(time.time()))
                headers = {
                    "Content-Type": "application/json",
                    "Host": target.host_header,
                    "User-Agent": "maydo-webhooks/1",
                    TIMESTAMP_HEADER: ts,
                    SIGNATURE_HEADER: sign_webhook(secret, ts, body),
                    EVENT_HEADER: event,
                    DELIVERY_HEADER: delivery_id,
                }
                ext = {"sni_hostname": target.sni_host} if target.sni_host else None
                resp = self.client.post(target.connect_url, content=body, headers=headers, extensions=ext)
                status = resp.status_code
                ok = 200 <= status < 300
                if not ok:
                    error = f"HTTP {status}"
            except WebhookTargetError as exc:
                error = str(exc)
                self.store.log_delivery(object_id, event, url, attempt, None, False, error,
                                        (time.monotonic() - started) * 1000)
                return False  # refused targets are never retried
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.store.log_delivery(object_id, event, url, attempt, status, ok, error,
                                    (time.monotonic() - started) * 1000)
            if ok:
                return True
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                return False  # the receiver rejected the body: retrying will not help
            if attempt < self.settings.max_attempts:
                sleep(min(delay, self.settings.backoff_max_s))
                delay *= 2
        return False
