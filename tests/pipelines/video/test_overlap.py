"""The non-frame work (audio mix/encode/loudness, poster) overlaps the frame streaming; the
metadata stays measured: duration, streams, loudness of the real file, a poster that is a frame."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.video import ffmpeg as ff
from pipelines.video.audio_mix import measure
from pipelines.video.config import VideoAdParams, VideoConfig, Voiceover
from pipelines.video.ffmpeg import count_frames, decode_audio, grab_frame
from pipelines.video.pipeline_video_ad import VideoAdPipeline
from pipelines.video.template import template_from_dict

from .conftest import DATA, FPS, SCALE, SENTENCES, WORDS, tiny_template


def _render(pipe: VideoAdPipeline, media, out: Path, basename: str = "t", data=DATA):
    tpl = template_from_dict(tiny_template(), base_dir=media["dir"].parent)
    vo = Voiceover.from_timings(media["short_voice"], SENTENCES[:1], WORDS[:3])
    params = VideoAdParams(
        data=data,
        out_dir=out,
        voiceover=vo,
        product_image=media["product"],
        scale=SCALE,
        captions="none",
        basename=basename,
    )
    return pipe(tpl, params).renders[0]


def _poster_vs_frames(r) -> tuple[float, float]:
    """Mean |poster - decoded frame| at the poster time, and in scene two (a different frame)."""
    with Image.open(r.poster_path) as im:
        poster = np.asarray(im.convert("RGB")).astype(int)
    at = grab_frame(r.video_path, r.metadata["timing"]["poster_time"]).astype(int)
    other = grab_frame(r.video_path, 1.5).astype(int)
    return float(np.abs(poster - at).mean()), float(np.abs(poster - other).mean())


def test_audio_job_overlaps_frames_and_metadata_is_measured(media, tmp_path: Path, monkeypatch):
    events: dict[str, object] = {}
    pipe = VideoAdPipeline()
    real_mix, real_close = pipe._mix, ff.FrameEncoder.close

    def mix(*a, **k):
        events.setdefault("mix_thread", threading.current_thread() is not threading.main_thread())
        events.setdefault("mix_started_before_close", "closed" not in events)
        return real_mix(*a, **k)

    def close(self):
        events["closed"] = True
        return real_close(self)

    monkeypatch.setattr(pipe, "_mix", mix)
    monkeypatch.setattr(ff.FrameEncoder, "close", close)
    r = _render(pipe, media, tmp_path / "out")
    assert events["mix_thread"] is True and events["mix_started_before_close"] is True
    m = r.metadata
    # Duration and streams from the file itself (ffmpeg -i of the final MP4).
    assert m["duration"] == pytest.approx(2.0, abs=0.06) and count_frames(r.video_path) == 2 * FPS
    kinds = sorted(s["type"] for s in m["streams"])
    assert kinds == ["audio", "video"]
    a = next(s for s in m["streams"] if s["type"] == "audio")
    assert (a["codec"], a["sample_rate"], a["channels"]) == ("aac", 48000, "stereo")
    assert m["faststart"] is True and m["fps"] == FPS
    # Loudness in the metadata = a real decode of the final file, measured independently.
    real = measure(decode_audio(r.video_path))
    assert m["loudness"]["integrated_lufs"] == pytest.approx(real["integrated_lufs"], abs=0.1)
    assert m["loudness"]["true_peak_dbtp"] == pytest.approx(real["true_peak_dbtp"], abs=0.1)
    assert m["loudness"]["integrated_lufs"] == pytest.approx(-16, abs=1.0)
    assert len(decode_audio(r.video_path)) == pytest.approx(2.0 * 48000, abs=1100)
    # The poster is the frame at poster_time (lossless PNG vs x264 noise), not another one.
    same, other = _poster_vs_frames(r)
    assert same < 3.0 and other > 10 * same, (same, other)
    # Timings are recorded; nothing is left in the output directory but the deliverables.
    t = m["timing"]
    assert t["audio_job_s"] > 0 and t["mux_s"] >= 0 and t["audio_wait_s"] >= 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["t_9x16.mp4", "t_9x16.png", "t_9x16.srt", "t_9x16.vtt"]


def test_encoded_audio_is_reused_across_customers(media, tmp_path: Path, monkeypatch):
    pipe = VideoAdPipeline()
    calls = []
    real_mix = pipe._mix
    monkeypatch.setattr(pipe, "_mix", lambda *a, **k: calls.append(1) or real_mix(*a, **k))
    a = _render(pipe, media, tmp_path, "a")
    b = _render(pipe, media, tmp_path, "b", data={**DATA, "customer": {"first_name": "Lan"}})
    assert len(calls) == 1  # same audio inputs: mixed, encoded and measured once
    assert b.metadata["loudness"] == a.metadata["loudness"]
    real = measure(decode_audio(b.video_path))
    assert b.metadata["loudness"]["integrated_lufs"] == pytest.approx(real["integrated_lufs"], abs=0.1)


def test_segment_reuse_path_metadata_and_poster(media, tmp_path: Path):
    with VideoAdPipeline(VideoConfig(reuse_segments=True)) as pipe:
        first = _render(pipe, media, tmp_path, "a")
        again = _render(pipe, media, tmp_path, "b")  # every segment cached: poster decoded from the MP4
        assert again.metadata["timing"]["reused"] == again.metadata["timing"]["segments"] > 0
    for r in (first, again):
        m = r.metadata
        assert m["duration"] == pytest.approx(2.0, abs=0.06) and count_frames(r.video_path) == 2 * FPS
        assert {s["type"] for s in m["streams"]} == {"audio", "video"} and m["faststart"] is True
        real = measure(decode_audio(r.video_path))
        assert m["loudness"]["integrated_lufs"] == pytest.approx(real["integrated_lufs"], abs=0.1)
        same, other = _poster_vs_frames(r)
        assert same < 3.0 and other > 10 * same, (same, other)


def test_soundtrack_cache_survives_a_campaign_voice_cycle(media, tmp_path: Path, monkeypatch):
    """A campaign cycles through its distinct voiceovers (customers grouped by script x accent);
    the soundtrack cache must hold the whole cycle, not thrash on it (a 4-entry LRU got 0 hits)."""
    import soundfile as sf

    audio, sr = sf.read(media["short_voice"])  # fits the 2 s template (a longer voice is an error)
    voices = []
    for i in range(6):  # 6 distinct voiceover files > the old 4-entry cache
        path = tmp_path / f"voice{i}.wav"
        sf.write(path, audio * (0.9 - 0.1 * i), sr)
        voices.append(path)
    pipe = VideoAdPipeline(VideoConfig(reuse_segments=True))
    mixes = []
    real_mix = pipe._mix
    monkeypatch.setattr(pipe, "_mix", lambda *a, **k: mixes.append(1) or real_mix(*a, **k))
    tpl = template_from_dict(tiny_template(), base_dir=media["dir"].parent)
    loud = {}
    for rnd in range(2):
        for i, voice in enumerate(voices):
            params = VideoAdParams(data=DATA, out_dir=tmp_path / f"r{rnd}", voiceover=Voiceover.from_timings(
                voice, SENTENCES[:1], WORDS[:3]), product_image=media["product"], scale=SCALE, captions="none",
                basename=f"v{i}")
            r = pipe(tpl, params).renders[0]
            loud.setdefault(i, []).append(r.metadata["loudness"])
    assert len(mixes) == 6 and (pipe.mix_misses, pipe.mix_hits) == (6, 6)
    assert all(a == b for a, b in loud.values())  # a hit carries the same measured soundtrack
