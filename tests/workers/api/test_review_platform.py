"""Review and delivery end to end, on a real server rendering a real (tiny) campaign over HTTP:

- an ad platform lists a tenant's finished ads and downloads them with only a ``platform`` key
  (cursor pagination, absolute URLs from ``api.public_base_url``, no server paths anywhere);
- a creative team reviews in headless Chromium: filters and search, reasons readable and not
  overlapped, compare, approve two ads, reject one with a comment, re-render it with another
  colourway, export the approved set — screenshots asserted on;
- deleting the campaign removes its ads, assets and the audience's personal data.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.workers.api.conftest import api_settings, free_port, serve
from workers.api import create_app
from workers.runtime import Runtime

CAMPAIGN = "rv-tet"
SPEC = f"""
campaign_id: {CAMPAIGN}
name: Review test
catalogue: demo/catalogue.yaml
copy: demo/copy.yaml
audience: audience.csv
template: product_promo
formats: ["9:16", "1:1"]
size: tiny
voice_engine: espeak
offer_end: "2026-02-28"
"""
AUDIENCE = (
    "customer_id,first_name,age,location,viewed,favourite_colors,channel,intent,message\n"
    "a1,An,24,Hà Nội,TEE-LOTUS:Jade,,tiktok,browsing,Áo đẹp quá!\n"
    'b2,Ben,45,"London, England",MUG-CAPHE:Cobalt,,youtube,comparing,not bad\n'
    "c3,Cam,31,Huế,TOTE-HOIAN:Saffron,,facebook_feed,browsing,\n"
    'd4,Dee,38,"New York, USA",HAT-NONLA:Sky,,instagram_feed,comparing,love it\n'
    "x5,Zed,7,Huế,,,tiktok,browsing,\n"
)


@dataclass
class Review:
    url: str
    ctx: Any
    runtime: Runtime
    keys: dict[str, str]
    data_dir: Path

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": self.keys[who]} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, trust_env=False)


@pytest.fixture(scope="module")
def rv(tmp_path_factory: pytest.TempPathFactory, ray_session: Any) -> Iterator[Review]:
    from workers.campaigns.runner import _start_local

    port = free_port()
    data = tmp_path_factory.mktemp("review") / "data"
    settings = api_settings(data, public_base_url=f"http://127.0.0.1:{port}/")
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    ctx = app.state.ctx
    keys = {
        "creator": ctx.store.create_key("acme", "creator").key,
        "platform": ctx.store.create_key("acme", "platform").key,
        "globex-platform": ctx.store.create_key("globex", "platform").key,
    }
    uv, thread = serve(app, port)
    _start_local(runtime, settings)
    rv = Review(f"http://127.0.0.1:{port}", ctx, runtime, keys, data)
    with rv.client("creator") as c:
        resp = c.post("/v1/campaigns", files={"spec": ("campaign.yaml", SPEC.encode()),
                                               "audience": ("audience.csv", AUDIENCE.encode())},
                      data={"metadata": json.dumps({"brief": "tet-42"})})
        assert resp.status_code == 202, resp.text
        assert resp.json()["submitted"] == 4 and resp.json()["metadata"] == {"brief": "tet-42"}
        _wait_done(c, CAMPAIGN)
    yield rv
    runtime.stop()
    uv.should_exit = True
    thread.join(timeout=10)
    runtime.close()


def _wait_done(c: httpx.Client, campaign_id: str, timeout: float = 420) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = c.get(f"/v1/campaigns/{campaign_id}").json()
        if summary["done"]:
            return dict(summary)
        time.sleep(1)
    raise AssertionError(f"campaign not done in {timeout} s: {summary}")


def _no_server_paths(body: Any, data_dir: Path) -> None:
    text = json.dumps(body, ensure_ascii=False)
    assert str(data_dir) not in text and "/tmp/" not in text and "/work/" not in text, text[:2000]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert not {"dir", "path", "gallery"} & set(node), sorted(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(body)


def test_platform_lists_and_downloads_finished_ads(rv: Review) -> None:
    base = rv.url
    with rv.client("platform") as p, rv.client("globex-platform") as g:
        camps = p.get("/v1/campaigns", params={"status": "done"}).json()
        assert [c["id"] for c in camps["items"]] == [CAMPAIGN]
        summary = camps["items"][0]
        assert summary["counts"] == {"succeeded": 4} and summary["metadata"] == {"brief": "tet-42"}
        assert summary["ads_url"] == f"{base}/v1/campaigns/{CAMPAIGN}/ads"
        # Ads, two per page through the cursor: every finished ad once, in both formats.
        seen: list[dict[str, Any]] = []
        url, params = f"/v1/campaigns/{CAMPAIGN}/ads", {"status": "done", "limit": 2}
        pages = 0
        while True:
            page = p.get(url, params=params).json()
            seen.extend(page["items"])
            pages += 1
            if not page["next_cursor"]:
                break
            params = {**params, "cursor": page["next_cursor"]}
        assert pages == 2 and [a["customer_id"] for a in seen] == ["a1", "b2", "c3", "d4"]
        for ad in seen:
            assert set(ad["formats"]) == {"9:16", "1:1"}, ad["formats"]
            assert ad["decisions"] and all(d["reason"] for d in ad["decisions"])
            for fmt in ("9:16", "1:1"):
                video, poster = ad["assets"][f"{fmt}.video"], ad["assets"][f"{fmt}.poster"]
                assert video["url"].startswith(f"{base}/v1/assets/")  # absolute, from public_base_url
                mp4 = p.get(video["url"])
                assert mp4.status_code == 200 and mp4.content[4:8] == b"ftyp" and len(mp4.content) > 1000
                png = p.get(poster["url"])
                assert png.content[:3] == b"\xff\xd8\xff" or png.content[:8] == b"\x89PNG\r\n\x1a\n"
                assert png.headers["content-type"] in ("image/jpeg", "image/png")
                assert g.get(video["url"]).status_code == 404  # another tenant's platform key
        # Filters: language and a search over reasons.
        en = p.get(url, params={"language": "en"}).json()["items"]
        assert {a["customer_id"] for a in en} == {"b2", "d4"}
        assert p.get(url, params={"status": "invalid"}).json()["items"][0]["customer_id"] == "x5"
        # Jobs: the platform key lists the tenant's ad jobs, paginated, no children by default.
        jobs: list[dict[str, Any]] = []
        jparams: dict[str, Any] = {"campaign_id": CAMPAIGN, "status": "succeeded", "kind": "ad", "limit": 3}
        while True:
            page = p.get("/v1/jobs", params=jparams).json()
            jobs.extend(page["items"])
            if not page["next_cursor"]:
                break
            assert page["next_url"].startswith(f"{base}/v1/jobs?")
            jparams["cursor"] = page["next_cursor"]
        assert sorted(j["id"] for j in jobs) == sorted(a["job_id"] for a in seen)
        assert len({j["id"] for j in jobs}) == 4
        assert p.get("/v1/jobs", params={"cursor": "not-a-cursor"}).json()["error"]["field"] == "cursor"
        # Another tenant sees nothing; server paths never leave the server.
        assert g.get(f"/v1/campaigns/{CAMPAIGN}").status_code == 404
        assert g.get(f"/v1/campaigns/{CAMPAIGN}/ads").status_code == 404
        assert g.get("/v1/campaigns").json()["items"] == []
        assert g.get("/v1/jobs").json()["items"] == []
        for body in (summary, seen, jobs, p.get(f"/v1/campaigns/{CAMPAIGN}").json(),
                     p.get(f"/v1/campaigns/{CAMPAIGN}/manifest").json(), p.get(f"/v1/jobs/{jobs[0]['id']}").json()):
            _no_server_paths(body, rv.data_dir)


# --- docs/api.md: every example runs -----------------------------------------------------------

class _Hooks:
    """A loopback webhook receiver that records every delivery (headers + raw body)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.got: list[tuple[dict[str, str], bytes]] = []
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                hooks.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]


def doc_blocks(lang: str) -> list[str]:
    """The fenced code blocks of docs/api.md in ``lang``."""
    import re

    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def test_every_docs_api_example_runs(rv: Review, tmp_path: Path) -> None:
    """Each bash and python block of docs/api.md, run as written with the variables it names; every
    curl must get a 2xx/3xx (``--fail-with-body``), and the replies carry no server paths."""
    import sys

    hooks = _Hooks()
    rv.ctx.settings.api.webhooks.allow_private_targets = True
    images = REPO / "assets" / "demo" / "images"
    (tmp_path / "shirt.png").write_bytes((images / "tee-lotus.png").read_bytes())
    (tmp_path / "kite.png").write_bytes((images / "tee-lotus.png").read_bytes())
    (tmp_path / "kite.mask.png").write_bytes((images / "tee-lotus.mask.png").read_bytes())
    # The docs' campaign: one customer, one format (rendered for real by the examples).
    (tmp_path / "campaign.yaml").write_text(SPEC.replace(CAMPAIGN, "docs-demo").replace('["9:16", "1:1"]', '["9:16"]'),
                                            encoding="utf-8")
    (tmp_path / "audience.csv").write_text("customer_id,first_name,age,location,channel,intent\n"
                                           "d1,Dan,30,Hà Nội,tiktok,browsing\n", encoding="utf-8")
    (tmp_path / "catalogue.yaml").write_text(TEAM_CATALOGUE, encoding="utf-8")
    (tmp_path / "copy.yaml").write_bytes((REPO / "assets/demo/copy.yaml").read_bytes())
    with rv.client("creator") as c:
        asset = c.post("/v1/assets", files={"file": ("shirt.png", (tmp_path / "shirt.png").read_bytes(),
                                                      "image/png")}).json()["id"]
        job = c.post("/v1/jobs", json={"kind": "voice", "params": {"text": "Hello there", "accent": "en-us"}}).json()
        # A real PNG with no product in it: accepted at submit, fails in the worker (no mask), so
        # the docs' retry example has a failed job to retry.
        blank = io.BytesIO()
        Image.new("RGB", (64, 64), "white").save(blank, format="PNG")
        no_product = c.post("/v1/assets", files={"file": ("blank.png", blank.getvalue(), "image/png")}).json()["id"]
        failed = c.post("/v1/jobs", json={"kind": "recolor", "inputs": {"image": no_product},
                                          "params": {"to_colors": ["#c0392b"]}}).json()
        deadline = time.monotonic() + 120
        while {c.get(f"/v1/jobs/{j['id']}").json()["status"] for j in (job, failed)} - {"succeeded", "failed"}:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert c.get(f"/v1/jobs/{failed['id']}").json()["status"] == "failed"
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "MAYDO_DATA_DIR": str(rv.data_dir),
        "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1",
        "MAYDO": rv.url, "K": f"X-API-Key: {rv.keys['creator']}", "P": f"X-API-Key: {rv.keys['platform']}",
        "ASSET": asset, "JOB": job["id"], "FAILED_JOB": failed["id"], "CAMPAIGN": CAMPAIGN, "CUSTOMER": "a1",
        "HOOK": hooks.url,
    }
    # curl as the examples write it, but failing on HTTP errors and bounded in time.
    preamble = "set -euo pipefail\ncurl() { command curl --fail-with-body -sS --max-time 30 \"$@\"; echo; }\n"
    blocks = doc_blocks("bash")
    assert len(blocks) >= 5
    outputs = []
    for block in blocks:
        script = block.replace("http://127.0.0.1:8080", rv.url).replace("mdk_...(creator)", rv.keys["creator"]) \
            .replace("mdk_...(platform)", rv.keys["platform"])
        run = subprocess.run(["bash", "-c", preamble + script], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, f"docs/api.md example failed:\n{block}\n--- stdout\n{run.stdout[-3000:]}\n" \
                                    f"--- stderr\n{run.stderr[-3000:]}"
        outputs.append(run.stdout)
        assert str(rv.data_dir) not in run.stdout, block
    text = "\n".join(outputs)
    assert "mdk_" in outputs[0]  # keys were created
    assert '"dry_run":true' in text and '"submitted"' in text and '"next_cursor"' in text
    assert (tmp_path / "approved.zip").is_file() and zipfile.is_zipfile(tmp_path / "approved.zip")
    assert "304" in text and (tmp_path / "first-MiB").stat().st_size > 0
    # (same bytes as kite.png, uploaded later by the campaign example: the tenant's newest name wins)
    assert [f.suffix for f in (tmp_path / "downloads").iterdir()] == [".png"]
    # The webhook example: the recolor job's deliveries carry the metadata and a delivery id, and
    # the docs' verify() accepts their signature.
    with rv.client("creator") as c:
        secret = c.get("/v1/webhooks/secret").json()["secret"].encode()
        deadline = time.monotonic() + 120
        deadline = time.monotonic() + 240
        while not ({"job.succeeded", "campaign.completed"}
                   <= {e.get("event") for e in hooks.events()}):
            assert time.monotonic() < deadline, [e.get("event") for e in hooks.events()]
            time.sleep(0.5)
    namespace: dict[str, Any] = {}
    (python_block,) = doc_blocks("python")
    exec(python_block, namespace)  # noqa: S102 - the documented snippet itself
    for headers, body in hooks.got:
        event = json.loads(body)
        assert headers["x-maydo-delivery"] == event["delivery_id"] and len(event["delivery_id"]) >= 16
        assert namespace["verify"](secret, headers["x-maydo-timestamp"], body, headers["x-maydo-signature"])
        if event["event"].startswith("job."):
            assert event["metadata"] == {"order": "42", "line": 3}
        if event["event"] == "campaign.completed":  # the docs' campaign, by its public id, with its metadata
            assert event["campaign"]["done"] and event["campaign_id"] == event["campaign"]["id"] == "docs-demo"
            assert event["metadata"] == {"brief": "tet-42"}
        _no_server_paths(event, rv.data_dir)
    assert len({e["delivery_id"] for e in hooks.events()}) == len(hooks.got)
    hooks.server.shutdown()
    rv.ctx.settings.api.webhooks.allow_private_targets = False


# --- browser ------------------------------------------------------------------------------------

def _driver(tmp: Path) -> Any:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        if os.environ.get("CI"):
            raise AssertionError("chromium and chromium-driver must be installed (make test installs them as root)")
        pytest.skip("Debian chromium / chromium-driver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp / 'chrome-profile'}", "--window-size=1400,1000"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


def _rect(el: Any) -> tuple[float, float, float, float]:
    r = el.rect
    return r["x"], r["y"], r["x"] + r["width"], r["y"] + r["height"]


def _intersects(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return inner[0] >= outer[0] - 0.5 and inner[1] >= outer[1] - 0.5 and inner[2] <= outer[2] + 0.5 \
        and inner[3] <= outer[3] + 0.5


def _shot(driver: Any, path: Path) -> Path:
    """Full-page screenshot (the window grows to the document height), saved and checked as a PNG."""
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(1000, min(int(height) + 40, 6000)))
    assert driver.save_screenshot(str(path))
    out = os.environ.get("REVIEW_SCREENSHOTS")  # keep copies to look at
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)
    return path


def _assert_reasons_readable(driver: Any) -> int:
    """Every decision reason of every shown card is displayed, inside its card, and no two cards overlap."""
    from selenium.webdriver.common.by import By

    cards = [c for c in driver.find_elements(By.CSS_SELECTOR, ".card") if c.is_displayed()]
    rects = [_rect(c) for c in cards]
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            assert not _intersects(rects[i], rects[j]), (i, j, rects[i], rects[j])
    checked = 0
    for card, rect in zip(cards, rects, strict=True):
        reasons = card.find_elements(By.CSS_SELECTOR, ".decision .reason")
        for k, reason in enumerate(reasons):
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", reason)
            assert reason.is_displayed() and reason.text.strip(), card.get_attribute("data-customer")
            rr = _rect(reason)
            assert rr[2] - rr[0] > 20 and rr[3] - rr[1] > 8
            assert _inside(rr, rect), (card.get_attribute("data-customer"), rr, rect)
            # The element painted at the reason's centre is the reason itself (nothing on top of it).
            top = driver.execute_script(
                "var r = arguments[0].getBoundingClientRect();"
                "var el = document.elementFromPoint(r.left + Math.min(10, r.width / 2), r.top + r.height / 2);"
                "return el === arguments[0] || arguments[0].contains(el);", reason)
            assert top, f"reason {k} of {card.get_attribute('data-customer')} is covered"
            checked += 1
    return checked


def _card(driver: Any, customer: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f".card[data-customer='{customer}']")


def test_review_in_chromium_approve_reject_rerender_export(rv: Review, tmp_path: Path) -> None:
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with rv.client("creator") as c:
        link = c.get(f"/v1/campaigns/{CAMPAIGN}/review/url").json()["url"]
        assert httpx.get(link.replace("signature=", "signature=0"), trust_env=False).status_code == 403
    driver = _driver(tmp_path)
    try:
        driver.get(link)
        WebDriverWait(driver, 20).until(lambda d: "of 5 shown" in d.find_element(By.ID, "shown").text)
        # Served page: no inline script (CSP-friendly), media and script from this server only.
        for script in driver.find_elements(By.TAG_NAME, "script"):
            assert script.get_attribute("src") or script.get_attribute("type") == "application/json"
        for el in driver.find_elements(By.CSS_SELECTOR, "[src]"):
            assert el.get_attribute("src").startswith(rv.url), el.get_attribute("src")
        players = driver.find_elements(By.CSS_SELECTOR, ".card[data-customer='a1'] video[poster]")
        assert [v.find_element(By.XPATH, "..").get_attribute("data-format") for v in players] == ["9:16", "1:1"]
        for player in players:  # the poster each player shows loads from its signed URL
            width = driver.execute_async_script(
                "var done = arguments[1], im = new Image(); im.onload = function () { done(im.naturalWidth); };"
                "im.onerror = function () { done(0); }; im.src = arguments[0].getAttribute('poster');", player)
            assert width > 0
        assert _assert_reasons_readable(driver) >= 4 * 8
        first = _shot(driver, tmp_path / "review-1-page.png")

        # Filters and search.
        Select(driver.find_element(By.ID, "f-language")).select_by_value("en")
        assert driver.find_element(By.ID, "shown").text.startswith("2 of 5")
        assert not _card(driver, "a1").is_displayed() and _card(driver, "b2").is_displayed()
        Select(driver.find_element(By.ID, "f-language")).select_by_value("")
        search = driver.find_element(By.ID, "q")
        search.send_keys("x5")
        assert driver.find_element(By.ID, "shown").text.startswith("1 of 5")
        search.clear()
        search.send_keys(" ")
        search.clear()
        driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", search)

        # Compare a customer's variants side by side (9:16 next to 1:1).
        driver.find_element(By.ID, "api-key").send_keys(rv.keys["creator"])
        _card(driver, "a1").find_element(By.CSS_SELECTOR, ".compare-btn").click()
        panel = driver.find_element(By.ID, "compare")
        assert panel.is_displayed()
        figs = panel.find_elements(By.CSS_SELECTOR, ".variant")
        assert [f.get_attribute("data-format") for f in figs] == ["9:16", "1:1"]
        left, right = _rect(figs[0]), _rect(figs[1])
        assert left[2] <= right[0] + 0.5 and abs(left[1] - right[1]) < 2  # side by side, same row
        compare_png = _shot(driver, tmp_path / "review-2-compare.png")
        driver.find_element(By.ID, "compare-close").click()

        # Approve two, reject one with a comment.
        for customer in ("a1", "b2"):
            _card(driver, customer).find_element(By.CSS_SELECTOR, ".approve").click()
            WebDriverWait(driver, 20).until(
                lambda d, c=customer: _card(d, c).get_attribute("data-review") == "approved")
        card = _card(driver, "c3")
        card.find_element(By.CSS_SELECTOR, ".reject").click()  # no comment: refused, said on the page
        WebDriverWait(driver, 20).until(lambda d: "comment" in d.find_element(By.ID, "notice").text)
        card.find_element(By.CSS_SELECTOR, ".comment-in").send_keys("Saffron clashes with the lantern scene")
        card.find_element(By.CSS_SELECTOR, ".reject").click()
        WebDriverWait(driver, 20).until(lambda d: _card(d, "c3").get_attribute("data-review") == "rejected")
        note = _card(driver, "c3").find_element(By.CSS_SELECTOR, ".review-note")
        assert note.is_displayed() and "Saffron clashes" in note.text
        Select(driver.find_element(By.ID, "f-review")).select_by_value("approved")
        assert driver.find_element(By.ID, "shown").text.startswith("2 of 5")
        Select(driver.find_element(By.ID, "f-review")).select_by_value("")
        _shot(driver, tmp_path / "review-3-reviewed.png")

        with rv.client("platform") as p:
            approved = p.get(f"/v1/campaigns/{CAMPAIGN}/ads", params={"review": "approved"}).json()["items"]
            assert [a["customer_id"] for a in approved] == ["a1", "b2"]
            rejected = p.get(f"/v1/campaigns/{CAMPAIGN}/ads/c3").json()
            assert rejected["review"]["state"] == "rejected"
            assert rejected["review"]["comment"] == "Saffron clashes with the lantern scene"
            old_colourway, old_video = rejected["colourway"], rejected["assets"]["9:16.video"]["asset_id"]
            assert p.post(f"/v1/campaigns/{CAMPAIGN}/ads/a1/review", json={"state": "approved"}).status_code == 403

        # Re-render the rejected ad in another colourway.
        card = _card(driver, "c3")
        card.find_element(By.CSS_SELECTOR, ".rerender summary").click()
        choice = Select(card.find_element(By.CSS_SELECTOR, ".rr-colourway"))
        new_colourway = next(o.get_attribute("value") for o in reversed(choice.options)  # not the hero (first)
                             if o.get_attribute("value") != old_colourway)
        choice.select_by_value(new_colourway)
        card.find_element(By.CSS_SELECTOR, ".rerender-btn").click()
        WebDriverWait(driver, 20).until(lambda d: "re-render queued" in d.find_element(By.ID, "notice").text)
        with rv.client("creator") as c:
            deadline = time.monotonic() + 300
            while (ad := c.get(f"/v1/campaigns/{CAMPAIGN}/ads/c3").json())["status"] != "done":
                assert ad["status"] == "pending" and time.monotonic() < deadline, ad
                time.sleep(1)
        assert ad["colourway"] == new_colourway and ad["assets"]["9:16.video"]["asset_id"] != old_video
        with rv.client("platform") as p:
            job = p.get(f"/v1/jobs/{ad['job_id']}").json()
        # The copy names the new colourway (headline and voice script), the recolor targets its hex.
        assert new_colourway in job["params"]["data"]["copy"]["headline"]
        assert new_colourway in job["params"]["voice"]["text"] and old_colourway not in job["params"]["voice"]["text"]
        assert job["params"]["recolor"]["to_colors"] == [ad["colour_hex"]]
        assert ad["review"]["state"] == "rejected"  # the old verdict stays until someone reviews the new render
        assert any(d["level"] == 0 and d["field"] == "colourway" and "Saffron clashes" in d["reason"]
                   for d in ad["decisions"])
        driver.get(link)
        WebDriverWait(driver, 20).until(lambda d: "of 5 shown" in d.find_element(By.ID, "shown").text)
        card = _card(driver, "c3")
        assert card.get_attribute("data-colourway") == new_colourway and card.get_attribute("data-status") == "done"
        assert card.find_elements(By.CSS_SELECTOR, ".history .variant")  # the previous render, kept for comparison
        assert _assert_reasons_readable(driver) >= 4 * 8

        # Export the approved set from the page (the key travels in a header, not the URL).
        assert driver.find_element(By.ID, "api-key").get_attribute("value") == rv.keys["creator"]  # kept per tab
        driver.find_element(By.ID, "export-csv").click()
        WebDriverWait(driver, 30).until(lambda d: "exported 2 approved ads" in d.find_element(By.ID, "notice").text)
        last = _shot(driver, tmp_path / "review-4-exported.png")
    finally:
        driver.quit()

    # The screenshots are real renders of the page: the full page is tall (4 + 1 cards with
    # posters), posters are not blank, the compare view shows both variants.
    for png in (first, compare_png, last):
        with Image.open(png) as im:
            assert im.width >= 1000 and im.height >= 900
            colours = im.convert("RGB").resize((64, 64)).getcolors(64 * 64) or []
            assert len(colours) > 50, png  # not a blank page

    with rv.client("platform") as p:
        csv_text = p.get(f"/v1/campaigns/{CAMPAIGN}/export", params={"format": "csv"}).text
        assert {line.split(",")[0] for line in csv_text.splitlines()[1:]} == {"a1", "b2"}
        z = zipfile.ZipFile(io.BytesIO(p.get(f"/v1/campaigns/{CAMPAIGN}/export", params={"format": "zip"}).content))
        names = set(z.namelist())
        assert {"approved.csv", "a1/9x16.mp4", "a1/1x1.mp4", "b2/9x16.mp4"} <= names
        assert {"b2/1x1.poster.jpg", "b2/1x1.poster.png"} & names
        assert not any(n.startswith("c3/") for n in names)
        assert z.read("a1/9x16.mp4")[4:8] == b"ftyp"


def test_static_gallery_opens_from_disk(rv: Review, tmp_path: Path) -> None:
    """The same page written next to the campaign's files opens from file:// with filters working."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    (folder,) = (rv.data_dir / "campaigns").glob(f"{CAMPAIGN}.*")  # the tenant-scoped internal id
    index = folder / "index.html"
    assert index.is_file() and (index.parent / "review.js").is_file()
    driver = _driver(tmp_path)
    try:
        driver.get(index.as_uri())
        assert "of 5 shown" in driver.find_element(By.ID, "shown").text
        assert not driver.find_elements(By.CSS_SELECTOR, ".approve")  # no API here: read-only
        Select(driver.find_element(By.ID, "f-status")).select_by_value("invalid")
        assert driver.find_element(By.ID, "shown").text.startswith("1 of 5")
        Select(driver.find_element(By.ID, "f-status")).select_by_value("")
        assert _assert_reasons_readable(driver) >= 4 * 8
        _shot(driver, tmp_path / "gallery-disk.png")
    finally:
        driver.quit()


REPO = Path(__file__).resolve().parents[3]
TEAM_CATALOGUE = """
products:
  - sku: KITE-01
    name: {en: Harbour Kite, vi: Diều Bến Cảng}
    category: toys
    prices: {VND: 99000, USD: 6.0, GBP: 5.0}
    image: kite.png
    mask: kite.mask.png
    colourways: {Lotus Pink: "#D9467A", Jade: "#1F9E6E", Sunflower: "#F2B705"}
    features: {en: flies in light wind, vi: bay cả khi gió nhẹ}
"""
TEAM_SPEC = """
campaign_id: team-kite
catalogue: catalogue.yaml
copy: copy.yaml
audience: audience.csv
template: promo.yaml
formats: ["9:16"]
size: tiny
"""


def _team_parts(catalogue: str = TEAM_CATALOGUE, template: str | None = None) -> list[tuple[str, Any]]:
    # An uploaded template names shipped media by registry name ('music/x.wav', 'media/x.png').
    tpl = template if template is not None else \
        (REPO / "assets/templates/product_promo.yaml").read_text("utf-8").replace("../music/", "music/")
    images = REPO / "assets/demo/images"
    return [
        ("spec", ("campaign.yaml", TEAM_SPEC.encode())),
        ("audience", ("audience.csv", b"customer_id,first_name,age,location,viewed,channel\n"
                                      b"k1,Kim,29,Hanoi,KITE-01:Jade,tiktok\n")),
        ("catalogue", ("catalogue.yaml", catalogue.encode())),
        ("copy", ("copy.yaml", (REPO / "assets/demo/copy.yaml").read_bytes())),
        ("template", ("promo.yaml", tpl.encode())),
        ("images", ("kite.png", (images / "tee-lotus.png").read_bytes(), "image/png")),
        ("images", ("kite.mask.png", (images / "tee-lotus.mask.png").read_bytes(), "image/png")),
    ]


def test_campaign_with_the_teams_own_files(rv: Review) -> None:
    """Catalogue, copy deck, template and images uploaded with the campaign; nothing under the
    server's assets/ is named by the spec; files the uploads point at must be uploads too."""
    with rv.client("creator") as c:
        dry = c.post("/v1/campaigns", params={"dry_run": "true"}, files=_team_parts())
        assert dry.status_code == 200, dry.text
        assert dry.json()["dry_run"] is True and dry.json()["planned"] == 1
        assert c.get("/v1/campaigns/team-kite").status_code == 404  # a dry run starts nothing
        bad = c.post("/v1/campaigns", files=_team_parts(TEAM_CATALOGUE.replace("kite.png", "../../../etc/passwd")))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "catalogue.products[0].image"
        evil = "name: x\nscenes:\n  - {id: a, duration: 1, layers: [{type: image, src: /etc/passwd}]}\n"
        bad = c.post("/v1/campaigns", files=_team_parts(template=evil))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "spec.template: scenes[0].layers[0].src"
        # The catalogue again by asset id (an earlier upload), the rest as parts: a real render.
        cat_id = c.post("/v1/assets", files={"file": ("catalogue.yaml", TEAM_CATALOGUE.encode())}).json()["id"]
        parts = [p for p in _team_parts() if p[0] != "catalogue"]
        started = c.post("/v1/campaigns", files=parts, data={"catalogue_asset": cat_id})
        assert started.status_code == 202, started.text
        _wait_done(c, "team-kite", timeout=240)
        ad = c.get("/v1/campaigns/team-kite/ads/k1").json()
        assert ad["status"] == "done" and ad["sku"] == "KITE-01" and ad["product_name"] == "Diều Bến Cảng"  # Hanoi: Vietnamese
        assert ad["colourway"] == "Jade"
        assert c.get(ad["assets"]["9:16.video"]["url"]).content[4:8] == b"ftyp"
        job = c.get(f"/v1/jobs/{ad['job_id']}").json()
        assert "Diều Bến Cảng" in json.dumps(job["params"], ensure_ascii=False)
        assert c.delete("/v1/campaigns/team-kite").status_code == 200


def test_delete_campaign_removes_ads_assets_and_audience(rv: Review) -> None:
    with rv.client("creator") as c, rv.client("platform") as p:
        ads = p.get(f"/v1/campaigns/{CAMPAIGN}/ads", params={"status": "done"}).json()["items"]
        video = ads[0]["assets"]["9:16.video"]["url"]
        assert p.get(video).status_code == 200
        (audience,) = [f for f in (rv.data_dir / "api-uploads").rglob("*.csv") if "Dee" in f.read_text("utf-8")]
        assert p.delete(f"/v1/campaigns/{CAMPAIGN}").status_code == 403
        out = c.delete(f"/v1/campaigns/{CAMPAIGN}")
        assert out.status_code == 200, out.text
        body = out.json()
        assert body["deleted"] and body["audience_deleted"] and body["jobs_deleted"] >= 4
        assert body["assets_deleted"] >= 16  # 4 ads x 2 formats x (video, poster) at least
        assert c.get(f"/v1/campaigns/{CAMPAIGN}").status_code == 404
        assert p.get(video).status_code == 404
        assert not list((rv.data_dir / "campaigns").glob(f"{CAMPAIGN}.*"))
        assert not audience.exists()
        assert c.get("/v1/jobs", params={"campaign_id": CAMPAIGN}).json()["items"] == []
        # Nothing personal is left in any file under the data dir (names, messages, cities).
        leftovers = subprocess.run(["grep", "-rlaF", "-e", "Dee", "-e", "love it", "-e", "Zed", str(rv.data_dir)],
                                   capture_output=True, text=True).stdout.split()
        assert leftovers == [], leftovers
