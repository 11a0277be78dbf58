"""The worker actors enforce references and limits themselves: a job that reached the queue by
any route (an old record, a hand-written spec, a bug upstream) still cannot make a worker open a
server path or exceed a limit. Actors run in-process here (the same ``run`` Ray calls)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageDraw

from pipelines._common.data import ASSETS_DIR
from workers.actors.recolor import RecolorActor
from workers.actors.video import VideoActor
from workers.actors.voice import VoiceActor
from workers.limits import Limits
from workers.storage import LocalAssetStore


def _payload(kind: str, params: dict[str, Any], inputs: dict[str, str] | None = None,
             limits: Limits | None = None, deps: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"job_id": "j_test", "fence": 1, "kind": kind, "params": params, "inputs": inputs or {},
            "deps": deps or {}, "limits": (limits or Limits()).to_dict()}


def _product(store: LocalAssetStore, size: int = 64) -> str:
    img = Image.new("RGB", (size, size), (245, 245, 245))
    ImageDraw.Draw(img).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(200, 40, 40))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return store.put(buf.getvalue(), "image/png").id


def _error(out: dict[str, Any]) -> dict[str, Any]:
    assert out["ok"] is False, out
    return dict(out["error"])


def test_recolor_actor_applies_pixel_and_target_limits_and_refuses_paths(tmp_path: Path) -> None:
    store = LocalAssetStore(tmp_path / "assets")
    actor = RecolorActor("recolor", {}, str(store.root))
    image = _product(store)
    ok = actor.run(_payload("recolor", {"to_colors": ["#1f3a93"]}, {"image": image}))
    assert ok["ok"] is True and store.exists(ok["outputs"]["image"])
    err = _error(actor.run(_payload("recolor", {"to_colors": ["#1f3a93"]}, {"image": image},
                                    Limits(max_image_pixels=64 * 64 - 1))))
    assert "limits.max_image_pixels" in err["message"] and err["field"] == "inputs.image"
    assert err["retryable"] is False
    err = _error(actor.run(_payload("recolor", {"to_colors": ["#111111", "#222222"]}, {"image": image},
                                    Limits(max_recolor_targets=1))))
    assert "limits.max_recolor_targets" in err["message"] and err["field"] == "params.to_colors"
    err = _error(actor.run(_payload("recolor", {"to_colors": ["#111111"], "mask": "/etc/passwd"}, {"image": image})))
    assert err["field"] == "params.mask"


def test_voice_actor_applies_the_script_limit(tmp_path: Path) -> None:
    actor = VoiceActor("voice", {}, str(tmp_path / "assets"))
    err = _error(actor.run(_payload("voice", {"text": "Hello there, friend.", "accent": "en-us"},
                                    limits=Limits(max_script_chars=10))))
    assert "limits.max_script_chars" in err["message"] and err["field"] == "params.text"
    err = _error(actor.run(_payload("voice", {"text": "Hi", "accent": "en-us", "speaker_wav": "/etc/x.wav"})))
    assert err["field"] == "params.speaker_wav"


def _template_asset(store: LocalAssetStore, **changes: Any) -> str:
    raw = yaml.safe_load((Path(ASSETS_DIR) / "templates" / "bumper_6s.yaml").read_text(encoding="utf-8"))
    raw["audio"]["music"]["src"] = "music/bed_upbeat.wav"
    raw.update(changes)
    return store.put(yaml.safe_dump(raw).encode(), "application/yaml").id


def test_video_actor_refuses_paths_foreign_assets_and_oversized_templates(tmp_path: Path) -> None:
    store = LocalAssetStore(tmp_path / "assets")
    actor = VideoActor("video", {}, str(store.root))
    data = {"product": {"name": "X", "price": 1}}
    # A server path as the template, or as the output folder / file name.
    for params, field in (
        ({"template": "/etc/passwd", "data": data}, "params.template"),
        ({"template": "../../../configs/default", "data": data}, "params.template"),
        ({"template": "bumper_6s", "data": data, "out_dir": str(tmp_path / "x")}, "params.out_dir"),
        ({"template": "bumper_6s", "data": data, "basename": "../../x"}, "params.basename"),
        ({"template": "bumper_6s", "data": data, "music": "/etc/passwd"}, "params.music"),
    ):
        assert _error(actor.run(_payload("render_ad", params)))["field"] == field
    assert not (tmp_path / "x").exists()
    # A template that uses an asset the job was not given (another tenant's upload, say).
    foreign = _product(store, 40)
    tid = _template_asset(store)
    raw = yaml.safe_load(store.path(tid).read_text(encoding="utf-8"))
    raw["scenes"][0]["layers"][0]["src"] = foreign
    tid = store.put(yaml.safe_dump(raw).encode(), "application/yaml").id
    err = _error(actor.run(_payload("render_ad", {"data": data}, {"template": tid})))
    assert err["field"] == "inputs.template: scenes[0].layers[0].src"
    # 2000 scenes x 300 s dry-runs as nothing: refused before a single frame.
    big = _template_asset(store, scenes=[{"id": f"s{i}", "duration": 300} for i in range(2000)])
    err = _error(actor.run(_payload("render_ad", {"data": data}, {"template": big})))
    assert "limits.max_scenes" in err["message"] and err["field"] == "inputs.template"
    err = _error(actor.run(_payload("render_ad", {"template": "bumper_6s", "data": data, "scale": 3.0})))
    assert "limits.max_canvas_pixels" in err["message"] and err["field"] == "params.scale"
    err = _error(actor.run(_payload("render_ad", {"template": "bumper_6s", "data": data},
                                    limits=Limits(max_template_seconds=5))))
    assert "limits.max_template_seconds" in err["message"]


def test_video_actor_renders_an_uploaded_template_with_its_own_assets(tmp_path: Path) -> None:
    """The allowed path end to end: registry names + an asset the job carries as an input."""
    store = LocalAssetStore(tmp_path / "assets")
    actor = VideoActor("video", {}, str(store.root))
    logo = _product(store, 48)
    raw = yaml.safe_load((Path(ASSETS_DIR) / "templates" / "bumper_6s.yaml").read_text(encoding="utf-8"))
    raw["audio"]["music"]["src"] = "music/bed_upbeat.wav"
    raw["scenes"][0]["layers"][1]["src"] = logo  # the logo layer shows the caller's own upload
    tid = store.put(yaml.safe_dump(raw).encode(), "application/yaml").id
    out = actor.run(_payload("render_ad", {"data": {"product": {"name": "Áo", "price": 199000}}, "formats": ["1:1"],
                                           "scale": 0.125, "fps": 6, "captions": "none"},
                             {"template": tid, "media.0": logo}))
    assert out["ok"] is True, out
    video = store.path(out["outputs"]["1:1.video"])
    assert video.stat().st_size > 1000 and video.read_bytes()[4:8] == b"ftyp"
