"""Content-addressed asset storage: a local directory (default) or an S3-compatible bucket."""

from __future__ import annotations

import os
from pathlib import Path
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
    spec = S3Spec(
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
    # The default cache lives in the data dir of the process that OPENS the store: an actor on
    # another Ray node uses its own node's MAYDO_DATA_DIR, not the driver's path (see open_store_spec).
    spec["node_local_cache"] = st.cache_dir is None
    return spec


def open_store_spec(spec: dict[str, Any] | str) -> AssetStore:
    """Open a store from ``store_spec`` output (a bare string is a local asset directory)."""
    if isinstance(spec, str):
        return LocalAssetStore(spec)
    backend = spec.get("backend")
    if backend == "local":
        return LocalAssetStore(spec["root"])
    if backend == "s3":
        from workers.storage.s3 import S3AssetStore, S3Spec

        fields = {k: v for k, v in spec.items() if k not in ("backend", "node_local_cache")}
        node_data_dir = os.environ.get("MAYDO_DATA_DIR")
        if spec.get("node_local_cache") and node_data_dir:
            fields["cache_dir"] = str(Path(node_data_dir) / "cache" / "assets")
        return S3AssetStore(S3Spec(**fields))
    raise ValueError(f"unknown asset store backend {backend!r}; allowed: local, s3")


def open_store(settings: Any) -> AssetStore:
    """Open the asset store the settings describe (``storage.backend``: local | s3)."""
    return open_store_spec(store_spec(settings))
