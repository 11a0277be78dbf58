"""The CLI (a local user) stores the files it is given and submits asset ids; a name that is
neither a local file nor a registry name is refused with exit 2 naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from pipelines._common.data import ASSETS_DIR
from workers.cli import app
from workers.runtime import Runtime
from workers.settings import load_settings
from workers.storage import LocalAssetStore

runner = CliRunner()


def test_submit_ad_ingests_a_local_template_and_its_media(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    monkeypatch.setenv("MAYDO_DATA_DIR", str(data))
    folder = tmp_path / "mine"
    (folder / "media").mkdir(parents=True)
    logo = (Path(ASSETS_DIR) / "templates" / "media" / "logo.png").read_bytes()
    (folder / "media" / "brand.png").write_bytes(logo)
    raw = yaml.safe_load((Path(ASSETS_DIR) / "templates" / "bumper_6s.yaml").read_text(encoding="utf-8"))
    raw["scenes"][0]["layers"][1]["src"] = "media/brand.png"  # next to the user's template
    raw["audio"]["music"]["src"] = "music/bed_upbeat.wav"  # a registry name
    (folder / "promo.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    res = runner.invoke(app, ["submit", "ad", "--template", str(folder / "promo.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    job = json.loads(res.output)
    store = LocalAssetStore(data / "assets")
    tid = job["inputs"]["template"]
    assert "template" not in job["params"]  # no path travels in the job
    stored = yaml.safe_load(store.path(tid).read_text(encoding="utf-8"))
    brand = stored["scenes"][0]["layers"][1]["src"]
    assert store.path(brand).read_bytes() == logo and job["inputs"]["media.0"] == brand
    # A registry name stays a name; a server path that is no local file is refused, exit 2.
    res = runner.invoke(app, ["submit", "ad", "--template", "bumper_6s", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["params"]["template"] == "bumper_6s"
    missing = str(tmp_path / "nowhere" / ".." / "missing.yaml")  # absolute, and no local file
    res = runner.invoke(app, ["submit", "ad", "--template", missing])
    assert res.exit_code == 2 and "params.template" in res.output
    with Runtime(load_settings(env={}, overrides={"data_dir": str(data)})) as rt:
        for j in rt.list(kind="render_ad"):
            rt.cancel(j.id)
