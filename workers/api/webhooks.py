"""Outgoing webhooks: SSRF-checked targets, signed JSON bodies, retries with backoff, a delivery log.

A target is accepted only when it is ``http``/``https`` and every address its host resolves to is
globally routable (no loopback, private, link-local — which covers cloud metadata 169.254.169.254 —
CGNAT, multicast, reserved or unspecified), unless ``api.webhooks.allow_private_targets`` is set.
The check runs at submit time and again before each attempt, and the request goes to the address
that was checked (Host header and TLS SNI keep the name), so DNS rebinding cannot redirect it.
Redirects are not followed.

Delivery is durable (see ``workers.api.notifier``): events wait in the job store's outbox until a
2xx, retried with backoff (``next_retry``) across restarts; each carries a delivery id.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from workers.api.signing import sign_webhook
from workers.settings import WebhookSettings

SIGNATURE_HEADER = "X-Maydo-Signature"
TIMESTAMP_HEADER = "X-Maydo-Timestamp"
EVENT_HEADER = "X-Maydo-Event"
DELIVERY_HEADER = "X-Maydo-Delivery"  # stable across retries of one event: receivers dedupe on it


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


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None
    retryable: bool  # False: a refused target or a 4xx other than 408/429 (retrying cannot help)
    duration_ms: float


def next_retry(attempt: int, settings: WebhookSettings, now: float | None = None) -> float | None:
    """When to try again after failed attempt number ``attempt`` (1-based): ``backoff_s`` doubling
    per attempt, capped at ``backoff_max_s``, plus up to 10 % jitter; None once ``max_attempts`` are
    spent. Defaults spread 20 attempts over about five hours."""
    if attempt >= settings.max_attempts:
        return None
    delay = min(settings.backoff_s * (2 ** (attempt - 1)), settings.backoff_max_s)
    return (time.time() if now is None else now) + delay * (1.0 + random.uniform(0.0, 0.1))


class WebhookSender:
    """Sends one attempt of an outbox event: SSRF-checked, signed, no redirects."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s), follow_redirects=False, trust_env=False
        )

    def close(self) -> None:
        self.client.close()

    def attempt(self, url: str, event: str, body: bytes, secret: bytes, delivery_id: str) -> AttemptResult:
        """POST ``body`` (signed with ``secret``) once; the outcome says whether to retry."""
        started = time.monotonic()

        def result(ok: bool, status: int | None, error: str | None, retryable: bool) -> AttemptResult:
            return AttemptResult(ok, status, error, retryable, (time.monotonic() - started) * 1000)

        try:
            target = check_target(url, allow_private=self.settings.allow_private_targets)
        except WebhookTargetError as exc:
            return result(False, None, str(exc), False)  # refused targets are never retried
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
        try:
            resp = self.client.post(target.connect_url, content=body, headers=headers, extensions=ext)
        except httpx.HTTPError as exc:
            return result(False, None, f"{type(exc).__name__}: {exc}", True)
        status = resp.status_code
        if 200 <= status < 300:
            return result(True, status, None, False)
        retryable = not (400 <= status < 500) or status in (408, 429)
        return result(False, status, f"HTTP {status}", retryable)


def webhook_view(store: Any, object_id: str) -> dict[str, Any] | None:
    """The subscription and delivery log of a job or campaign (None without a webhook): ``events``
    (delivery id, status pending/delivered/failed, attempts, next try) and every attempt."""
    hook = store.webhook(object_id)
    if hook is None:
        return None
    return {"url": hook["url"], **store.webhook_log(object_id)}
