"""The asset store interface, followed by the local-directory and the S3-compatible backends.

Assets are content-addressed (the id is the sha256 of the bytes) and write-once. Code outside the
store never assumes a backend: it streams with ``open``/``open_range``, stores files or streams
with ``put``, and reads a file from disk only inside ``with store.local_copy(asset_id) as path:``
(the local store yields its own file; S3 yields a verified copy from a local cache).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

ASSET_ID_RE = re.compile(r"^[0-9a-f]{64}$")

PutData = bytes | bytearray | memoryview | str | Path | IO[bytes]
"""What ``put`` accepts: bytes, a local file path, or a readable binary stream (read to its end)."""


class AssetNotFound(KeyError):
    """No asset with this id (or the id is malformed, which is treated the same: no path leaks)."""


class AssetStoreError(RuntimeError):
    """The backend failed (unreachable endpoint, missing bucket, bad credentials); names the cause."""


@dataclass(frozen=True)
class AssetRef:
    """A stored asset: ``id`` is the sha256 of its bytes."""

    id: str
    size: int
    media_type: str
    created: float  # unix seconds when first stored
    filename: str | None = None  # suggested download name; not part of identity

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_asset_id(asset_id: str) -> str:
    """Validate an asset id (64 lowercase hex chars); anything else is not found, never a path."""
    if not isinstance(asset_id, str) or not ASSET_ID_RE.match(asset_id):
        raise AssetNotFound(asset_id)
    return asset_id


def copy_hashing(src: IO[bytes], out: IO[bytes], digest: hashlib._Hash, chunk: int = 1 << 20) -> int:
    """Copy ``src`` to ``out`` in chunks, feeding ``digest``; returns the number of bytes copied."""
    size = 0
    while block := src.read(chunk):
        digest.update(block)
        out.write(block)
        size += len(block)
    return size


def check_media_type(media_type: str) -> str:
    if not isinstance(media_type, str) or "/" not in media_type or not media_type.strip():
        raise ValueError(f"media_type must look like 'type/subtype', got {media_type!r}")
    return media_type


@runtime_checkable
class AssetStore(Protocol):
    """Content-addressed, write-once asset storage (``LocalAssetStore``, ``S3AssetStore``)."""

    backend: str  # "local" | "s3"

    def put(self, data: PutData, media_type: str, *, filename: str | None = None) -> AssetRef:
        """Store bytes, a file's bytes or a stream's bytes; same content -> same id, stored once.

        A crash or error mid-write never leaves a partial asset under its id. ``ValueError`` for a
        malformed ``media_type``.
        """
        ...

    def get(self, asset_id: str) -> AssetRef:
        """Metadata of an asset; ``AssetNotFound`` if absent."""
        ...

    def open(self, asset_id: str) -> IO[bytes]:
        """A binary stream of the whole asset (close it, or use ``with``)."""
        ...

    def open_range(self, asset_id: str, start: int, end: int) -> IO[bytes]:
        """A binary stream of bytes ``[start, end)`` (end exclusive, clipped to the size)."""
        ...

    def local_copy(self, asset_id: str) -> AbstractContextManager[Path]:
        """``with store.local_copy(id) as path``: a local, read-only file with the asset's bytes,
        valid inside the block (the local store's own file; S3: a verified cache copy)."""
        ...

    def path(self, asset_id: str) -> Path:
        """A local file with the asset's bytes (local: the store's file; S3: the verified cache
        copy, kept at least 10 minutes after its last use). Prefer ``local_copy`` in new code."""
        ...

    def direct_path(self, asset_id: str) -> Path | None:
        """The asset's own local file when the backend keeps one (zero-copy serving), else None."""
        ...

    def presigned_url(
        self, asset_id: str, ttl_s: int, *, filename: str | None = None, disposition: str = "attachment"
    ) -> str | None:
        """A URL the backend itself serves without credentials for ``ttl_s`` seconds (S3), or None
        when the backend cannot serve clients directly (local: the API serves and signs)."""
        ...

    def export(self, asset_id: str, dest: str | Path) -> Path:
        """Copy an asset to ``dest`` atomically (human-facing output folders)."""
        ...

    def exists(self, asset_id: str) -> bool: ...

    def delete(self, asset_id: str) -> bool:
        """Remove the asset; returns False if it did not exist."""
        ...

    def iter_ids(self) -> Iterator[str]:
        """Every stored asset id (for garbage collection)."""
        ...

    def healthy(self) -> bool | str:
        """True when the store is reachable and writable-looking, else a short reason."""
        ...


def content_disposition(name: str, kind: str = "attachment") -> str:
    """RFC 6266 ``Content-Disposition``: an ASCII ``filename`` fallback (quotes, backslashes, ``;``,
    ``?``, ``%`` and non-ASCII replaced) and the exact UTF-8 name as RFC 5987 ``filename*``;
    control characters and path components removed (a header value can never be split)."""
    from urllib.parse import quote

    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip() or "download"
    ascii_name = name.encode("ascii", "replace").decode()
    for ch in '"\\;?%':
        ascii_name = ascii_name.replace(ch, "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
