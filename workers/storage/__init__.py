"""Content-addressed asset storage: a local directory (default) or an S3-compatible bucket."""

from __future__ import annotations

from typing import Any

from workers.storage.base import AssetNotFound, AssetRef, AssetStore, AssetStoreError
from workers.storage.local import LocalAssetStore

__all__ = [
    "AssetNotFound",
    "AssetRef",
    "AssetStore",
    "AssetStoreError",
    "LocalAssetStore",
    "open_store",
    "open_store_spec",
    "store_spec",
]


def store_spec(settings: Any) -> dict[str, Any]:
    """A plain, picklable description of the settings' asset store (no secrets): what the
    dispatcher hands to actors, which may run on other hosts, to open the same store."""
    from workers.settings import Settings

    assert isinstance(settings, Settings)
    st = settings.storage
    if st.backend == "local":
        return {"backend": "local", "root": str(settings.assets_dir)}
    from workers.storage.s3 import S3Spec

    s3 = st.s3
    return S3Spec(
        bucket=str(s3.bucket),
        cache_dir=str(settings.asset_cache_dir),
        endpoint_url=s3.endpoint_url,
        region=s3.region,
        prefix=s3.prefix,
        public_endpoint_url=s3.public_endpoint_url,
        addressing_style=s3.addressing_style,
        access_key_id_env=s3.access_key_id_env,
        secret_access_key_env=s3.secret_access_key_env,
        session_token_env=s3.session_token_env,
        cache_max_bytes=st.cache_max_bytes,
        conditional_writes=s3.conditional_writes,
    ).to_dict()


def open_store_spec(spec: dict[str, Any] | str) -> AssetStore:
    """Open a store from ``store_spec`` output (a bare string is a local asset directory)."""
    if isinstance(spec, str):
        return LocalAssetStore(spec)
    backend = spec.get("backend")
    if backend == "local":
        return LocalAssetStore(spec["root"])
    if backend == "s3":
        from workers.storage.s3 import S3AssetStore, S3Spec

        return S3AssetStore(S3Spec(**{k: v for k, v in spec.items() if k != "backend"}))
    raise ValueError(f"unknown asset store backend {backend!r}; allowed: local, s3")


def open_store(settings: Any) -> AssetStore:
    """Open the asset store the settings describe (``storage.backend``: local | s3)."""
    return open_store_spec(store_spec(settings))
