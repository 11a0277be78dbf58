"""Generate the sample templates' media (all synthetic, licence: ours, Apache-2.0).

Run: ``.venv/bin/python assets/templates/make_media.py`` — writes assets/templates/media/*,
assets/music/bed_upbeat.wav and assets/templates/template.schema.json. Deterministic (fixed
seeds), so re-running gives the same files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
MEDIA = HERE / "media"
MUSIC = HERE.parent / "music"
SR = 48000


def gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    a, b = np.array(top, np.float32), np.array(bottom, np.float32)
    return np.broadcast_to(a * (1 - t) + b * t, (h, w, 3)).astype(np.uint8)


def bg_warm() -> None:
    arr = gradient(1080, 1920, (255, 140, 66), (120, 28, 84)).copy()
    img = Image.fromarray(arr)
    d = ImageDraw.Draw(img, "RGBA")
    rng = np.random.default_rng(7)
    for _ in range(14):
        x, y, r = rng.integers(0, 1080), rng.integers(0, 1920), rng.integers(60, 260)
        d.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, int(rng.integers(12, 34))))
    img.filter(ImageFilter.GaussianBlur(6)).save(MEDIA / "bg_warm.png", optimize=True)


def bg_lanterns() -> None:
    arr = gradient(1080, 1920, (150, 10, 20), (60, 0, 10)).copy()
    img = Image.fromarray(arr)
    d = ImageDraw.Draw(img, "RGBA")
    for i, (x, y) in enumerate([(160, 260), (900, 200), (540, 120), (300, 1650), (820, 1720)]):
        r = 90 + 20 * (i % 2)
        d.line((x, 0, x, y - r), fill=(255, 210, 80, 200), width=6)
        d.ellipse((x - r, y - r * 1.2, x + r, y + r * 1.2), fill=(230, 40, 30, 255), outline=(255, 200, 60), width=8)
        d.rectangle((x - r * 0.4, y + r * 1.15, x + r * 0.4, y + r * 1.35), fill=(255, 200, 60))
    rng = np.random.default_rng(3)
    for _ in range(120):
        x, y = rng.integers(0, 1080), rng.integers(0, 1920)
        d.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(255, 220, 120, int(rng.integers(60, 200))))
    img.save(MEDIA / "bg_lanterns.png", optimize=True)


def product() -> None:
    """A sneaker-like product silhouette on transparency (stand-in for a recolored product)."""
    img = Image.new("RGBA", (900, 600), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((60, 380, 860, 470), radius=40, fill=(245, 245, 245, 255))  # sole
    d.polygon(
        [(90, 390), (140, 200), (330, 150), (470, 260), (700, 300), (840, 350), (850, 390)], fill=(0, 122, 255, 255)
    )
    d.polygon([(140, 200), (200, 110), (330, 100), (330, 150)], fill=(0, 95, 210, 255))  # collar
    for i in range(5):
        x = 330 + i * 45
        d.line((x, 180 + i * 18, x + 40, 230 + i * 14), fill=(255, 255, 255, 255), width=10)  # laces
    d.arc((380, 260, 760, 420), 200, 330, fill=(255, 255, 255, 255), width=18)  # swoosh-ish stripe
    img.save(MEDIA / "product_sneaker.png", optimize=True)


def logo() -> None:
    from pipelines._common.fonts import font_path

    img = Image.new("RGBA", (640, 200), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, 639, 199), radius=40, fill=(255, 255, 255, 235))
    font = ImageFont.truetype(str(font_path("ExtraBold")), 110)
    d.text((320, 105), "maydo", font=font, fill=(20, 24, 40, 255), anchor="mm")
    img.save(MEDIA / "logo.png", optimize=True)


def clip() -> None:
    """2 s, 360x640 moving-stripes clip for the bumper's video layer."""
    import imageio_ffmpeg

    w, h, fps, n = 360, 640, 30, 60
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryslow"]
    cmd += ["-crf", "30", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(MEDIA / "stripes.mp4")]
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(n):
        phase = (xx + yy + i * 8) // 40 % 2
        base = np.where(phase[..., None] == 1, [30, 30, 60], [70, 20, 110]).astype(np.uint8)
        frames.append(base.tobytes())
    subprocess.run(cmd, input=b"".join(frames), check=True)


def music() -> None:
    """8 s loop: soft chord pad + kick + hats at 120 bpm, mono 48 kHz 16-bit."""
    import soundfile as sf

    n = 8 * SR
    t = np.arange(n) / SR
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 329.63)]
    pad = np.zeros(n)
    for i, ch in enumerate(chords):
        a, b = i * 2 * SR, (i + 1) * 2 * SR
        seg = t[a:b]
        env = np.minimum(1, (seg - seg[0]) * 8) * np.minimum(1, (seg[-1] - seg) * 8)
        pad[a:b] = sum(np.sin(2 * np.pi * f * seg) + 0.3 * np.sin(4 * np.pi * f * seg) for f in ch) * env / 6
    beat = np.zeros(n)
    for k in range(16):  # 120 bpm -> a beat every 0.5 s
        a = int(k * 0.5 * SR)
        m = min(n - a, int(0.25 * SR))
        tt = np.arange(m) / SR
        beat[a : a + m] += np.sin(2 * np.pi * (50 + 90 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 14) * 0.8
        h0 = a + int(0.25 * SR)
        hm = min(n - h0, int(0.05 * SR))
        if hm > 0:
            rng = np.random.default_rng(k)
            beat[h0 : h0 + hm] += rng.standard_normal(hm) * np.exp(-np.arange(hm) / SR * 80) * 0.15
    y = 0.5 * pad + 0.6 * beat
    y = y / np.max(np.abs(y)) * 0.7
    sf.write(str(MUSIC / "bed_upbeat.wav"), y.astype(np.float32), SR, subtype="PCM_16")


def whoosh() -> None:
    import soundfile as sf
    from scipy.signal import butter, lfilter

    n = int(0.6 * SR)
    rng = np.random.default_rng(11)
    noise = rng.standard_normal(n)
    b, a = butter(2, [400 / (SR / 2), 4000 / (SR / 2)], btype="band")
    env = np.sin(np.linspace(0, np.pi, n)) ** 2
    y = lfilter(b, a, noise) * env
    sf.write(str(MEDIA / "whoosh.wav"), (y / np.max(np.abs(y)) * 0.5).astype(np.float32), SR, subtype="PCM_16")


def main() -> None:
    from pipelines.video.template import write_json_schema

    MEDIA.mkdir(parents=True, exist_ok=True)
    MUSIC.mkdir(parents=True, exist_ok=True)
    bg_warm()
    bg_lanterns()
    product()
    logo()
    clip()
    music()
    whoosh()
    write_json_schema(HERE / "template.schema.json")
    print("wrote", sorted(p.name for p in MEDIA.iterdir()), "music/bed_upbeat.wav, template.schema.json")


if __name__ == "__main__":
    main()
