"""Local-filesystem content-addressed store.

Layout: ``<root>/<id[:2]>/<id>`` holds the bytes, ``<id>.json`` next to it the metadata.
Writes go to a temp file in the same directory, are fsynced, then ``os.replace``d into place, so
a crash never leaves a partial asset under its final name; the data file is renamed before the
metadata sidecar, and an asset exists only once its sidecar does.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from workers.housekeeping import upload_prefix
from workers.storage.base import (
    AssetNotFound,
    AssetRef,
    PutData,
    check_asset_id,
    check_media_type,
    copy_hashing,
)


class LocalAssetStore:
    """Content-addressed asset store on a local directory (safe for concurrent writers)."""

    backend = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _data_path(self, asset_id: str) -> Path:
        check_asset_id(asset_id)
        return self.root / asset_id[:2] / asset_id

    def _meta_path(self, asset_id: str) -> Path:
        return self._data_path(asset_id).with_suffix(".json")

    def put(self, data: PutData, media_type: str, *, filename: str | None = None) -> AssetRef:
        check_media_type(media_type)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=upload_prefix("put"), dir=self.root)  # swept if we die
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    digest.update(data)
                    out.write(data)
                    size = len(data)
                elif isinstance(data, str | Path):
                    with open(data, "rb") as src:
                        size = copy_hashing(src, out, digest)
                else:
                    size = copy_hashing(data, out, digest)
                out.flush()
                os.fsync(out.fileno())
            asset_id = digest.hexdigest()
            if self.exists(asset_id):
                return self.get(asset_id)
            final = self._data_path(asset_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            ref = AssetRef(id=asset_id, size=size, media_type=media_type, created=time.time(), filename=filename)
            self._write_meta(ref)
            return self.get(asset_id)  # a concurrent writer may have won the metadata race: read back
        finally:
            if tmp.exists():
                tmp.unlink()

    def _write_meta(self, ref: AssetRef) -> None:
        meta = self._meta_path(ref.id)
        fd, tmp_name = tempfile.mkstemp(prefix=upload_prefix("meta"), dir=meta.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(ref.to_dict(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            # os.link creates the name only if it does not exist yet: of two racing puts, exactly
            # one writes the metadata (its creation time wins) and the other keeps it.
            with contextlib.suppress(FileExistsError):
                os.link(tmp_name, meta)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def get(self, asset_id: str) -> AssetRef:
        meta = self._meta_path(asset_id)
        try:
            raw = json.loads(meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AssetNotFound(asset_id) from None
        if not self._data_path(asset_id).is_file():
            raise AssetNotFound(asset_id)
        return AssetRef(**raw)

    def open(self, asset_id: str) -> IO[bytes]:
        self.get(asset_id)
        return open(self._data_path(asset_id), "rb")

    def open_range(self, asset_id: str, start: int, end: int) -> IO[bytes]:
        size = self.get(asset_id).size
        fh = open(self._data_path(asset_id), "rb")  # noqa: SIM115  (the caller closes the view)
        start = max(0, min(start, size))
        fh.seek(start)
        return cast(IO[bytes], io.BufferedReader(_Bounded(fh, max(0, min(end, size) - start))))

    def path(self, asset_id: str) -> Path:
        """The asset's file in this store (local backend only; portable code uses ``local_copy``)."""
        self.get(asset_id)
        return self._data_path(asset_id)

    @contextlib.contextmanager
    def local_copy(self, asset_id: str) -> Iterator[Path]:
        """The store's own file (no copy: assets are write-once). Do not modify it."""
        yield self.path(asset_id)

    def direct_path(self, asset_id: str) -> Path | None:
        return self.path(asset_id)

    def presigned_url(
        self, asset_id: str, ttl_s: int, *, filename: str | None = None, disposition: str = "attachment"
    ) -> str | None:
        return None  # a directory serves nobody: the API serves (and HMAC-signs) local assets

    def iter_ids(self) -> Iterator[str]:
        for meta in self.root.glob("??/*.json"):
            if check_id_quiet(meta.stem) and meta.with_suffix("").is_file():
                yield meta.stem

    def healthy(self) -> bool | str:
        if not self.root.is_dir():
            return f"asset directory {self.root} is missing"
        if not os.access(self.root, os.W_OK):
            return f"asset directory {self.root} is not writable"
        return True

    def exists(self, asset_id: str) -> bool:
        try:
            self.get(asset_id)
        except AssetNotFound:
            return False
        return True

    def delete(self, asset_id: str) -> bool:
        """Delete metadata first (the asset stops existing), then the bytes."""
        if not check_id_quiet(asset_id):
            return False
        existed = False
        for p in (self._meta_path(asset_id), self._data_path(asset_id)):
            try:
                p.unlink()
                existed = True
            except FileNotFoundError:
                pass
        return existed

    def export(self, asset_id: str, dest: str | Path) -> Path:
        """Copy an asset to ``dest`` atomically (for human-facing output folders)."""
        from pipelines._common.files import atomic_path

        with atomic_path(dest) as tmp:
            shutil.copyfile(self.path(asset_id), tmp)
        return Path(dest)


def check_id_quiet(name: str) -> bool:
    try:
        check_asset_id(name)
    except AssetNotFound:
        return False
    return True


class _Bounded(io.RawIOBase):
    """A read-only view of the next ``remaining`` bytes of a file (``open_range``)."""

    def __init__(self, fh: IO[bytes], remaining: int) -> None:
        self._fh = fh
        self._remaining = remaining

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._remaining <= 0:
            return 0
        view = memoryview(buf)[: self._remaining]
        n = self._fh.readinto(view)  # type: ignore[attr-defined]
        n = n or 0
        self._remaining -= n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()
