"""The bundled ffmpeg (imageio-ffmpeg): a raw-frame encoder over stdin, probing, frame grabs.

There is no ffprobe here, so ``probe`` parses ``ffmpeg -i`` output and decodes the audio once
to measure loudness. Frames go to the encoder as yuv420p (converted by OpenCV, ~1 ms a frame),
half the bytes of rgb24 and no swscale pass inside ffmpeg.
"""

from __future__ import annotations

import contextlib
import queue
import re
import subprocess
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

X264_PRESETS = {"draft": ("ultrafast", 26), "standard": ("veryfast", 21), "high": ("medium", 19)}


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def encoder_args(
    width: int,
    height: int,
    fps: int,
    out: Path,
    *,
    audio: Path | None,
    quality: str = "standard",
    duration: float | None = None,
    threads: int = 0,
    faststart: bool = True,
    crf: int | None = None,
) -> list[str]:
    """ffmpeg command: raw yuv420p on stdin (+ a WAV) -> H.264 High / AAC 48 kHz stereo MP4, CFR.

    The pipeline writes video only (``audio=None``, ``faststart=False``) and stream-copies it
    with the separately encoded AAC (``mux_args``); segments for later joining each start with
    an IDR frame, so the concat demuxer joins them by stream copy.
    """
    preset, preset_crf = X264_PRESETS[quality]
    crf = preset_crf if crf is None else crf  # a spec's CRF floor (specs.encode_crf) overrides
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0"]
    if audio is not None:
        cmd += ["-i", str(audio)]
    cmd += ["-map", "0:v:0"] + (["-map", "1:a:0"] if audio is not None else [])
    cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-profile:v", "high", "-pix_fmt", "yuv420p"]
    cmd += ["-threads", str(threads)]
    # OpenCV's I420 is BT.601 limited range: tag it so players convert back correctly.
    cmd += ["-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m"]
    cmd += ["-color_range", "tv", "-r", str(fps), "-fps_mode", "cfr", "-g", str(fps * 2)]
    if audio is not None:
        cmd += ["-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2"]
    if duration is not None:
        cmd += ["-t", f"{duration:.3f}"]
    cmd += (["-movflags", "+faststart"] if faststart else []) + ["-f", "mp4", str(out)]
    return cmd


def mux_args(video: Path, audio: Path, out: Path, *, concat: bool = False) -> list[str]:
    """Join a video-only MP4 (or, with ``concat``, a concat-demuxer list of MP4 segments) and an
    already encoded AAC ``.m4a`` into a faststart MP4 -- stream copy for both, no re-encode."""
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin"]
    if concat:
        cmd += ["-f", "concat", "-safe", "0"]
    cmd += ["-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(out)]
    return cmd


def run_ffmpeg(cmd: list[str], what: str, *, stdin: bytes | None = None) -> None:
    """Run an ffmpeg command to completion; RuntimeError with its stderr tail on failure."""
    res = subprocess.run(cmd, input=stdin, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg {what} failed: {res.stderr.decode('utf-8', 'replace')[-2000:]}")


def encode_aac(audio: np.ndarray, out: Path, *, sample_rate: int = 48000, bitrate: str = "160k") -> Path:
    """Float32 stereo samples -> AAC-LC 48 kHz stereo in an ``.m4a`` (the stream the MP4 will carry)."""
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin"]
    cmd += ["-f", "f32le", "-ar", str(sample_rate), "-ac", "2", "-i", "pipe:0"]
    cmd += ["-c:a", "aac", "-b:a", bitrate, "-ar", "48000", "-ac", "2", "-f", "mp4", str(out)]
    run_ffmpeg(cmd, "AAC encode", stdin=np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    return out


class FrameEncoder:
    """Stream frames to ffmpeg. ``write`` takes yuv420p bytes; a thread feeds the pipe.

    The writer thread lets composition of frame n+1 overlap the pipe write of frame n (both
    numpy/cv2 and pipe writes release the GIL). The queue is short, so memory stays bounded.
    """

    def __init__(self, cmd: list[str], *, queue_size: int = 6) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self._q: queue.Queue[bytes | memoryview | np.ndarray | None] = queue.Queue(maxsize=queue_size)
        self._err: BaseException | None = None
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        self.frames = 0

    def _pump(self) -> None:
        assert self.proc.stdin is not None
        try:
            while True:
                item = self._q.get()
                if item is None:
                    break
                self.proc.stdin.write(item.data if isinstance(item, np.ndarray) else item)
        except (BrokenPipeError, OSError) as exc:
            self._err = exc
            while self._q.get() is not None:  # drain so the producer never blocks forever
                pass
        finally:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def write(self, frame: bytes | memoryview | np.ndarray) -> None:
        if self._err is not None:
            self._fail()
        self._q.put(frame)
        self.frames += 1

    def _fail(self) -> None:
        self.proc.wait()
        err = self.proc.stderr.read().decode("utf-8", "replace") if self.proc.stderr else ""
        raise RuntimeError(f"ffmpeg failed (exit {self.proc.returncode}): {err.strip()[-2000:]}")

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        rc = self.proc.wait()
        if rc != 0 or self._err is not None:
            self._fail()
        if self.proc.stderr:
            self.proc.stderr.close()

    def abort(self) -> None:
        """Stop the encoder after an error elsewhere (the output is discarded)."""
        self.proc.kill()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._q.put(None)
        self._thread.join(timeout=5)
        self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


_DUR_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_BITRATE_RE = re.compile(r"bitrate: (\d+) kb/s")
_VIDEO_RE = re.compile(r"Stream #\d+:\d+[^:]*: Video: (\w+)(?: \(([^)]*)\))?.*?, (\w+)(?:\(([^)]*)\))?, (\d+)x(\d+)")
_AUDIO_RE = re.compile(r"Stream #\d+:\d+[^:]*: Audio: (\w+)(?: \(([^)]*)\))?.*?, (\d+) Hz, ([\w.]+)")
_FPS_RE = re.compile(r"([\d.]+) fps")
_KBPS_RE = re.compile(r"(\d+) kb/s")


def probe(path: Path, *, loudness: bool = True) -> dict[str, Any]:
    """Container/stream facts of a media file from ``ffmpeg -i``; plus audio loudness if asked."""
    res = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    text = res.stderr.decode("utf-8", "replace")
    meta: dict[str, Any] = {"path": str(path), "size_bytes": path.stat().st_size}
    m = _DUR_RE.search(text)
    if m:
        meta["duration"] = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    m = _BITRATE_RE.search(text)
    meta["bitrate_kbps"] = float(m.group(1)) if m else None
    streams: list[dict[str, Any]] = []
    for line in text.splitlines():
        vm = _VIDEO_RE.search(line)
        if vm:
            fps = _FPS_RE.search(line)
            kb = _KBPS_RE.search(line)
            s = {
                "type": "video",
                "codec": vm.group(1),
                "profile": vm.group(2),
                "pix_fmt": vm.group(3),
                "color": vm.group(4),
                "width": int(vm.group(5)),
                "height": int(vm.group(6)),
                "fps": float(fps.group(1)) if fps else None,
                "kbps": float(kb.group(1)) if kb else None,
            }
            streams.append(s)
            meta.update(width=s["width"], height=s["height"], fps=s["fps"], video_kbps=s["kbps"])
            continue
        am = _AUDIO_RE.search(line)
        if am:
            kb = _KBPS_RE.search(line)
            streams.append(
                {
                    "type": "audio",
                    "codec": am.group(1),
                    "profile": am.group(2),
                    "sample_rate": int(am.group(3)),
                    "channels": am.group(4),
                    "kbps": float(kb.group(1)) if kb else None,
                }
            )
    meta["streams"] = streams
    meta["faststart"] = _moov_first(path)
    if loudness and any(s["type"] == "audio" for s in streams):
        from pipelines.video.audio_mix import measure

        audio = decode_audio(path)
        meta["loudness"] = measure(audio, 48000)
    return meta


def _moov_first(path: Path) -> bool:
    """True when the 'moov' atom precedes 'mdat' (i.e. +faststart took effect)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    moov, mdat = head.find(b"moov"), head.find(b"mdat")
    return moov != -1 and (mdat == -1 or moov < mdat)


def decode_audio(path: Path, *, sample_rate: int = 48000) -> np.ndarray:
    """Decode a file's audio to float32 stereo (n, 2)."""
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-vn"]
    cmd += ["-f", "f32le", "-ac", "2", "-ar", str(sample_rate), "pipe:1"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.float32).reshape(-1, 2).copy()


def grab_frame(path: Path, t: float) -> np.ndarray:
    """Decode the RGB frame shown at time ``t`` (seconds)."""
    res = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    m = re.search(r", (\d+)x(\d+)", res.stderr.decode("utf-8", "replace").split("Video:", 1)[-1])
    if not m:
        raise RuntimeError(f"no video stream in {path}")
    w, h = int(m.group(1)), int(m.group(2))
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-ss", f"{t:.3f}", "-i", str(path), "-frames:v", "1"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw[: w * h * 3], dtype=np.uint8).reshape(h, w, 3)


def count_frames(path: Path) -> int:
    """Number of decoded video frames (decodes the whole stream)."""
    res = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
    )
    found = re.findall(r"frame=\s*(\d+)", res.stderr.decode("utf-8", "replace"))
    return int(found[-1]) if found else 0


class ClipReader:
    """Sequential RGB frames of a video file at a given size/fps, looping or holding the last frame."""

    def __init__(
        self, src: Path, width: int, height: int, fps: int, *, start: float, end: float | None, loop: bool, fit: str
    ) -> None:
        self.src, self.w, self.h, self.fps = src, width, height, fps
        self.start, self.end, self.loop, self.fit = start, end, loop, fit
        self._proc: subprocess.Popen[bytes] | None = None
        self._last: np.ndarray | None = None
        self._ended = False

    def _open(self) -> None:
        if self.fit == "cover":
            vf = f"scale={self.w}:{self.h}:force_original_aspect_ratio=increase,crop={self.w}:{self.h}"
        else:
            vf = (
                f"scale={self.w}:{self.h}:force_original_aspect_ratio=decrease,"
                f"pad={self.w}:{self.h}:(ow-iw)/2:(oh-ih)/2:color=black@0"
            )
        cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-ss", f"{self.start:.3f}"]
        if self.end is not None:
            cmd += ["-to", f"{self.end:.3f}"]
        cmd += ["-i", str(self.src), "-an", "-vf", f"fps={self.fps},{vf}", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        cmd += ["pipe:1"]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def next(self) -> np.ndarray:
        n = self.w * self.h * 3
        for _attempt in range(2):
            if self._ended:
                break
            if self._proc is None:
                self._open()
            assert self._proc is not None and self._proc.stdout is not None
            buf = self._proc.stdout.read(n)
            if len(buf) == n:
                self._last = np.frombuffer(buf, np.uint8).reshape(self.h, self.w, 3)
                return self._last
            self._close_proc()
            if not self.loop or self._last is None:
                self._ended = self._last is not None or _attempt == 1
        if self._last is None:
            raise RuntimeError(f"could not decode any frame from {self.src}")
        return self._last

    def _close_proc(self) -> None:
        if self._proc is not None:
            if self._proc.stdout:
                self._proc.stdout.close()
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        self._close_proc()


def bitrate_floor_args(src: Path, out: Path, kbps: float, fps: int, *, threads: int = 0) -> list[str]:
    """Re-encode the video of ``src`` (audio stream-copied) as x264 CBR at ``kbps`` with HRD
    filler, so every window of the file carries at least that rate (an ad platform's minimum
    video bitrate). Only used when the CRF encode came out below the floor: such content is
    easy, so the CBR rate is above what CRF chose and the picture does not get worse."""
    rate = f"{int(round(kbps))}k"
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(src)]
    cmd += ["-map", "0:v:0", "-map", "0:a?", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high"]
    cmd += ["-pix_fmt", "yuv420p", "-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", f"{int(kbps * 2)}k"]
    cmd += ["-x264-params", "nal-hrd=cbr", "-threads", str(threads)]
    cmd += ["-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m"]
    cmd += ["-color_range", "tv", "-r", str(fps), "-fps_mode", "cfr", "-g", str(fps * 2), "-c:a", "copy"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(out)]
    return cmd


_FREEZE_RE = re.compile(r"lavfi\.freezedetect\.freeze_(start|end): ([\d.]+)")


def still_spans(path: Path, *, min_duration: float = 1.5, noise_db: float = -60.0) -> list[tuple[float, float]]:
    """Stretches (start, end seconds) where the picture holds still for at least ``min_duration``,
    found by ffmpeg's ``freezedetect`` filter (``noise_db``: the frame difference under which two
    frames count as the same). A freeze running to the end of the file ends at its duration."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info", "-i", str(path), "-map", "0:v:0"]
    cmd += ["-vf", f"freezedetect=n={noise_db}dB:d={min_duration}", "-f", "null", "-"]
    res = subprocess.run(cmd, capture_output=True)
    text = res.stderr.decode("utf-8", "replace")
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg freezedetect failed: {text[-2000:]}")
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for kind, value in _FREEZE_RE.findall(text):
        if kind == "start":
            start = float(value)
        elif start is not None:
            spans.append((start, float(value)))
            start = None
    if start is not None:
        m = _DUR_RE.search(text)
        end = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else start
        spans.append((start, end))
    return spans
