"""The asset store interface: small enough for an S3-compatible backend to follow."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Protocol

ASSET_ID_RE = re.compile(r"^[0-9a-f]{64}$")


class AssetNotFound(KeyError):
    """No asset with this id (or the id is malformed, which is treated the same: no path leaks)."""


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


class AssetStore(Protocol):
    """Content-addressed, write-once asset storage."""

    def put(self, data: bytes | str | Path, media_type: str, *, filename: str | None = None) -> AssetRef:
        """Store bytes (or a file's bytes); same content -> same id, stored once."""
        ...

    def get(self, asset_id: str) -> AssetRef:
        """Metadata of an asset; ``AssetNotFound`` if absent."""
        ...

    def open(self, asset_id: str) -> IO[bytes]:
        """Open the asset for reading (binary)."""
        ...

    def path(self, asset_id: str) -> Path:
        """Local filesystem path of the asset (local backend; others may download to cache)."""
        ...

    def exists(self, asset_id: str) -> bool: ...

    def delete(self, asset_id: str) -> bool:
        """Remove the asset; returns False if it did not exist."""
        ...
