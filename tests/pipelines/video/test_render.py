"""End-to-end renders at 180x320 / 10 fps: pixels, durations, streams, audio, captions, formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines._common.errors import PipelineInputError
from pipelines.video.audio_mix import SR
from pipelines.video.config import VideoAdParams, Voiceover
from pipelines.video.ffmpeg import count_frames, decode_audio, grab_frame
from pipelines.video.pipeline_video_ad import VideoAdPipeline
from pipelines.video.template import template_from_dict

from .conftest import DATA, FPS, MUSIC_HZ, SCALE, SENTENCES, WORDS, tiny_template
from .test_audio_captions import tone_level


def near(px: np.ndarray, rgb: tuple[int, int, int], tol: int = 24) -> bool:
    return bool(np.all(np.abs(px.astype(int) - np.array(rgb)) <= tol))


@pytest.fixture(scope="module")
def pipe() -> VideoAdPipeline:
    return VideoAdPipeline()


def _tpl(media, **over):
    return template_from_dict(tiny_template(**over), base_dir=media["dir"].parent)


def test_render_pixels_streams_audio_captions(media, tmp_path: Path, pipe):
    stages: list[str] = []
    vo = Voiceover.from_timings(media["voice"], SENTENCES, WORDS)
    raw = tiny_template()
    raw["scenes"][1]["duration"] = "auto"  # follows the voiceover
    tpl = template_from_dict(raw, base_dir=media["dir"].parent)
    out = pipe(
        tpl,
        VideoAdParams(
            data=DATA,
            out_dir=tmp_path / "out",
            voiceover=vo,
            product_image=media["product"],
            scale=SCALE,
            captions="words",
            basename="t",
            progress=lambda s, f: stages.append(s),
        ),
    )
    (r,) = out.renders
    m = r.metadata
    assert r.video_path == tmp_path / "out" / "t_9x16.mp4" and r.video_path.is_file()
    assert {"compose", "encode"} <= set(stages)
    # Durations: scene 2 is auto = voice (3.2 s) + 0.6 s tail - scene 1 (1 s) = 2.8 s.
    assert m["scene_durations"] == [1.0, pytest.approx(2.8)]
    assert m["duration"] == pytest.approx(3.8, abs=0.06)
    assert count_frames(r.video_path) == round(3.8 * FPS)
    # Streams and container.
    v = next(s for s in m["streams"] if s["type"] == "video")
    a = next(s for s in m["streams"] if s["type"] == "audio")
    assert (v["codec"], v["profile"], v["pix_fmt"], v["width"], v["height"], v["fps"]) == (
        "h264",
        "High",
        "yuv420p",
        180,
        320,
        FPS,
    )
    assert (a["codec"], a["sample_rate"], a["channels"]) == ("aac", 48000, "stereo")
    assert m["faststart"] is True
    assert m["loudness"]["integrated_lufs"] == pytest.approx(-16, abs=1.0)
    assert m["loudness"]["true_peak_dbtp"] <= -0.5
    assert not list((tmp_path / "out").glob(".*")), "temp files left behind"
    # Pixels at known times: scene 1 red box top-left on blue; scene 2 green bottom-right on white.
    f1 = grab_frame(r.video_path, 0.5)
    assert near(f1[20, 20], (255, 0, 0)) and near(f1[300, 170], (0, 0, 255))
    f2 = grab_frame(r.video_path, 2.0)
    assert near(f2[300, 170], (0, 200, 0)) and near(f2[170, 20], (255, 255, 255))
    # Product slot (magenta) inside the safe area's top-left box.
    assert near(f2[int(0.14 * 320) + 20, 40], (255, 0, 255), tol=40)
    # Fade-in: the greeting text is absent at t=0 and present at 0.5 s (white-ish pixels in its band).
    band0 = grab_frame(r.video_path, 0.0)[150:200].astype(int)
    band1 = f1[150:200].astype(int)
    assert (band0.min(axis=2) > 200).sum() == 0 and (band1.min(axis=2) > 200).sum() > 50
    # Burned-in caption: during "chào" the caption band has the highlight yellow.
    fc = grab_frame(r.video_path, 0.3 + 0.7)
    cap = fc[int(0.14 * 320 + 0.78 * 0.66 * 320) :]
    yellow = (cap[..., 0] > 200) & (cap[..., 1] > 170) & (cap[..., 2] < 90)
    assert yellow.sum() > 5
    # Sidecar captions with the voice offset (0.3 s).
    assert r.vtt_path and r.vtt_path.read_text(encoding="utf-8").startswith(
        "WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.700\nXin chào Hương!"
    )
    assert r.srt_path and "00:00:02,300 --> 00:00:03,100" in r.srt_path.read_text(encoding="utf-8")
    # Audio present and ducked: the 220 Hz bed is quieter under words than after the voice ends.
    audio = decode_audio(r.video_path).mean(axis=1)
    under = tone_level(audio[int(1.3 * SR) : int(1.6 * SR)], MUSIC_HZ)
    clear = tone_level(audio[int(3.55 * SR) : int(3.75 * SR)], MUSIC_HZ)
    assert clear > 0.005 and 20 * np.log10(under / clear) < -10
    # Poster: real PNG bytes in a .png file, and JSON-able metadata.
    from PIL import Image

    with Image.open(r.poster_path) as im:
        assert r.poster_path.suffix == ".png" and im.format == "PNG" and im.size == (180, 320)
    json.dumps(out.to_dict())


def test_multi_format_sizes_and_layout(media, tmp_path: Path, pipe):
    out = pipe(
        _tpl(media),
        VideoAdParams(
            data=DATA,
            out_dir=tmp_path,
            formats=["9:16", "1:1", "4:5", "16:9"],
            product_image=media["product"],
            scale=SCALE,
            quality="draft",
        ),
    )
    sizes = {r.format: (r.metadata["width"], r.metadata["height"]) for r in out.renders}
    assert sizes == {"9:16": (180, 320), "1:1": (180, 180), "4:5": (180, 224), "16:9": (320, 180)}
    for r in out.renders:
        assert r.metadata["duration"] == pytest.approx(2.0, abs=0.06)
        w, h = r.metadata["width"], r.metadata["height"]
        f = grab_frame(r.video_path, 0.5)
        assert near(f[h // 8, w // 4], (255, 0, 0)), r.format  # red: top-left quarter, full-canvas box
        assert near(f[h - 3, w - 3], (0, 0, 255)), r.format
        assert r.vtt_path is None  # no voiceover -> no captions


def test_customers_share_cached_scenes(media, tmp_path: Path):
    pipe = VideoAdPipeline()
    tpl = _tpl(media)
    params = dict(out_dir=tmp_path, product_image=media["product"], scale=SCALE, quality="draft")
    pipe(tpl, VideoAdParams(data=DATA, basename="a", **params))
    misses = pipe.cache.misses
    hits = pipe.cache.hits
    out = pipe(tpl, VideoAdParams(data={**DATA, "customer": {"first_name": "Lan"}}, basename="b", **params))
    # Only the greeting sprite differs; scene backgrounds and the other sprites come from the cache.
    assert pipe.cache.misses - misses == 1
    assert pipe.cache.hits - hits >= 4
    assert out.renders[0].video_path.name == "b_9x16.mp4"


def test_bad_inputs_report_all_errors_at_once(media, tmp_path: Path, pipe):
    raw = tiny_template()
    raw["scenes"][1]["layers"][0]["src"] = "media/missing.png"
    tpl = template_from_dict(raw, base_dir=media["dir"].parent)
    with pytest.raises(PipelineInputError) as exc:
        pipe(
            tpl,
            VideoAdParams(
                data={"customer": {}},
                out_dir=tmp_path / "out",
                formats=["9:16", "9x16"],
                quality="ultra",
                captions="karaoke",
                scale=SCALE,
            ),
        )
    msg = exc.value.message
    for needle in (
        "unknown format '9x16'",
        "unknown quality 'ultra'",
        "unknown caption style 'karaoke'",
        "media file not found: media/missing.png",
        "merge field 'product.price' has no value",
        "product slot has no image",
    ):
        assert needle in msg, needle
    assert not (tmp_path / "out").exists(), "nothing may be written for a rejected request"


def test_transitions_video_layer_and_sfx(tmp_path: Path, pipe, media):
    import subprocess

    from pipelines.video.ffmpeg import ffmpeg_exe

    clip = media["dir"] / "clip.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=0xFFFF00:s=64x64:r=10:d=0.5",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        check=True,
    )
    raw = tiny_template()
    raw["scenes"][0]["layers"].insert(0, {"type": "video", "src": "media/clip.mp4", "region": "full", "loop": True})
    raw["scenes"][1]["transition"] = {"type": "crossfade", "duration": 0.5}
    raw["audio"]["sfx"] = [{"src": "media/voice.wav", "scene": "two", "at": 0.0}]
    out = pipe(
        template_from_dict(raw, base_dir=media["dir"].parent),
        VideoAdParams(data=DATA, out_dir=tmp_path, product_image=media["product"], scale=SCALE),
    )
    path = out.renders[0].video_path
    f = grab_frame(path, 0.8)  # looping yellow clip under the red box
    assert near(f[300, 170], (255, 255, 0)) and near(f[20, 20], (255, 0, 0))
    mid = grab_frame(path, 1.2)[170, 20].astype(int)  # crossfade yellow -> white at 40 %
    assert mid[0] >= 230 and 60 <= mid[2] <= 200
    assert near(grab_frame(path, 1.7)[170, 20], (255, 255, 255))


def test_full_hd_vertical_render(tmp_path: Path, pipe, media):
    raw = tiny_template()
    raw["scenes"] = raw["scenes"][:1]
    raw["scenes"][0]["duration"] = 0.5
    out = pipe(template_from_dict(raw, base_dir=media["dir"].parent), VideoAdParams(data=DATA, out_dir=tmp_path))
    m = out.renders[0].metadata
    assert (m["width"], m["height"], m["fps"]) == (1080, 1920, 10)
    f = grab_frame(out.renders[0].video_path, 0.4)
    assert near(f[200, 200], (255, 0, 0)) and near(f[1800, 1000], (0, 0, 255))
    assert any(c["spec"] for c in m["spec_checks"]) or "tiktok" not in m["compatible_specs"]  # 0.5 s < 5 s


def test_segment_reuse_across_customers(media, tmp_path: Path):
    from pipelines.video.config import VideoConfig

    raw = tiny_template()
    raw["scenes"][1]["transition"] = {"type": "slide_left", "duration": 0.3}
    raw["scenes"].append({"id": "three", "duration": 0.5, "background": "#00FF00"})
    tpl = template_from_dict(raw, base_dir=media["dir"].parent)
    params = dict(out_dir=tmp_path, product_image=media["product"], scale=SCALE)
    with VideoAdPipeline(VideoConfig(reuse_segments=True)) as pipe:
        a = pipe(tpl, VideoAdParams(data=DATA, basename="a", **params)).renders[0]
        b = pipe(tpl, VideoAdParams(data={**DATA, "customer": {"first_name": "Lan"}}, basename="b", **params))
        b = b.renders[0]
        assert a.metadata["timing"]["reused"] == 0
        # scene 1 (name) + scene 2's transition (shows scene 1) re-encode; scene 2 body and 3 are reused.
        assert b.metadata["timing"]["segments"] == 4 and b.metadata["timing"]["reused"] == 2
    for r in (a, b):
        assert count_frames(r.video_path) == 25
        assert r.metadata["duration"] == pytest.approx(2.5, abs=0.06)
        assert near(grab_frame(r.video_path, 1.6)[300, 170], (0, 200, 0))
        assert near(grab_frame(r.video_path, 2.3)[100, 100], (0, 255, 0))
    band_a = grab_frame(a.video_path, 0.6)[150:200].astype(int)
    band_b = grab_frame(b.video_path, 0.6)[150:200].astype(int)
    assert np.abs(band_a - band_b).mean() > 2  # the personalized greeting differs
    assert np.abs(grab_frame(a.video_path, 1.8).astype(int) - grab_frame(b.video_path, 1.8).astype(int)).max() < 8


def test_ken_burns_full_canvas_and_boxed(media, tmp_path: Path, pipe):
    from PIL import Image

    img = media["dir"] / "halves.png"  # left half red, right half blue: zoom keeps the split centred
    arr = np.zeros((320, 180, 3), np.uint8)
    arr[:, :90] = (255, 0, 0)
    arr[:, 90:] = (0, 0, 255)
    Image.fromarray(arr).save(img)
    raw = tiny_template()
    raw["scenes"] = [
        {
            "id": "kb",
            "duration": 1.0,
            "layers": [
                {"type": "image", "src": "media/halves.png", "region": "full", "ken_burns": {"zoom_to": 1.5}},
                {
                    "type": "image",
                    "src": "media/green.png",
                    "region": "full",
                    "box": {"x": 0.75, "y": 0.75, "w": 0.25, "h": 0.25},
                    "ken_burns": {"zoom_to": 1.2},
                },
            ],
        }
    ]
    out = pipe(
        template_from_dict(raw, base_dir=media["dir"].parent), VideoAdParams(data={}, out_dir=tmp_path, scale=SCALE)
    )
    path = out.renders[0].video_path
    for t in (0.0, 0.9):
        f = grab_frame(path, t)
        assert near(f[100, 30], (255, 0, 0)) and near(f[100, 120], (0, 0, 255)) and near(f[300, 170], (0, 200, 0))
    # At 1.5x zoom the boundary stays at the centre; a pixel 20 px left of it is still red.
    assert near(grab_frame(path, 0.9)[100, 70], (255, 0, 0))
