"""Canvas formats, platform safe zones and ad-platform spec presets.

The presets encode the public upload specs of each placement as of 2025 (duration range,
accepted aspect ratios, minimum resolution, file size and bitrate bounds). They are checks, not
guarantees: platforms change their specs, so the numbers live here in one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines._common.errors import unknown_choice

# Reference sizes: every template length in px is given at a short side of 1080.
FORMATS: dict[str, tuple[int, int]] = {
    "9:16": (1080, 1920),
    "1:1": (1080, 1080),
    "4:5": (1080, 1350),
    "16:9": (1920, 1080),
}
REFERENCE_SHORT_SIDE = 1080

# Safe zones as fractions of the canvas: (top, right, bottom, left). 9:16 keeps clear of the
# platform UI (caption/handle at the bottom, status/search at the top, buttons on the right).
SAFE_ZONES: dict[str, tuple[float, float, float, float]] = {
    "9:16": (0.14, 0.06, 0.20, 0.06),
    "1:1": (0.05, 0.05, 0.05, 0.05),
    "4:5": (0.05, 0.05, 0.05, 0.05),
    "16:9": (0.05, 0.05, 0.05, 0.05),
}


def check_format(fmt: str, *, field: str = "formats") -> str:
    """Return ``fmt`` if it is a known format, else raise the standard 'did you mean' error."""
    if fmt not in FORMATS:
        raise unknown_choice("format", fmt, FORMATS, field=field)
    return fmt


def canvas_size(fmt: str, scale: float = 1.0) -> tuple[int, int]:
    """Pixel size of a format at ``scale`` (even numbers: yuv420p needs them)."""
    w, h = FORMATS[check_format(fmt)]
    return max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2)


def safe_rect(fmt: str, width: int, height: int) -> tuple[int, int, int, int]:
    """Safe area of a canvas as (x, y, w, h) in pixels."""
    top, right, bottom, left = SAFE_ZONES[check_format(fmt)]
    x0, y0 = int(round(left * width)), int(round(top * height))
    x1, y1 = int(round(width * (1 - right))), int(round(height * (1 - bottom)))
    return x0, y0, x1 - x0, y1 - y0


@dataclass(frozen=True)
class AdSpec:
    """One placement's upload spec."""

    name: str
    label: str
    formats: tuple[str, ...]
    min_duration: float
    max_duration: float
    min_short_side: int = 540
    max_size_mb: float = 500.0
    min_video_kbps: float = 0.0
    max_video_kbps: float = 50_000.0
    # CRF floor: with a minimum bitrate, x264 encodes at this CRF or lower (more bits), so
    # ordinary ads clear the minimum in one pass; a CBR re-encode catches the rest.
    crf_max: int | None = None


AD_SPECS: dict[str, AdSpec] = {
    s.name: s
    for s in (
        AdSpec("tiktok", "TikTok in-feed", ("9:16", "1:1", "16:9"), 5.0, 60.0, 540, 500.0, 516.0, crf_max=16),
        AdSpec("meta_reels", "Meta Reels", ("9:16",), 1.0, 90.0, 500, 4000.0),
        AdSpec("meta_feed", "Meta Feed", ("1:1", "4:5", "16:9"), 1.0, 240.0, 500, 4000.0),
        AdSpec("youtube_bumper", "YouTube bumper", ("16:9", "1:1", "9:16"), 1.0, 6.0, 360, 1000.0),
        AdSpec("youtube_instream", "YouTube skippable in-stream", ("16:9", "9:16", "1:1"), 12.0, 180.0, 360),
    )
}


def get_spec(name: str) -> AdSpec:
    """Look up a preset by name, with the standard unknown-choice error."""
    if name not in AD_SPECS:
        raise unknown_choice("ad spec", name, AD_SPECS, field="spec")
    return AD_SPECS[name]


def check_duration(spec: AdSpec, duration: float) -> list[str]:
    """Problems with a planned duration under ``spec`` (empty list = fine)."""
    if duration < spec.min_duration - 1e-6 or duration > spec.max_duration + 0.05:
        return [
            f"duration {duration:.2f}s is outside {spec.label} limits ({spec.min_duration:g}-{spec.max_duration:g}s)"
        ]
    return []


def check_render(spec: AdSpec, fmt: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Check a probed render against ``spec``; returns {'spec', 'ok', 'problems'}."""
    problems: list[str] = []
    if fmt not in spec.formats:
        problems.append(f"format {fmt} is not accepted by {spec.label} (accepted: {', '.join(spec.formats)})")
    problems += check_duration(spec, float(meta.get("duration", 0.0)))
    w, h = int(meta.get("width", 0)), int(meta.get("height", 0))
    if min(w, h) < spec.min_short_side:
        problems.append(f"resolution {w}x{h} below {spec.label} minimum short side {spec.min_short_side}px")
    size_mb = float(meta.get("size_bytes", 0)) / 1e6
    if size_mb > spec.max_size_mb:
        problems.append(f"file size {size_mb:.1f} MB above {spec.label} limit {spec.max_size_mb:g} MB")
    kbps = float(meta.get("video_kbps") or 0.0)
    if kbps and kbps < spec.min_video_kbps:
        problems.append(f"video bitrate {kbps:.0f} kbps below {spec.label} minimum {spec.min_video_kbps:g}")
    if kbps > spec.max_video_kbps:
        problems.append(f"video bitrate {kbps:.0f} kbps above {spec.label} maximum {spec.max_video_kbps:g}")
    return {"spec": spec.name, "ok": not problems, "problems": problems}


def delivery_check(
    meta: dict[str, Any],
    fmt: str,
    spec: AdSpec | None,
    *,
    planned_duration: float,
    fps: float,
    target_lufs: float,
    true_peak_db: float,
    loudness_tolerance: float = 1.0,
) -> dict[str, Any]:
    """Every delivery check of a probed render: codec (H.264 High), pix_fmt (yuv420p), audio
    (AAC 48 kHz stereo), loudness (integrated within ``loudness_tolerance`` LU of the target, true
    peak at or under the ceiling), duration (planned, +-1 frame), and the spec's bitrate, size,
    resolution and duration bounds. Returns {'ok', 'checks': [{'check', 'ok', 'detail'}],
    'problems'}; ``ok`` is True only when every check passed."""
    checks: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    streams = meta.get("streams", [])
    video = next((s for s in streams if s.get("type") == "video"), None)
    audio = next((s for s in streams if s.get("type") == "audio"), None)
    if video is None:
        add("codec", False, "no video stream")
        add("pix_fmt", False, "no video stream")
    else:
        codec_ok = video.get("codec") == "h264" and str(video.get("profile") or "").lower() == "high"
        add("codec", codec_ok, f"{video.get('codec')} ({video.get('profile')}); need h264 (High)")
        add("pix_fmt", video.get("pix_fmt") == "yuv420p", f"{video.get('pix_fmt')}; need yuv420p")
    if audio is None:
        add("audio", False, "no audio stream; need AAC 48 kHz stereo")
        add("loudness", False, "no audio to measure")
    else:
        a_ok = audio.get("codec") == "aac" and audio.get("sample_rate") == 48000 and audio.get("channels") == "stereo"
        add("audio", a_ok, f"{audio.get('codec')} {audio.get('sample_rate')} Hz {audio.get('channels')}; need aac 48000 Hz stereo")
        loud = meta.get("loudness") or {}
        lufs, tp = loud.get("integrated_lufs"), loud.get("true_peak_dbtp")
        l_ok = lufs is not None and abs(lufs - target_lufs) <= loudness_tolerance
        p_ok = tp is None or tp <= true_peak_db + 0.1
        add(
            "loudness",
            l_ok and p_ok,
            f"{lufs} LUFS (target {target_lufs:g} +-{loudness_tolerance:g}), true peak {tp} dBTP (ceiling {true_peak_db:g})",
        )
    dur = float(meta.get("duration") or 0.0)
    d_ok = abs(dur - planned_duration) <= 1.0 / max(1.0, fps) + 0.05
    problems_d = check_duration(spec, dur) if spec is not None else []
    add("duration", d_ok and not problems_d, f"{dur:.3f}s (planned {planned_duration:.3f}s)" + "".join(f"; {p}" for p in problems_d))
    kbps = float(meta.get("video_kbps") or 0.0)
    if spec is not None:
        b_ok = spec.min_video_kbps <= kbps <= spec.max_video_kbps
        add("bitrate", b_ok, f"{kbps:.0f} kbps (allowed {spec.min_video_kbps:g}-{spec.max_video_kbps:g})")
        size_mb = float(meta.get("size_bytes", 0)) / 1e6
        add("size", size_mb <= spec.max_size_mb, f"{size_mb:.2f} MB (max {spec.max_size_mb:g})")
        w, h = int(meta.get("width", 0)), int(meta.get("height", 0))
        add(
            "format",
            fmt in spec.formats and min(w, h) >= spec.min_short_side,
            f"{fmt} {w}x{h} (accepted {', '.join(spec.formats)}, short side >= {spec.min_short_side})",
        )
    else:
        add("bitrate", kbps > 0, f"{kbps:.0f} kbps (no spec: any)")
    problems = [f"{c['check']}: {c['detail']}" for c in checks if not c["ok"]]
    return {"spec": spec.name if spec else None, "ok": not problems, "checks": checks, "problems": problems}


def encode_crf(spec: AdSpec | None, quality_crf: int, canvas: tuple[int, int]) -> int:
    """x264 CRF for a render: the quality preset's, lowered to the spec's ``crf_max`` when the spec
    has a minimum bitrate and the canvas meets its resolution (a preview below it cannot pass)."""
    if spec is None or spec.min_video_kbps <= 0 or spec.crf_max is None or min(canvas) < spec.min_short_side:
        return quality_crf
    return min(quality_crf, spec.crf_max)
