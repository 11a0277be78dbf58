"""Does each media file of a template decode? Checked with the bundled ffmpeg before any render.

- Audio (music bed, sound effects, a campaign's ``music``): any format the bundled ffmpeg decodes
  (WAV, FLAC, MP3, M4A/AAC, OGG, ...) must yield samples; the render decodes them the same way
  (``audio_mix.load_audio``), so a file that passes here is a file the mix can read.
- Video layers: the file must have a video stream and yield at least one frame after
  ``trim_start`` (and before ``trim_end``); an audio-only file or a trim past the clip's end is
  an error naming the layer.

Results are cached per (path, size, mtime, trims): a campaign checks each file once.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.video.template import Template

DECODE_TIMEOUT_S = 30.0


def _run(args: list[str]) -> tuple[int | None, bytes, str]:
    """(exit code, stdout, stderr) of the bundled ffmpeg run with ``args``; (None, b"", a message
    saying so) when it runs past ``DECODE_TIMEOUT_S``."""
    from pipelines.video.ffmpeg import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=DECODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None, b"", f"decoding took longer than {DECODE_TIMEOUT_S:g}s"
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace").strip()


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "unknown error")[:200]


@lru_cache(maxsize=512)
def _audio_problem(path: str, _size: int, _mtime: float) -> str | None:
    code, _, err = _run(["-i", path, "-map", "0:a:0", "-t", "2", "-f", "f32le", "-ac", "1", "-ar", "8000", "-"])
    if code != 0:
        if "matches no streams" in err or "Stream map" in err:
            return "has no audio stream"
        return f"is not audio the bundled ffmpeg can decode ({_last_line(err)})"
    return None


@lru_cache(maxsize=512)
def _video_problem(path: str, _size: int, _mtime: float, trim_start: float, trim_end: float | None) -> str | None:
    args = ["-ss", f"{trim_start:.3f}"] if trim_start > 0 else []
    args += ["-i", path, "-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-s", "8x8", "-"]
    code, out, err = _run(args)
    if code is None:
        return err
    if code != 0:
        if "matches no streams" in err or "Stream map" in err:
            return "has no video stream (an audio-only file cannot be a video layer)"
        return f"is not video the bundled ffmpeg can decode ({_last_line(err)})"
    if len(out) < 64:
        return f"yields no frame after trim_start {trim_start:g}s (the clip is shorter); lower trim_start"
    if trim_end is not None and trim_end <= trim_start:
        return f"trim_end {trim_end:g}s must be after trim_start {trim_start:g}s"
    return None


def _stat(path: Path) -> tuple[str, int, float]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime


def audio_problem(path: Path) -> str | None:
    """None when ffmpeg decodes audio samples from ``path``, else what is wrong."""
    return _audio_problem(*_stat(path))


def video_problem(path: Path, trim_start: float = 0.0, trim_end: float | None = None) -> str | None:
    """None when ``path`` has a video stream with a frame at ``trim_start``, else what is wrong."""
    return _video_problem(*_stat(path), float(trim_start), trim_end)


def check_media(template: Template, assets_root: Path | None = None) -> list[str]:
    """Errors for every media file of a merged template that exists but does not decode."""
    from pipelines.video.template import VideoLayer, resolve_asset

    errors: list[str] = []
    if template.audio.music is not None:
        p = resolve_asset(template.audio.music.src, template, assets_root)
        if p is not None and (problem := audio_problem(p)):
            errors.append(f"audio.music: {template.audio.music.src} {problem}")
    for i, sfx in enumerate(template.audio.sfx):
        p = resolve_asset(sfx.src, template, assets_root)
        if p is not None and (problem := audio_problem(p)):
            errors.append(f"audio.sfx[{i}]: {sfx.src} {problem}")
    for si, scene in enumerate(template.scenes):
        for li, layer in enumerate(scene.layers):
            if not isinstance(layer, VideoLayer) or "{{" in layer.src:
                continue
            p = resolve_asset(layer.src, template, assets_root)
            if p is None:
                continue
            problem = video_problem(p, layer.trim_start, layer.trim_end)
            if problem:
                errors.append(f"scenes[{si}] '{scene.id}' layer {layer.id or li} (video): {layer.src} {problem}")
    return errors
