"""What a Ray node derives from its own environment rather than from the driver (fast tier)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.actors.base import worker_name
from workers.settings import load_settings
from workers.storage import open_store_spec, store_spec


def _s3_settings(data_dir: Path, **storage: object):  # type: ignore[no-untyped-def]
    return load_settings(env={}, overrides={"data_dir": str(data_dir), "storage": {
        "backend": "s3", "s3": {"bucket": "b", "endpoint_url": "http://127.0.0.1:9"}, **storage}})


def test_s3_cache_is_the_opening_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's spec names its own cache path; an actor on another node (its own
    MAYDO_DATA_DIR) caches under that node's data dir, never under the driver's path."""
    spec = store_spec(_s3_settings(tmp_path / "head"))
    assert spec["cache_dir"] == str(tmp_path / "head" / "cache" / "assets") and spec["node_local_cache"] is True
    monkeypatch.setenv("MAYDO_DATA_DIR", str(tmp_path / "worker"))
    store = open_store_spec(spec)
    assert Path(store.spec.cache_dir) == tmp_path / "worker" / "cache" / "assets"
    monkeypatch.delenv("MAYDO_DATA_DIR")
    assert Path(open_store_spec(spec).spec.cache_dir) == tmp_path / "head" / "cache" / "assets"


def test_explicit_cache_dir_is_kept_on_every_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = store_spec(_s3_settings(tmp_path / "head", cache_dir=str(tmp_path / "shared-cache")))
    assert spec["node_local_cache"] is False
    monkeypatch.setenv("MAYDO_DATA_DIR", str(tmp_path / "worker"))
    assert Path(open_store_spec(spec).spec.cache_dir) == tmp_path / "shared-cache"


def test_worker_name_names_the_node() -> None:
    assert worker_name("video", "10.77.0.2", 4711) == "video@10.77.0.2:4711"
    assert worker_name("voice", None, 12) == "voice:12"
    assert worker_name("video", "10.77.0.2", 4711).rsplit(":", 1)[1] == "4711"  # pid stays last
