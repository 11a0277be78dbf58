"""``/v1/assets`` on the S3 backend (moto's server on loopback): proxy and presigned-redirect modes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.workers.api.conftest import Server, api_settings, free_port, serve, upload
from workers.api import create_app
from workers.runtime import Runtime
from workers.storage.s3 import S3AssetStore


@pytest.fixture(scope="module")
def s3_api(tmp_path_factory: pytest.TempPathFactory, s3_server: str) -> Iterator[Server]:
    import boto3

    bucket = "maydo-api-assets"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    base = api_settings(tmp_path_factory.mktemp("api-s3") / "data")
    settings = base.model_copy(update={"storage": base.storage.model_validate(
        {"backend": "s3", "s3": {"bucket": bucket, "endpoint_url": s3_server}})})
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    ctx = app.state.ctx
    keys = {"acme-creator": ctx.store.create_key("acme", "creator").key,
            "globex-creator": ctx.store.create_key("globex", "creator").key}
    uv, thread = serve(app, free_port())
    yield Server(f"http://127.0.0.1:{uv.config.port}", ctx, runtime, settings, keys)
    uv.should_exit = True
    thread.join(timeout=10)
    runtime.close()


@pytest.fixture
def redirect(s3_api: Server) -> Iterator[None]:
    s3_api.settings.storage.downloads = "redirect"
    yield
    s3_api.settings.storage.downloads = "proxy"


def test_upload_lands_in_the_bucket_and_proxy_serves_ranges(s3_api: Server) -> None:
    data = bytes(range(256)) * 7000  # 1.8 MB: two relayed chunks
    store = s3_api.ctx.assets
    assert isinstance(store, S3AssetStore)
    with s3_api.client("acme-creator") as c:
        ref = upload(c, data, "clip.wav", "audio/wav")
        head = store.client.head_object(Bucket=store.bucket, Key=store.key(ref["id"]))
        assert head["ContentLength"] == len(data) and head["ContentType"] == "audio/wav"
        url = f"/v1/assets/{ref['id']}"
        full = c.get(url)
        assert full.status_code == 200 and full.content == data
        assert full.headers["etag"] == f'"{ref["id"]}"' and full.headers["content-type"] == "audio/wav"
        assert 'attachment; filename="clip.wav"' in full.headers["content-disposition"]
        assert c.get(url, headers={"If-None-Match": full.headers["etag"]}).status_code == 304
        part = c.get(url, headers={"Range": "bytes=1048570-1500000"})
        assert part.status_code == 206 and part.content == data[1048570:1500001]
        assert part.headers["content-range"] == f"bytes 1048570-1500000/{len(data)}"
        assert c.get(url, headers={"Range": "bytes=-10"}).content == data[-10:]
        assert c.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
        h = c.head(url)
        assert h.status_code == 200 and h.content == b"" and h.headers["content-length"] == str(len(data))
        assert c.get("/v1/healthz").json()["checks"]["asset_store"] is True


def test_redirect_mode_sends_authorised_callers_to_a_presigned_url(s3_api: Server, redirect: None) -> None:
    data = b"rendered ad bytes " * 1000
    with s3_api.client("acme-creator") as c, s3_api.client() as anon, s3_api.client("globex-creator") as other:
        ref = upload(c, data, "ad.mp4", "video/mp4")
        url = f"/v1/assets/{ref['id']}"
        resp = c.get(url)
        assert resp.status_code == 307 and resp.headers["cache-control"] == "private, no-store"
        location = resp.headers["location"]
        assert location.startswith(s3_api.settings.storage.s3.endpoint_url or "") and "X-Amz-Signature" in location
        with httpx.Client(trust_env=False, timeout=10) as bare:  # no API key: the URL alone
            got = bare.get(location)
            assert got.status_code == 200 and got.content == data
            assert 'filename="ad.mp4"' in got.headers["content-disposition"]
            part = bare.get(location, headers={"Range": "bytes=0-16"})
            assert part.status_code == 206 and part.content == data[:17]
        followed = c.get(url, follow_redirects=True, headers={"Range": "bytes=18-35"})
        assert followed.status_code == 206 and followed.content == data[18:36]
        # Authorisation happens before any redirect: no key -> 401, another tenant -> 404.
        assert anon.get(url).status_code == 401
        assert other.get(url).status_code == 404
        assert c.get(url, headers={"If-None-Match": f'"{ref["id"]}"'}).status_code == 304
        h = c.head(url)  # answered by the API (a presigned GET does not allow HEAD)
        assert h.status_code == 200 and h.headers["content-length"] == str(len(data))
        # The API's own signed URL (no key) also ends at the bucket.
        signed = c.get(f"{url}/url", params={"ttl": 60}).json()["url"]
        via = anon.get(signed, follow_redirects=True)
        assert via.status_code == 200 and via.content == data


def test_dry_run_reads_uploaded_inputs_through_the_store(s3_api: Server) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, format="PNG")
    limits = s3_api.settings.limits
    with s3_api.client("acme-creator") as c:
        ref = upload(c, buf.getvalue(), "p.png", "image/png")
        body = {"kind": "recolor", "dry_run": True, "inputs": {"image": ref["id"]}, "params": {"to_colors": ["#1050d0"]}}
        ok = c.post("/v1/jobs", json=body)
        assert ok.status_code == 200 and ok.json()["errors"] == [], ok.text
        old, limits.max_image_pixels = limits.max_image_pixels, 1000
        try:
            big = c.post("/v1/jobs", json=body).json()  # the pixel count comes from the decoded image
        finally:
            limits.max_image_pixels = old
        assert any("64x48 = 3072 pixels" in e["message"] for e in big["errors"]), big
