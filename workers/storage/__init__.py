"""Content-addressed asset storage."""

from workers.storage.base import AssetNotFound, AssetRef, AssetStore
from workers.storage.local import LocalAssetStore

__all__ = ["AssetNotFound", "AssetRef", "AssetStore", "LocalAssetStore", "open_store"]


def open_store(settings: object) -> AssetStore:
    """Open the asset store the settings describe (only the local backend exists today)."""
    from workers.settings import Settings

    assert isinstance(settings, Settings)
    return LocalAssetStore(settings.assets_dir)
