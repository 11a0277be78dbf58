import hashlib
import os
import threading

import pytest

from workers.storage import AssetNotFound, LocalAssetStore


def test_put_get_open_path_delete(tmp_path):
    store = LocalAssetStore(tmp_path / "a")
    data = b"hello maydo"
    ref = store.put(data, "text/plain", filename="hi.txt")
    assert ref.id == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data) and ref.media_type == "text/plain" and ref.filename == "hi.txt"
    assert store.exists(ref.id)
    assert store.get(ref.id) == ref
    with store.open(ref.id) as fh:
        assert fh.read() == data
    assert store.path(ref.id).read_bytes() == data
    assert store.delete(ref.id) is True
    assert not store.exists(ref.id)
    assert store.delete(ref.id) is False
    with pytest.raises(AssetNotFound):
        store.get(ref.id)


def test_put_from_path_and_dedupe(tmp_path):
    store = LocalAssetStore(tmp_path / "a")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * (1 << 20) + 5))
    r1 = store.put(src, "application/octet-stream")
    r2 = store.put(src.read_bytes(), "application/octet-stream")
    assert r1 == r2  # same content, same id, first metadata kept
    files = [p for p in (tmp_path / "a").rglob("*") if p.is_file()]
    assert len(files) == 2  # one data file + one sidecar, no temp leftovers


def test_malformed_ids_are_not_paths(tmp_path):
    store = LocalAssetStore(tmp_path / "a")
    for bad in ["../../etc/passwd", "abc", "A" * 64, ""]:
        assert not store.exists(bad)
        with pytest.raises(AssetNotFound):
            store.path(bad)


def test_crash_mid_write_leaves_no_asset(tmp_path, monkeypatch):
    store = LocalAssetStore(tmp_path / "a")
    data = b"x" * 1000

    def boom(*args, **kwargs):
        raise OSError("disk died")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk died"):
        store.put(data, "application/octet-stream")
    monkeypatch.undo()
    asset_id = hashlib.sha256(data).hexdigest()
    assert not store.exists(asset_id)
    assert [p for p in (tmp_path / "a").rglob("*") if p.is_file()] == []


def test_crash_between_data_and_metadata_is_not_an_asset(tmp_path, monkeypatch):
    store = LocalAssetStore(tmp_path / "a")

    def boom(ref):
        raise OSError("killed before metadata")

    monkeypatch.setattr(store, "_write_meta", boom)
    with pytest.raises(OSError):
        store.put(b"payload", "text/plain")
    asset_id = hashlib.sha256(b"payload").hexdigest()
    assert not store.exists(asset_id)
    monkeypatch.undo()
    ref = store.put(b"payload", "text/plain")  # a retry completes the asset
    assert store.exists(ref.id) and store.path(ref.id).read_bytes() == b"payload"


def test_concurrent_puts_same_content(tmp_path):
    store = LocalAssetStore(tmp_path / "a")
    data = os.urandom(256 * 1024)
    refs = []
    errors = []

    def worker():
        try:
            refs.append(LocalAssetStore(tmp_path / "a").put(data, "application/octet-stream"))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.id for r in refs}) == 1 and len({r.created for r in refs}) == 1
    assert store.path(refs[0].id).read_bytes() == data
    assert len([p for p in (tmp_path / "a").rglob("*") if p.is_file()]) == 2


def test_export_and_media_type_validation(tmp_path):
    store = LocalAssetStore(tmp_path / "a")
    ref = store.put(b"abc", "text/plain")
    out = store.export(ref.id, tmp_path / "out" / "copy.txt")
    assert out.read_bytes() == b"abc"
    with pytest.raises(ValueError, match="media_type"):
        store.put(b"abc", "plain")
