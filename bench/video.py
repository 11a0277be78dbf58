"""Video ad render benchmark (one process, side by side, same 15 s 1080x1920 30 fps template).

  (a) maydo render            VideoAdPipeline on assets/templates/product_promo.yaml
  (b) naive moviepy           CompositeVideoClip of the same layers (ImageClip/TextClip/effects)
  (c) encode-only             the exact frames (a) produced, piped to the same ffmpeg/x264 settings

Prints seconds, a/c and b/a, the marginal time per extra customer for 10 variants sharing scenes
(segment reuse on; and background/sprite cache only), and peak memory of a 60 s ad (child process).

Run: .venv/bin/python bench/video.py [--skip-naive] [--variants 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(REPO)  # not bench/: bench/queue.py would shadow the stdlib queue module

from pipelines._common.data import ASSETS_DIR  # noqa: E402
from pipelines.video.config import VideoAdParams, VideoConfig  # noqa: E402
from pipelines.video.pipeline_video_ad import VideoAdPipeline  # noqa: E402
from pipelines.video.template import load_template, merge_template, plan_durations  # noqa: E402

TEMPLATE = ASSETS_DIR / "templates" / "product_promo.yaml"
# An opaque studio photo (with its recolor mask beside it): the product layer cuts it out, so the
# bench pays for the cutout, contact shadow, turntable motion and Ken Burns scenes.
PRODUCT = ASSETS_DIR / "demo" / "images" / "tee-lotus.png"
DATA = json.loads((ASSETS_DIR / "templates" / "product_promo.sample.json").read_text(encoding="utf-8"))
NAMES = ["Hương", "Đức", "Lan", "Minh", "Thảo", "Quốc", "Ngọc", "Phương", "Tuấn", "Hạnh"]
HEADLINES = ["Phong cách mới đang chờ bạn", "Sẵn sàng bứt phá?", "Nhẹ như không, bền như thép"]


def variant(i: int) -> dict[str, Any]:
    data = json.loads(json.dumps(DATA))
    data["customer"]["first_name"] = NAMES[i % len(NAMES)]
    data["copy"]["headline"] = HEADLINES[i % len(HEADLINES)]
    return data


def run_a(out: Path) -> tuple[float, dict[str, Any], VideoAdPipeline]:
    pipe = VideoAdPipeline()
    t = time.perf_counter()
    res = pipe(TEMPLATE, VideoAdParams(data=DATA, out_dir=out, basename="a", product_image=PRODUCT))
    return time.perf_counter() - t, res.renders[0].metadata, pipe


def run_c(out: Path, pipe: VideoAdPipeline) -> tuple[float, int]:
    """Re-create (a)'s exact frames (kept in memory; repeats share one buffer), then time only the encode."""
    from pipelines.video import audio_mix
    from pipelines.video.compositor.cache import RenderCache
    from pipelines.video.compositor.context import RenderContext
    from pipelines.video.compositor.frames import frames
    from pipelines.video.ffmpeg import X264_PRESETS, FrameEncoder, encoder_args
    from pipelines.video.specs import canvas_size, encode_crf, get_spec

    tpl = load_template(TEMPLATE)
    merged, _ = merge_template(tpl, DATA)
    durations = plan_durations(merged, None)
    ctx = RenderContext(merged, "9:16", 1.0, merged.fps, PRODUCT, None, RenderCache())
    buffers = [fr.yuv for fr in frames(ctx, durations)]
    params = VideoAdParams(data=DATA, out_dir=out)
    mix = pipe._mix(merged, params, sum(durations))
    wav = out / "c.wav"
    audio_mix.write_wav(wav, mix.audio)
    w, h = canvas_size("9:16")
    t = time.perf_counter()
    # The same x264 settings as (a), including the spec's CRF floor.
    crf = encode_crf(get_spec(merged.spec) if merged.spec else None, X264_PRESETS["standard"][1], (w, h))
    enc = FrameEncoder(encoder_args(w, h, merged.fps, out / "c.mp4", audio=wav, duration=sum(durations), crf=crf))
    for b in buffers:
        enc.write(b)
    enc.close()
    return time.perf_counter() - t, len(buffers)


def run_b(out: Path) -> float:
    """Typical moviepy 2 code for the same layers, timings and effects."""
    from moviepy import AudioFileClip, ColorClip, CompositeVideoClip, ImageClip, TextClip, vfx
    from PIL import Image, ImageDraw

    from pipelines._common.fonts import font_path

    font = str(font_path("Bold"))
    W, H = 1080, 1920
    media = ASSETS_DIR / "templates" / "media"
    safe_y0, safe_h = int(0.14 * H), int(0.66 * H)

    def text(s: str, size: int, y: float, h: float, color: str = "white", **kw: Any) -> TextClip:
        return TextClip(
            font=font,
            text=s,
            font_size=size,
            color=color,
            method="caption",
            size=(W - 130, int(h * safe_h)),
            text_align="center",
            margin=(10, 10),
            **kw,
        ).with_position(("center", safe_y0 + int(y * safe_h)))

    # Scene 1: Ken Burns background + greeting (slide up) + headline (fade in).
    bg = ImageClip(str(media / "bg_warm.png")).with_duration(4).resized(lambda t: 1 + 0.08 * t / 4)
    bg = bg.with_position("center")
    greet = text("Hương ơi,", 110, 0.12, 0.14).with_duration(4)
    gy = safe_y0 + int(0.12 * safe_h)
    greet = greet.with_position(lambda t: ("center", gy + max(0.0, 1 - t / 0.5) * 230)).with_effects(
        [vfx.CrossFadeIn(0.5)]
    )
    head = text(DATA["copy"]["headline"], 96, 0.3, 0.3, stroke_color="black", stroke_width=4)
    head = head.with_start(0.4).with_duration(3.6).with_effects([vfx.CrossFadeIn(0.6)])
    s1 = CompositeVideoClip([bg, greet, head], size=(W, H)).with_duration(4)

    # Scene 2: panel + product (pop) + name (slide) + price (pop).
    base = ColorClip((W, H), color=(244, 241, 236)).with_duration(6)
    panel = ColorClip((W, int(0.53 * H)), color=(27, 16, 48)).with_duration(6).with_position((0, int(0.47 * H)))
    prod = ImageClip(str(media / "product_sneaker.png")).resized(width=int(0.9 * 0.88 * W)).with_duration(5.8)
    prod = (
        prod.with_start(0.2)
        .resized(lambda t: min(1.0, 0.6 + 0.4 * min(1, t / 0.5)))
        .with_position(("center", safe_y0 + int(0.1 * safe_h)))
    )
    name = text(DATA["product"]["name"], 84, 0.55, 0.16).with_start(0.4).with_duration(5.6)
    name = name.with_effects([vfx.CrossFadeIn(0.5)])
    price = text("1.290.000 ₫", 100, 0.73, 0.12, color="#FFD400").with_start(0.8).with_duration(5.2)
    price = price.resized(lambda t: min(1.0, 0.6 + 0.4 * min(1, t / 0.4)))
    s2 = CompositeVideoClip([base, panel, prod, name, price], size=(W, H)).with_duration(6)

    # Scene 3: background + discount (pop) + date + CTA button + logo.
    bg3 = ImageClip(str(media / "bg_warm.png")).with_duration(5)
    disc = text("-30%", 200, 0.05, 0.22, color="#FFD400", stroke_color="#1B1030", stroke_width=6).with_duration(5)
    disc = disc.resized(lambda t: min(1.0, 0.6 + 0.4 * min(1, t / 0.5)))
    until = text("Đến hết 31/12/2026", 64, 0.3, 0.1).with_start(0.3).with_duration(4.7)
    until = until.with_effects([vfx.CrossFadeIn(0.4)])
    btn_img = Image.new("RGBA", (int(0.7 * 0.88 * W), int(0.13 * safe_h)), (0, 0, 0, 0))
    ImageDraw.Draw(btn_img).rounded_rectangle((0, 0, *[v - 1 for v in btn_img.size]), radius=60, fill="white")
    btn_path = out / "btn.png"
    btn_img.save(btn_path)
    btn = ImageClip(str(btn_path)).with_start(0.6).with_duration(4.4)
    btn = btn.with_position(("center", safe_y0 + int(0.5 * safe_h))).with_effects([vfx.CrossFadeIn(0.4)])
    cta = text("Mua ngay", 80, 0.5, 0.13, color="#1B1030").with_start(0.6).with_duration(4.4)
    logo = ImageClip(str(media / "logo.png")).resized(height=int(0.12 * safe_h)).with_duration(5)
    logo = logo.with_position(("center", safe_y0 + int(0.78 * safe_h)))
    s3 = CompositeVideoClip([bg3, disc, until, btn, cta, logo], size=(W, H)).with_duration(5)

    final = CompositeVideoClip(
        [
            s1,
            s2.with_start(4).with_effects([vfx.SlideIn(0.4, "right")]),
            s3.with_start(10).with_effects([vfx.CrossFadeIn(0.5)]),
        ],
        size=(W, H),
    ).with_duration(15)
    music = AudioFileClip(str(ASSETS_DIR / "music" / "bed_upbeat.wav"))
    final = final.with_audio(music.with_duration(8).with_effects([]))
    t = time.perf_counter()
    final.write_videofile(
        str(out / "b.mp4"),
        fps=30,
        codec="libx264",
        preset="veryfast",
        audio_codec="aac",
        logger=None,
        ffmpeg_params=["-crf", "21", "-profile:v", "high", "-pix_fmt", "yuv420p"],
    )
    return time.perf_counter() - t


def run_variants(out: Path, n: int, reuse: bool) -> list[float]:
    times = []
    with VideoAdPipeline(VideoConfig(reuse_segments=reuse)) as pipe:
        for i in range(n):
            t = time.perf_counter()
            pipe(TEMPLATE, VideoAdParams(data=variant(i), out_dir=out, basename=f"v{i}", product_image=PRODUCT))
            times.append(time.perf_counter() - t)
    return times


LONG_CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from pipelines.video import ffmpeg as ff
from pipelines.video.config import VideoAdParams
from pipelines.video.pipeline_video_ad import VideoAdPipeline
from pipelines.video.template import load_template

def hwm_mb(pid="self"):
    # VmHWM is per address space (reset by exec), unlike ru_maxrss which keeps the pre-exec parent's.
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

enc_peak = [0.0]
_close = ff.FrameEncoder.close
def close(self):
    enc_peak[0] = max(enc_peak[0], hwm_mb(self.proc.pid))  # before stdin closes, the encoder is alive
    _close(self)
ff.FrameEncoder.close = close
tpl = load_template(sys.argv[2])
scenes = [s.model_copy(update={"duration": d}) for s, d in zip(tpl.scenes, (16.0, 24.0, 20.0))]
tpl = tpl.model_copy(update={"scenes": scenes, "spec": None})
data = json.loads(Path(sys.argv[3]).read_text(encoding="utf-8"))
t = time.perf_counter()
out = VideoAdPipeline()(tpl, VideoAdParams(data=data, out_dir=Path(sys.argv[4]), basename="long"))
print(json.dumps({"seconds": time.perf_counter() - t, "duration": out.renders[0].metadata["duration"],
  "py_peak_mb": hwm_mb(), "ffmpeg_peak_mb": enc_peak[0]}))
"""


def run_long(out: Path) -> dict[str, Any]:
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            LONG_CHILD,
            str(REPO),
            str(TEMPLATE),
            str(ASSETS_DIR / "templates" / "product_promo.sample.json"),
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--variants", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="maydo-bench-video-") as d:
        out = Path(d)
        run_a(out / "warm")  # warm imports, font cache, page cache
        a, meta, pipe = run_a(out)
        rows["a_render_s"] = a
        rows["a_compose_encode_s"] = meta["timing"]["render_s"]
        rows["a_frames"] = meta["timing"]["frames"]
        rows["a_composed_frames"] = meta["timing"]["composed_frames"]
        rows["a_video_kbps"] = meta.get("video_kbps")
        rows["a_crf"] = meta["timing"].get("crf")
        rows["a_bitrate_floor_s"] = meta["timing"].get("bitrate_floor_s")
        rows["a_delivery_ok"] = meta["delivery"]["ok"]
        c, n = run_c(out, pipe)
        rows["c_encode_only_s"] = c
        rows["a_over_c"] = a / c
        rows["a_compose_encode_over_c"] = meta["timing"]["render_s"] / c
        if not args.skip_naive:
            b = run_b(out)
            rows["b_naive_moviepy_s"] = b
            rows["b_over_a"] = b / a
        seg = run_variants(out / "seg", args.variants, True)
        rows["variants"] = args.variants
        rows["seg_cold_s"] = seg[0]
        rows["seg_marginal_s"] = sum(seg[1:]) / max(1, len(seg) - 1)
        rows["seg_marginal_over_cold"] = rows["seg_marginal_s"] / seg[0]
        direct = run_variants(out / "direct", 3, False)
        rows["bg_cache_only_marginal_s"] = sum(direct[1:]) / 2
        rows["bg_cache_only_marginal_over_cold"] = rows["bg_cache_only_marginal_s"] / direct[0]
        rows["long_60s"] = run_long(out / "long")
    rows["load_avg_end"] = os.getloadavg()[0]
    rows["bench_py_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    L = rows["long_60s"]
    print(
        "video ad bench: product_promo, 15 s, 1080x1920, 30 fps, x264 veryfast, crf 21 capped at the "
        f"tiktok floor crf {rows.get('a_crf')} + AAC"
    )
    print(f"{'case':44} {'seconds':>9} {'ratio':>16}")
    print(f"{'(a) maydo render (full call)':44} {a:9.2f} {'a/c = ' + format(rows['a_over_c'], '.2f'):>16}")
    print(
        f"{'    compose+encode only':44} {meta['timing']['render_s']:9.2f} "
        f"{'/c = ' + format(rows['a_compose_encode_over_c'], '.2f'):>16}"
    )
    if "b_naive_moviepy_s" in rows:
        print(
            f"{'(b) naive moviepy CompositeVideoClip':44} {rows['b_naive_moviepy_s']:9.2f} "
            f"{'b/a = ' + format(rows['b_over_a'], '.1f'):>16}"
        )
    print(f"{'(c) encode-only, same frames':44} {c:9.2f}")
    print(
        f"{'(a) video kbps / floor re-encode s / ✓':44} {rows['a_video_kbps']!s:>9} "
        f"{str(rows['a_bitrate_floor_s']) + ' / ' + str(rows['a_delivery_ok']):>16}"
    )
    print(f"{'frames (composed / total)':44} {rows['a_composed_frames']:>5}/{rows['a_frames']}")
    print(f"{f'{args.variants} variants, segment reuse: cold':44} {seg[0]:9.2f}")
    print(
        f"{'    marginal per extra customer':44} {rows['seg_marginal_s']:9.2f} "
        f"{'x cold = ' + format(rows['seg_marginal_over_cold'], '.2f'):>16}"
    )
    print(
        f"{'3 variants, bg/sprite cache only: marginal':44} {rows['bg_cache_only_marginal_s']:9.2f} "
        f"{'x cold = ' + format(rows['bg_cache_only_marginal_over_cold'], '.2f'):>16}"
    )
    print(f"{'60 s ad: render seconds':44} {L['seconds']:9.2f}")
    print(f"{'60 s ad: peak RSS (VmHWM) python / x264 (MB)':44} {L['py_peak_mb']:9.0f} / {L['ffmpeg_peak_mb']:.0f}")
    print(f"load average start/end: {rows['load_avg_start']:.2f} / {rows['load_avg_end']:.2f} on {rows['cpus']} CPUs")


if __name__ == "__main__":
    main()
