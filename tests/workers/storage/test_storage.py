"""The asset-store suite, run against the local store and against S3 (moto's server on loopback)."""

import hashlib
import io
import os
import threading

import httpx
import pytest

from workers.storage import AssetNotFound, AssetStore, AssetStoreError, LocalAssetStore, open_store
from workers.storage.s3 import S3AssetStore


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> AssetStore:
    if request.param == "local":
        from workers.settings import load_settings

        settings = load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})
    else:
        settings = request.getfixturevalue("s3_settings")
    s = open_store(settings)
    assert s.backend == request.param
    return s


def _objects(store: AssetStore) -> list[str]:
    """Every stored object/file name of the backend (data and metadata; temp leftovers included)."""
    if isinstance(store, LocalAssetStore):
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    assert isinstance(store, S3AssetStore)
    resp = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def test_put_get_open_local_copy_delete(store: AssetStore):
    data = b"hello maydo"
    ref = store.put(data, "text/plain", filename="ảnh Tết 2026.txt")
    assert ref.id == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data) and ref.media_type == "text/plain" and ref.filename == "ảnh Tết 2026.txt"
    assert store.exists(ref.id)
    assert store.get(ref.id) == ref
    with store.open(ref.id) as fh:
        assert fh.read() == data
    with store.local_copy(ref.id) as path:
        assert path.read_bytes() == data
    assert store.path(ref.id).read_bytes() == data
    assert list(store.iter_ids()) == [ref.id]
    assert store.delete(ref.id) is True
    assert not store.exists(ref.id)
    assert store.delete(ref.id) is False
    assert list(store.iter_ids()) == []
    with pytest.raises(AssetNotFound):
        store.get(ref.id)


def test_put_from_path_and_stream_dedupe(store: AssetStore, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * (1 << 20) + 5))
    r1 = store.put(src, "application/octet-stream", filename="first.bin")
    r2 = store.put(src.read_bytes(), "application/octet-stream", filename="second.bin")
    with open(src, "rb") as fh:
        r3 = store.put(fh, "application/octet-stream")  # a stream: read to its end, hashed on the way
    assert r1 == r2 == r3  # same content, same id, first metadata kept
    assert r1.filename == "first.bin" and r1.size == src.stat().st_size
    assert len(_objects(store)) == (2 if store.backend == "local" else 1)  # no temp leftovers
    with store.local_copy(r1.id) as path:
        assert path.read_bytes() == src.read_bytes()


def test_malformed_and_missing_ids_are_not_found(store: AssetStore):
    missing = hashlib.sha256(b"never stored").hexdigest()
    for bad in ["../../etc/passwd", "abc", "A" * 64, "", "../" + "a" * 61, missing]:
        assert not store.exists(bad)
        assert store.delete(bad) is False
        with pytest.raises(AssetNotFound):
            store.get(bad)
        with pytest.raises(AssetNotFound):
            store.open(bad)
        with pytest.raises(AssetNotFound):
            store.open_range(bad, 0, 10)
        with pytest.raises(AssetNotFound), store.local_copy(bad):
            pass
        with pytest.raises(AssetNotFound):
            store.path(bad)


def test_ranges(store: AssetStore):
    data = bytes(range(256)) * 40_000  # ~10 MB: several chunks
    ref = store.put(data, "application/octet-stream")
    for start, end in [(0, 1), (10, 20), (1_000_000, 3_500_123), (len(data) - 5, len(data)), (0, len(data))]:
        with store.open_range(ref.id, start, end) as fh:
            assert fh.read() == data[start:end], (start, end)
    with store.open_range(ref.id, len(data) - 3, len(data) + 100) as fh:  # clipped to the size
        assert fh.read() == data[-3:]
    with store.open_range(ref.id, 5, 5) as fh:
        assert fh.read() == b""


def test_concurrent_puts_same_content(store: AssetStore):
    data = os.urandom(256 * 1024)
    refs = []
    errors = []

    def worker():
        try:
            refs.append(store.put(data, "application/octet-stream"))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.id for r in refs}) == 1 and len({r.created for r in refs}) == 1  # one record wins
    with store.open(refs[0].id) as fh:
        assert fh.read() == data
    assert len(_objects(store)) == (2 if store.backend == "local" else 1)


def test_failed_stream_mid_write_leaves_no_asset(store: AssetStore):
    class Dies(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buf):
            if self.sent >= 2 << 20:
                raise OSError("connection reset mid-upload")
            n = min(len(buf), 64 * 1024)
            buf[:n] = b"z" * n
            self.sent += n
            return n

    with pytest.raises(OSError, match="connection reset"):
        store.put(Dies(), "application/octet-stream")
    assert _objects(store) == [] and list(store.iter_ids()) == []


def test_export_and_media_type_validation(store: AssetStore, tmp_path):
    ref = store.put(b"abc", "text/plain")
    out = store.export(ref.id, tmp_path / "out" / "copy.txt")
    assert out.read_bytes() == b"abc"
    assert [p.name for p in out.parent.iterdir()] == ["copy.txt"]  # temp name renamed away
    with pytest.raises(ValueError, match="media_type"):
        store.put(b"abc", "plain")
    assert store.healthy() is True


def test_presigned_urls(store: AssetStore):
    data = os.urandom(100_000)
    ref = store.put(data, "video/mp4", filename="ad 9x16.mp4")
    url = store.presigned_url(ref.id, 60, filename="ad 9x16.mp4", disposition="attachment")
    if store.backend == "local":
        assert url is None  # the API serves and HMAC-signs local assets itself
        return
    assert url is not None
    with httpx.Client(trust_env=False, timeout=10) as client:
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert 'filename="ad 9x16.mp4"' in whole.headers["content-disposition"]
        part = client.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        tampered = url.replace(ref.id, hashlib.sha256(b"other").hexdigest())
        assert client.get(tampered).status_code == 403  # the signature covers the key


# -- local backend only: crash points inside its own write protocol ------------------------------


def test_local_crash_mid_write_leaves_no_asset(tmp_path, monkeypatch):
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


def test_local_crash_between_data_and_metadata_is_not_an_asset(tmp_path, monkeypatch):
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


def test_local_copy_of_local_store_is_the_file_itself(tmp_path):
    store = LocalAssetStore(tmp_path / "a")
    ref = store.put(b"payload", "text/plain")
    with store.local_copy(ref.id) as path:
        assert path == store.path(ref.id) == store.direct_path(ref.id)


# -- S3 backend only ------------------------------------------------------------------------------


def test_s3_layout_and_metadata_in_the_bucket(s3_settings):
    store = open_store(s3_settings)
    assert isinstance(store, S3AssetStore)
    ref = store.put(b"<svg/>", "image/svg+xml", filename="logo.svg")
    head = store.client.head_object(Bucket=store.bucket, Key=f"assets/{ref.id[:2]}/{ref.id}")
    assert head["ContentType"] == "image/svg+xml" and head["ContentLength"] == 6
    assert head["Metadata"]["filename"] == "logo.svg" and float(head["Metadata"]["created"]) == ref.created
    assert store.direct_path(ref.id) is None


def test_s3_local_copy_is_cached_and_verified(s3_settings):
    store = open_store(s3_settings)
    assert isinstance(store, S3AssetStore)
    data = os.urandom(50_000)
    ref = store.put(data, "application/octet-stream")
    gets = []
    store.client.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append(1))
    with store.local_copy(ref.id) as p1:
        assert p1.read_bytes() == data and str(p1).startswith(str(s3_settings.asset_cache_dir))
    with store.local_copy(ref.id) as p2:
        assert p2 == p1
    assert len(gets) == 1  # the second use reads the cache
    # A corrupted object in the bucket is refused, never handed to a job.
    other = store.put(b"genuine bytes", "text/plain")
    store.client.put_object(Bucket=store.bucket, Key=store.key(other.id), Body=b"tampered!!!!!")
    with pytest.raises(AssetStoreError, match="does not hash to its id"), store.local_copy(other.id):
        pass
    assert not store._cache_path(other.id).exists()
    assert [p.name for p in store._cache_path(other.id).parent.iterdir() if p.name.startswith(".")] == []


def test_s3_cache_prune_keeps_recent_and_evicts_lru(s3_settings):
    store = open_store(s3_settings)
    assert isinstance(store, S3AssetStore)
    refs = [store.put(os.urandom(10_000) + bytes([i]), "application/octet-stream") for i in range(4)]
    paths = []
    for r in refs:
        with store.local_copy(r.id) as p:
            paths.append(p)
    assert store.prune_cache(0) == (0, 0)  # all used just now: within the grace period
    for i, p in enumerate(paths):
        os.utime(p, (1_000_000 + i, 1_000_000 + i))  # pretend: used long ago, oldest first
    removed, freed = store.prune_cache(20_002)
    assert removed == 2 and freed == 20_002
    assert [p.exists() for p in paths] == [False, False, True, True]
    with store.local_copy(refs[0].id) as p:  # evicted: downloaded again on the next use
        assert p.read_bytes() == store.open(refs[0].id).read()
    # Leftovers of killed processes (a half download, a spooled upload) go once they are stale.
    half = paths[3].parent / ".dl-killed"
    spool = store.cache_dir / ".spool-killed"
    for leftover in (half, spool):
        leftover.write_bytes(b"partial")
        os.utime(leftover, (1_000_000, 1_000_000))
    store.prune_cache()
    assert not half.exists() and not spool.exists() and paths[3].exists()


def test_s3_unreachable_or_missing_bucket_is_a_clear_error(s3_settings):
    from workers.settings import SettingsError, load_settings

    bad = s3_settings.model_copy(deep=True)
    bad.storage.s3.bucket = "no-such-bucket-maydo"
    store = open_store(bad)
    assert "no-such-bucket-maydo" in str(store.healthy())
    with pytest.raises(AssetStoreError, match="no-such-bucket-maydo"):
        store.put(b"x", "text/plain")
    with pytest.raises(SettingsError, match=r"storage\.s3\.bucket"):
        load_settings(env={"MAYDO_STORAGE__BACKEND": "s3"})
