"""What the API shows the outside world: absolute URLs, opaque cursors, and no server paths.

Every URL in a reply, manifest or webhook body is absolute, built from ``api.public_base_url``
(or, when that is unset, the scheme and host the request came in on). Server file paths never
leave the server: :func:`scrub` turns any absolute path inside a value into its file name and
drops keys that only carry a server location (``dir``, ``path``, ``gallery``).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from fastapi import Request

from workers.api.errors import ApiError
from workers.settings import Settings

_PATH_KEYS = frozenset({"dir", "path", "gallery", "out_dir", "folder"})
# An absolute POSIX or Windows path somewhere inside a string.
# API routes (/v1/..., /static-offline-docs/...) are not file paths and stay as they are.
_ABS_PATH_RE = re.compile(
    r"(?<![\w:/])(/(?!v1/|static-offline-docs/)(?:[^/\s'\"]+/)+([^/\s'\"]+)"
    r"|[A-Za-z]:\\(?:[^\\\s'\"]+\\)+([^\\\s'\"]+))"
)


def base_url(settings: Settings, request: Request | None = None) -> str:
    """The public origin (+ prefix) without a trailing slash; "" when unknown (no request, no setting)."""
    if settings.api.public_base_url:
        return settings.api.public_base_url.rstrip("/")
    if request is not None:
        return str(request.base_url).rstrip("/")
    return ""


def scrub_text(text: str) -> str:
    """``text`` with every absolute file path replaced by its last component."""
    return _ABS_PATH_RE.sub(lambda m: m.group(2) or m.group(3) or "", text)


def scrub(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with server paths removed: keys that name a location on the
    server are dropped, absolute paths inside strings become bare file names."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not (k in _PATH_KEYS and isinstance(v, str | None))}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return scrub_text(value)
    return value


def encode_cursor(*parts: Any) -> str:
    """An opaque pagination cursor for the given key values."""
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The key values of a cursor from :func:`encode_cursor`; 422 naming ``cursor`` when it is not one."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(types):
            raise ValueError
        return tuple(t(p) if not isinstance(p, t) else p for t, p in zip(types, parts, strict=True))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ApiError(422, "cursor is not one this API returned; pass next_cursor from the previous page unchanged",
                       field="cursor") from None
