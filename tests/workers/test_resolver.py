"""workers.resolver: references are asset ids or registry names, never server paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines._common.data import ASSETS_DIR
from workers.jobs.models import JobSpec
from workers.resolver import (
    RefError,
    Registry,
    Resolver,
    check_job_params,
    check_name,
    ingest_template,
    prepare_job,
)
from workers.storage import LocalAssetStore

PATHS = [
    "/etc/passwd",
    "../../../../etc/passwd",
    "media/../../../configs/default.yaml",
    str(ASSETS_DIR.parent / "configs" / "default.yaml"),
    "~/secret",
    "file:///etc/passwd",
    "C:\\Windows\\win.ini",
    "media\\logo.png",
    "bed\x00.wav",
    "",
]


@pytest.mark.parametrize("ref", PATHS)
def test_names_that_are_paths_are_refused_naming_the_field(ref: str) -> None:
    with pytest.raises(RefError) as err:
        check_name(ref, "params.template")
    assert err.value.field == "params.template"
    assert "not allowed" in err.value.message


def test_registry_lists_and_resolves_shipped_files() -> None:
    reg = Registry.default()
    assert {"product_promo", "bumper_6s", "regional_greeting"} <= set(reg.templates())
    assert "bed_upbeat" in reg.music()
    assert reg.template("product_promo", "t") == (ASSETS_DIR / "templates" / "product_promo.yaml").resolve()
    assert reg.template("product_promo.yaml", "t").name == "product_promo.yaml"
    assert reg.music_file("bed_upbeat", "m").name == "bed_upbeat.wav"
    assert reg.music_file("music/bed_upbeat.wav", "m").name == "bed_upbeat.wav"
    assert reg.media("media/logo.png", "src").name == "logo.png"
    assert reg.data_file("demo/catalogue.yaml", "spec.catalogue").name == "catalogue.yaml"
    assert "Bold" in reg.fonts()
    with pytest.raises(RefError) as err:
        reg.template("nope", "params.template")
    assert err.value.field == "params.template" and "product_promo" in err.value.message


def test_symlink_out_of_the_registry_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    (root / "templates" / "media").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    (root / "templates" / "media" / "evil.png").symlink_to(secret)
    with pytest.raises(RefError):
        Registry(root).media("media/evil.png", "src")


def _upload_template(store: LocalAssetStore, srcs: dict[str, str]) -> str:
    raw = yaml.safe_load((ASSETS_DIR / "templates" / "bumper_6s.yaml").read_text(encoding="utf-8"))
    raw["audio"]["music"]["src"] = srcs.get("music", "music/bed_upbeat.wav")
    raw["scenes"][0]["layers"][0]["src"] = srcs.get("video", "media/stripes.mp4")
    return store.put(yaml.safe_dump(raw).encode(), "application/yaml", filename="t.yaml").id


@pytest.mark.parametrize("bad", ["/etc/passwd", "../music/bed_upbeat.wav", "../../../../etc/hostname"])
def test_uploaded_template_src_must_be_a_name_or_asset_id(tmp_path: Path, bad: str) -> None:
    store = LocalAssetStore(tmp_path / "assets")
    tid = _upload_template(store, {"music": bad})
    with pytest.raises(RefError) as err:
        Resolver(store).load_template(tid, "inputs.template")
    assert err.value.field == "inputs.template: audio.music.src"


def test_template_media_map_covers_merged_srcs_and_foreign_assets_are_refused(tmp_path: Path) -> None:
    store = LocalAssetStore(tmp_path / "assets")
    mine = store.put(b"\x89PNG mine", "image/png").id
    theirs = store.put(b"\x89PNG theirs", "image/png").id
    tid = _upload_template(store, {"video": "{{bg}}"})
    # The merged value of a merge field is a reference like any other.
    owned = Resolver(store, allowed_assets={tid, mine})
    tpl = owned.load_template(tid, "inputs.template", {"bg": mine})
    assert tpl.media is not None and tpl.media[mine] == store.path(mine)
    assert set(tpl.media) == {mine, "music/bed_upbeat.wav", "media/logo.png"} | {
        s for s in tpl.media if s.startswith("media/")
    }
    with pytest.raises(RefError) as err:
        owned.load_template(tid, "inputs.template", {"bg": theirs})
    assert err.value.field == "inputs.template: scenes[0].layers[0].src" and "this tenant" in err.value.message
    with pytest.raises(RefError):
        owned.load_template(tid, "inputs.template", {"bg": "/etc/passwd"})


def test_shipped_template_may_use_its_relative_media_but_merge_data_may_not(tmp_path: Path) -> None:
    tpl = Resolver().load_template("product_promo", "params.template", {})
    assert tpl.media is not None
    music = tpl.media["../music/bed_upbeat.wav"]
    assert music == (ASSETS_DIR / "music" / "bed_upbeat.wav").resolve()
    assert all(p.is_relative_to(ASSETS_DIR.resolve()) for p in tpl.media.values())


def test_resolve_asset_uses_only_the_media_map(tmp_path: Path) -> None:
    from pipelines.video.template import resolve_asset

    tpl = Resolver().load_template("bumper_6s", "params.template", {})
    assert resolve_asset("media/logo.png", tpl) is not None
    outside = tmp_path / "x.png"
    outside.write_bytes(b"x")
    assert resolve_asset(str(outside), tpl) is None  # exists on disk, but is not in the map


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("render_ad", {"template": "bumper_6s", "out_dir": "/tmp/x"}, "params.out_dir"),
        ("render_ad", {"template": "bumper_6s", "product_image": "/etc/passwd"}, "params.product_image"),
        ("render_ad", {"template": "bumper_6s", "basename": "../../x"}, "params.basename"),
        ("render_ad", {"template": "/etc/passwd"}, "params.template"),
        ("render_ad", {"template": "bumper_6s", "music": "/etc/passwd"}, "params.music"),
        ("render_ad", {"template": "bumper_6s", "recolor": {"to_colors": ["#fff"], "mask": "/etc/x"}},
         "params.recolor.mask"),
        ("render_ad", {"template": "bumper_6s", "voice": {"text": "hi", "speaker_wav": "/etc/x"}},
         "params.voice.speaker_wav"),
        ("recolor", {"to_colors": ["#fff"], "onnx_model": "/etc/x"}, "params.onnx_model"),
        ("voice", {"text": "hi", "speaker_wav": "../x.wav"}, "params.speaker_wav"),
        ("voice", {"text": "hi", "voice": "../../../etc/passwd"}, "params.voice"),
        ("render_ad", {"template": "bumper_6s", "voice": {"text": "hi", "voice": "/etc/passwd"}},
         "params.voice.voice"),
    ],
)
def test_path_like_params_are_refused(kind: str, params: dict, field: str) -> None:
    with pytest.raises(RefError) as err:
        check_job_params(kind, params)
    assert err.value.field == field


def test_prepare_job_adds_template_media_assets_to_inputs(tmp_path: Path) -> None:
    store = LocalAssetStore(tmp_path / "assets")
    bg = store.put(b"\x89PNG bg", "image/png").id
    tid = _upload_template(store, {"video": bg})
    spec = JobSpec(kind="render_ad", params={"data": {}}, inputs={"template": tid})
    out = prepare_job(spec, Resolver(store))
    assert out.inputs == {"template": tid, "media.0": bg}
    assert prepare_job(out, Resolver(store)).inputs == out.inputs  # idempotent
    # A tenant that does not own bg cannot use it through a template either.
    with pytest.raises(RefError) as err:
        prepare_job(spec, Resolver(store, owns=lambda a: a == tid))
    assert err.value.field == "inputs.template: scenes[0].layers[0].src"


def test_cli_ingests_a_local_template_with_its_media(tmp_path: Path) -> None:
    store = LocalAssetStore(tmp_path / "assets")
    folder = tmp_path / "mine"
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "bg.mp4").write_bytes((ASSETS_DIR / "templates" / "media" / "stripes.mp4").read_bytes())
    raw = yaml.safe_load((ASSETS_DIR / "templates" / "bumper_6s.yaml").read_text(encoding="utf-8"))
    raw["scenes"][0]["layers"][0]["src"] = "media/bg.mp4"
    raw["audio"]["music"]["src"] = "music/bed_upbeat.wav"
    (folder / "t.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    tid = ingest_template(folder / "t.yaml", store)
    stored = yaml.safe_load(store.path(tid).read_text(encoding="utf-8"))
    bg = stored["scenes"][0]["layers"][0]["src"]
    assert store.path(bg).read_bytes() == (folder / "media" / "bg.mp4").read_bytes()
    tpl = Resolver(store).load_template(tid, "inputs.template")
    assert tpl.media is not None and tpl.media[bg] == store.path(bg)
