"""S3-compatible content-addressed store (AWS S3, MinIO, Cloudflare R2, Ceph RGW, moto in tests).

Layout: object ``<prefix><id[:2]>/<id>`` holds the bytes; its ``Content-Type`` is the media type
and its user metadata carries ``created`` (unix seconds) and ``filename`` (percent-encoded, S3
metadata is ASCII). An S3 ``PUT`` is atomic (the object appears only complete), so a crash never
leaves a partial asset. Writes send ``If-None-Match: *`` so that of two racing writers of the same
content exactly one creates the object and both read back the same record (first writer wins,
as in the local store), and ``x-amz-checksum-sha256`` so the server rejects corrupted uploads.

Reads that need a file (ffmpeg, PIL, soundfile) go through ``local_copy``: a download into a
local cache directory, verified against the id (sha256) before it is renamed into place; cache
files are immutable (content-addressed), reused across jobs and pruned least-recently-used.

Credentials come from the environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN`` or the variable names the settings give), then boto3's usual chain
(``~/.aws``, instance or pod roles). They never travel in settings files or Ray arguments.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote

from workers.storage.base import (
    AssetNotFound,
    AssetRef,
    AssetStoreError,
    PutData,
    check_asset_id,
    check_media_type,
    copy_hashing,
)

_CHUNK = 1 << 20
_SINGLE_PUT_MAX = 512 * 1024 * 1024  # above this: multipart upload (no conditional write, read back)
_PRUNE_EVERY = 64  # cache downloads between size checks
_PRUNE_GRACE_S = 600.0  # never evict a cache file used this recently (a job may still read it)


@dataclass(frozen=True)
class S3Spec:
    """Everything a process needs to open the store: plain, picklable, no secrets."""

    bucket: str
    cache_dir: str
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""
    public_endpoint_url: str | None = None
    addressing_style: str = "auto"
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str = "AWS_SESSION_TOKEN"
    cache_max_bytes: int = 5 * 1024**3
    conditional_writes: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"backend": "s3", **asdict(self)}


def _client(spec: S3Spec, endpoint_url: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise AssetStoreError("storage.backend 's3' needs boto3: pip install 'maydo[s3]'") from exc

    kwargs: dict[str, Any] = {}
    key, secret = os.environ.get(spec.access_key_id_env), os.environ.get(spec.secret_access_key_env)
    if key and secret:
        kwargs.update(aws_access_key_id=key, aws_secret_access_key=secret)
        token = os.environ.get(spec.session_token_env)
        if token:
            kwargs["aws_session_token"] = token
    config = Config(
        s3={"addressing_style": spec.addressing_style},
        signature_version="s3v4",
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=16,
    )
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=endpoint_url, region_name=spec.region or "us-east-1", config=config, **kwargs
    )


def _code(exc: BaseException) -> str:
    resp = getattr(exc, "response", None) or {}
    err = resp.get("Error") or {}
    return str(err.get("Code") or resp.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


class S3AssetStore:
    """Content-addressed asset store on an S3-compatible bucket (thread-safe; one client)."""

    backend = "s3"

    def __init__(self, spec: S3Spec) -> None:
        if not spec.bucket:
            raise AssetStoreError("S3 asset store needs a bucket (setting storage.s3.bucket)")
        self.spec = spec
        self.bucket = spec.bucket
        self.prefix = spec.prefix
        self.cache_dir = Path(spec.cache_dir)
        self.client = _client(spec, spec.endpoint_url)
        self._presign_client = _client(spec, spec.public_endpoint_url) if spec.public_endpoint_url else self.client
        self._conditional = spec.conditional_writes
        self._downloads = 0
        self._lock = threading.Lock()

    # -- keys ------------------------------------------------------------------------------------

    def key(self, asset_id: str) -> str:
        check_asset_id(asset_id)
        return f"{self.prefix}{asset_id[:2]}/{asset_id}"

    def _cache_path(self, asset_id: str) -> Path:
        return self.cache_dir / asset_id[:2] / asset_id

    # -- write -----------------------------------------------------------------------------------

    def put(self, data: PutData, media_type: str, *, filename: str | None = None) -> AssetRef:
        check_media_type(media_type)
        if isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
            digest = hashlib.sha256(raw)
            return self._upload(digest, len(raw), lambda: io.BytesIO(raw), media_type, filename)
        if isinstance(data, str | Path):
            path = Path(data)
            digest, size = _hash_file(path)
            return self._upload(digest, size, lambda: open(path, "rb"), media_type, filename, path=path)
        # A stream: spool it to a temp file while hashing (the key needs the hash before the PUT).
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=".spool-", dir=self.cache_dir) as spool:
            digest = hashlib.sha256()
            size = copy_hashing(data, spool, digest, _CHUNK)
            spool.flush()
            return self._upload(
                digest, size, lambda: open(spool.name, "rb"), media_type, filename, path=Path(spool.name)
            )

    def _upload(
        self, digest: Any, size: int, body: Any, media_type: str, filename: str | None, path: Path | None = None
    ) -> AssetRef:
        from botocore.exceptions import ClientError

        asset_id = digest.hexdigest()
        with contextlib.suppress(AssetNotFound):
            return self.get(asset_id)  # content-addressed: stored once
        metadata = {"created": repr(time.time())}
        if filename:
            metadata["filename"] = quote(filename, safe="")
        extra: dict[str, Any] = {"ContentType": media_type, "Metadata": metadata}
        key = self.key(asset_id)
        try:
            if size > _SINGLE_PUT_MAX and path is not None:
                self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra)
            else:
                self._put_object(key, body, size, extra, base64.b64encode(digest.digest()).decode())
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return self.get(asset_id)  # a concurrent writer created it first: its record wins
            raise AssetStoreError(f"S3 put of {key} to bucket {self.bucket} failed: {exc}") from exc
        return self.get(asset_id)

    def _put_object(self, key: str, body: Any, size: int, extra: dict[str, Any], checksum: str) -> None:
        from botocore.exceptions import ClientError

        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentLength": size,
            "ChecksumSHA256": checksum,
            **extra,
        }
        if self._conditional:
            args["IfNoneMatch"] = "*"
        with body() as fh:
            try:
                self.client.put_object(Body=fh, **args)
            except ClientError as exc:
                if not self._conditional or _code(exc) not in ("NotImplemented", "501"):
                    raise
                # An older S3-compatible server without conditional writes: same bytes anyway.
                self._conditional = False
                fh.seek(0)
                args.pop("IfNoneMatch", None)
                self.client.put_object(Body=fh, **args)

    # -- read ------------------------------------------------------------------------------------

    def get(self, asset_id: str) -> AssetRef:
        from botocore.exceptions import ClientError

        key = self.key(asset_id)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise AssetNotFound(asset_id) from None
            raise AssetStoreError(f"S3 head of {key} in bucket {self.bucket} failed: {exc}") from exc
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        try:
            created = float(meta.get("created", ""))
        except ValueError:
            created = head["LastModified"].timestamp()
        name = meta.get("filename")
        return AssetRef(
            id=asset_id,
            size=int(head["ContentLength"]),
            media_type=str(head.get("ContentType") or "application/octet-stream"),
            created=created,
            filename=unquote(name) if name else None,
        )

    def _get_object(self, asset_id: str, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        key = self.key(asset_id)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key, **kwargs)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise AssetNotFound(asset_id) from None
            raise AssetStoreError(f"S3 get of {key} in bucket {self.bucket} failed: {exc}") from exc

    def open(self, asset_id: str) -> IO[bytes]:
        body: IO[bytes] = self._get_object(asset_id)["Body"]
        return body

    def open_range(self, asset_id: str, start: int, end: int) -> IO[bytes]:
        start = max(0, start)
        if end <= start:
            self.get(asset_id)  # still "not found" for a missing asset
            return io.BytesIO(b"")
        body: IO[bytes] = self._get_object(asset_id, Range=f"bytes={start}-{end - 1}")["Body"]
        return body

    @contextlib.contextmanager
    def local_copy(self, asset_id: str) -> Iterator[Path]:
        """A verified local copy from the cache (downloaded once per host; do not modify it)."""
        yield self.cached_path(asset_id)

    def cached_path(self, asset_id: str) -> Path:
        """Download the asset into the local cache (if not there yet) and return that file."""
        dest = self._cache_path(check_asset_id(asset_id))
        if dest.is_file():
            with contextlib.suppress(OSError):
                os.utime(dest)  # recently used: pruned last
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".dl-", dir=dest.parent)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, self.open(asset_id) as body:
                while chunk := body.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != asset_id:
                raise AssetStoreError(f"S3 object {self.key(asset_id)} does not hash to its id: corrupted")
            os.chmod(tmp_name, 0o444)
            os.replace(tmp_name, dest)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        with self._lock:
            self._downloads += 1
            due = self._downloads % _PRUNE_EVERY == 0
        if due:
            self.prune_cache()
        return dest

    def path(self, asset_id: str) -> Path:
        """A local file with the asset's bytes: the verified cache copy (kept at least 10 minutes
        after its last use). Scoped code should prefer ``local_copy``."""
        return self.cached_path(asset_id)

    def direct_path(self, asset_id: str) -> Path | None:
        return None

    def presigned_url(
        self, asset_id: str, ttl_s: int, *, filename: str | None = None, disposition: str = "attachment"
    ) -> str | None:
        """A presigned GET (S3 serves ranges, ETag and the disposition itself); no network call."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(asset_id)}
        if filename:
            from workers.storage.base import content_disposition

            params["ResponseContentDisposition"] = content_disposition(filename, disposition)
        url: str = self._presign_client.generate_presigned_url("get_object", Params=params, ExpiresIn=int(ttl_s))
        return url

    def export(self, asset_id: str, dest: str | Path) -> Path:
        from pipelines._common.files import atomic_path

        with atomic_path(dest) as tmp, open(tmp, "wb") as out, self.open(asset_id) as body:
            shutil.copyfileobj(body, out, _CHUNK)
        return Path(dest)

    def exists(self, asset_id: str) -> bool:
        try:
            self.get(asset_id)
        except AssetNotFound:
            return False
        return True

    def delete(self, asset_id: str) -> bool:
        if not self.exists(asset_id):
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self.key(asset_id))
        with contextlib.suppress(FileNotFoundError):
            self._cache_path(asset_id).unlink()
        return True

    def iter_ids(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                name = str(obj["Key"])[len(self.prefix) :]
                head, _, asset_id = name.partition("/")
                with contextlib.suppress(AssetNotFound):
                    if head == check_asset_id(asset_id)[:2]:
                        yield asset_id

    def healthy(self) -> bool | str:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # health reports the failure instead of raising it
            return f"bucket {self.bucket}: {type(exc).__name__}: {exc}"
        return True

    # -- cache -----------------------------------------------------------------------------------

    def prune_cache(self, max_bytes: int | None = None, *, grace_s: float = _PRUNE_GRACE_S) -> tuple[int, int]:
        """Evict least-recently-used cache files until the cache holds at most ``max_bytes``
        (default: the ``cache_max_bytes`` setting). Files used in the last ``grace_s`` seconds
        stay. Returns ``(files, bytes)`` removed."""
        limit = self.spec.cache_max_bytes if max_bytes is None else max_bytes
        entries = []
        total = 0
        for p in self.cache_dir.glob(".spool-*"):  # uploads spooled by a killed process
            with contextlib.suppress(FileNotFoundError):
                if time.time() - p.stat().st_mtime > _PRUNE_GRACE_S:
                    p.unlink()
        for p in self.cache_dir.glob("??/*"):
            with contextlib.suppress(FileNotFoundError):
                st = p.stat()
                if p.name.startswith(".") and time.time() - st.st_mtime > _PRUNE_GRACE_S:
                    p.unlink()  # a download abandoned by a killed process
                    continue
                entries.append((st.st_mtime, st.st_size, p))
                total += st.st_size
        removed = freed = 0
        now = time.time()
        for mtime, size, p in sorted(entries):
            if total <= limit:
                break
            if now - mtime < grace_s:
                break
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
                freed += size
                total -= size
        return removed, freed


def _hash_file(path: Path) -> tuple[Any, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest, size
