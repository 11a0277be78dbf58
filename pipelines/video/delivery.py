"""After the mux: hold the spec's video-bitrate floor, then probe the MP4 into the render's metadata."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipelines._common.files import atomic_path
from pipelines.video import VERSION
from pipelines.video.compositor.context import RenderContext
from pipelines.video.ffmpeg import bitrate_floor_args, probe, run_ffmpeg
from pipelines.video.soundtrack import EncodedAudio
from pipelines.video.specs import AD_SPECS, check_render, delivery_check, get_spec
from pipelines.video.template import Template


def hold_bitrate_floor(ctx: RenderContext, spec_name: str | None, video_path: Path, threads: int) -> float | None:
    """Hold the spec's minimum video bitrate: when the CRF encode came out under it (static,
    easy content), re-encode the video as CBR at 1.3x the floor (HRD filler guarantees it).
    Returns the seconds spent, None when no re-encode was needed. Raises ``RuntimeError`` if
    ffmpeg fails."""
    spec = get_spec(spec_name) if spec_name else None
    if spec is None or spec.min_video_kbps <= 0 or min(ctx.size) < spec.min_short_side:
        return None  # no floor, or a preview below the spec's resolution (it cannot pass anyway)
    floor = spec.min_video_kbps
    kbps = probe(video_path, loudness=False).get("video_kbps") or 0.0
    if kbps >= floor * 1.05:
        return None
    t = time.perf_counter()
    with atomic_path(video_path) as tmp:
        run_ffmpeg(bitrate_floor_args(video_path, tmp, floor * 1.3, ctx.fps, threads=threads), "bitrate floor")
    return round(time.perf_counter() - t, 3)


def render_metadata(
    tpl: Template,
    fmt: str,
    spec_name: str | None,
    quality: str,
    video_path: Path,
    durations: list[float],
    audio: EncodedAudio,
    timing: dict[str, Any],
    fps: int,
    cache_stats: dict[str, int],
) -> dict[str, Any]:
    """The render's metadata: the probe of the final MP4 (durations in seconds, bitrates in
    kbit/s), the soundtrack's loudness measured on its AAC packets, spec and delivery checks,
    every ad spec the file passes, ``timing`` and ``cache_stats``."""
    meta = probe(video_path, loudness=False)
    if any(st["type"] == "audio" for st in meta["streams"]):
        meta["loudness"] = dict(audio.loudness)  # decoded from the AAC packets the file carries
    spec = get_spec(spec_name) if spec_name else None
    checks = [check_render(spec, fmt, meta)] if spec is not None else []
    delivery = delivery_check(
        meta,
        fmt,
        spec,
        planned_duration=sum(durations),
        fps=fps,
        target_lufs=tpl.audio.target_lufs,
        true_peak_db=tpl.audio.true_peak_db,
    )
    compatible = [n for n, s in AD_SPECS.items() if check_render(s, fmt, meta)["ok"]]
    return {
        "pipeline": VERSION,
        "template": tpl.name,
        "template_version": tpl.version,
        "format": fmt,
        "planned_duration": round(sum(durations), 3),
        "scene_durations": [round(d, 3) for d in durations],
        **meta,
        "mix": audio.mix_stats,
        "spec_checks": checks,
        "delivery": delivery,
        "compatible_specs": compatible,
        "timing": timing,
        "quality": quality,
        "cache": cache_stats,
    }
