"""Serving stored assets: strong ETags (the content hash), single ``Range`` requests, dispositions."""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from workers.api.server import ZEROCOPY
from workers.storage import AssetRef, AssetStore
from workers.storage.base import content_disposition  # noqa: F401  (re-exported for the routes)

STREAM_CHUNK = 1 << 20  # relayed from a remote backend
CHUNK = 4 << 20  # large reads: fewer thread hops and ASGI messages per byte
_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` for one satisfiable byte range; None = serve the whole file.

    Malformed or multi-range headers are ignored (RFC 9110 allows that); a well-formed range that
    starts past the end raises ``RangeNotSatisfiable``.
    """
    if not header:
        return None
    m = _RANGE_RE.match(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable()
        return max(0, size - n), size
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid range spec: ignore
    if start >= size:
        raise RangeNotSatisfiable()
    return start, end + 1


def etag_of(asset_id: str) -> str:
    return f'"{asset_id}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MEDIA_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
# Shown inline when asked (disposition=inline): media and captions. Everything else downloads.
_INLINE_PREFIXES = ("image/", "audio/", "video/")
_INLINE_TYPES = {"text/vtt", "application/x-subrip", "text/srt"}
# Types a browser would execute or render as a document: never served under their own type.
_ACTIVE_TYPES = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                 "text/javascript", "application/javascript", "application/x-javascript", "text/css",
                 "application/pdf", "text/xsl"}
# Served files are data, never a page: no scripts, no plugins, no same-origin, no framing.
ASSET_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def clean_filename(name: str | None) -> str | None:
    """A file name safe for headers and disks: last path component, no control characters,
    at most 200 characters; None when nothing is left."""
    if not name:
        return None
    base = _CONTROL_RE.sub("", str(name)).replace("\\", "/").rsplit("/", 1)[-1].strip().strip(".")
    return base[:200] or None


def clean_media_type(value: str | None) -> str:
    """A syntactically valid ``type/subtype`` (lower case, no parameters) or application/octet-stream."""
    mt = (value or "").split(";")[0].strip().lower()
    return mt if _MEDIA_TYPE_RE.match(mt) else "application/octet-stream"


def served_type(media_type: str) -> str:
    """The Content-Type to send: active content (HTML, SVG, XML, scripts) as application/octet-stream."""
    mt = clean_media_type(media_type)
    return "application/octet-stream" if mt in _ACTIVE_TYPES else mt


def may_inline(media_type: str) -> bool:
    """Only images, audio, video and captions may be shown inline; everything else is an attachment."""
    mt = clean_media_type(media_type)
    return mt not in _ACTIVE_TYPES and (mt.startswith(_INLINE_PREFIXES) or mt in _INLINE_TYPES)


def download_name(ref: AssetRef) -> str:
    name = clean_filename(ref.filename)
    if name:
        return name
    ext = mimetypes.guess_extension(clean_media_type(ref.media_type)) or ".bin"
    return f"{ref.id[:16]}{ext}"


class AssetFileResponse(Response):
    """Sends ``path[start:end]``: zero-copy (``os.sendfile``) when the server offers the ASGI
    ``http.response.zerocopysend`` extension (``maydo serve``, see workers/api/server.py), else
    4 MiB ``pread`` chunks read off the event loop."""

    def __init__(self, path: Path, start: int, end: int, status_code: int, headers: dict[str, str],
                 media_type: str) -> None:
        super().__init__(content=None, status_code=status_code, headers=headers, media_type=media_type)
        self.path = path
        self.start = start
        self.end = end
        self.headers["content-length"] = str(end - start)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method", "GET").upper() == "HEAD" or self.end <= self.start:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        fd = os.open(self.path, os.O_RDONLY)  # a local open: microseconds, no thread hop needed
        try:
            if ZEROCOPY in scope.get("extensions", {}):
                await send({"type": ZEROCOPY, "file": fd, "offset": self.start, "count": self.end - self.start,
                            "more_body": False})
                return
            pos = self.start
            while pos < self.end:
                n = min(CHUNK, self.end - pos)
                chunk = await anyio.to_thread.run_sync(os.pread, fd, n, pos)
                if not chunk:
                    raise RuntimeError(f"asset file {self.path} is shorter than its metadata says")
                pos += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": pos < self.end})
        finally:
            os.close(fd)


class AssetStreamResponse(Response):
    """Sends bytes ``[start, end)`` of an asset from a backend without local files (S3 proxy mode):
    one ranged GET to the bucket, relayed in 1 MiB chunks read off the event loop."""

    def __init__(self, store: AssetStore, asset_id: str, start: int, end: int, status_code: int,
                 headers: dict[str, str], media_type: str) -> None:
        super().__init__(content=None, status_code=status_code, headers=headers, media_type=media_type)
        self.store = store
        self.asset_id = asset_id
        self.start = start
        self.end = end
        self.headers["content-length"] = str(end - start)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method", "GET").upper() == "HEAD" or self.end <= self.start:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        # Open before the status line goes out: a backend failure is still a clean 5xx, not a cut body.
        body = await anyio.to_thread.run_sync(self.store.open_range, self.asset_id, self.start, self.end)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            remaining = self.end - self.start
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(body.read, min(STREAM_CHUNK, remaining))
                if not chunk:
                    raise RuntimeError(f"asset {self.asset_id} is shorter than its metadata says")
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        finally:
            await anyio.to_thread.run_sync(body.close)
