"""VideoAdPipeline: template + merge data (+ voiceover, product image, music) -> MP4s per format.

check_inputs (validate everything, all errors at once) -> preprocess (merge fields, scene
durations, caption cues) -> render per format (numpy compositor streaming yuv420p into the
bundled ffmpeg's libx264) -> postprocess (stream-copy mux, probe, spec checks).

Only the frames are on the critical path. The audio job (mix -> AAC encode -> decode that AAC
and measure its loudness) runs in a worker thread while frames stream, and the MP4 is a stream
copy of the x264 output and that AAC, so the loudness in the metadata is measured on the very
packets the file carries. The poster PNG is encoded from the composed RGB frame in a worker
thread too; the post-encode probe is one ``ffmpeg -i`` (no decode).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError, unknown_choice
from pipelines._common.files import atomic_path, atomic_write_bytes
from pipelines.video import VERSION, audio_mix
from pipelines.video.captions import Cue, build_cues, to_srt, to_webvtt
from pipelines.video.compositor.cache import RenderCache
from pipelines.video.compositor.context import RenderContext
from pipelines.video.compositor.frames import frames
from pipelines.video.compositor.segments import Segment, plan_segments
from pipelines.video.config import CAPTION_STYLES, VideoAdParams, VideoConfig
from pipelines.video.delivery import hold_bitrate_floor, render_metadata
from pipelines.video.ffmpeg import X264_PRESETS, FrameEncoder, encoder_args, mux_args, run_ffmpeg
from pipelines.video.pipeline_output import Render, VideoAdOutput
from pipelines.video.poster import poster_png, poster_time, total_frames
from pipelines.video.segment_cache import SegmentCache
from pipelines.video.soundtrack import EncodedAudio, SoundtrackCache, encode_soundtrack, mix_soundtrack, soundtrack_key
from pipelines.video.specs import AD_SPECS, FORMATS, canvas_size, check_duration, encode_crf, get_spec
from pipelines.video.template import (
    Template,
    load_template,
    merge_template,
    plan_durations,
    resolve_font,
    validate_template,
)

PIPELINE_VERSION = VERSION


def _fmt_tag(fmt: str) -> str:
    return fmt.replace(":", "x")


class VideoAdPipeline:
    """Render personalized video ads; holds a content-keyed cache shared across calls."""

    def __init__(self, config: VideoConfig | None = None) -> None:
        self.config = config or VideoConfig()
        self.cache = RenderCache(self.config.cache_bytes)
        self.soundtracks = SoundtrackCache(self.config.audio_cache_bytes)
        self.segments = SegmentCache(self.config.segment_cache_bytes)

    @property
    def mix_hits(self) -> int:
        return self.soundtracks.hits

    @property
    def mix_misses(self) -> int:
        return self.soundtracks.misses

    @property
    def segment_hits(self) -> int:
        return self.segments.hits

    @property
    def segment_misses(self) -> int:
        return self.segments.misses

    def close(self) -> None:
        """Drop the encoded-segment cache (its temp directory)."""
        self.segments.close()

    def __enter__(self) -> VideoAdPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- check_inputs ------------------------------------------------------------------------
    def check_inputs(self, template: Template, params: VideoAdParams) -> dict[str, Any]:
        """Validate a render request before any work; every problem is reported at once.

        Checks ``params`` (formats, quality, caption style, spec, ``scale`` 0.05-2.0, ``fps`` 1-60,
        a plain ``basename``, that the voiceover WAV, music and mask files exist and the WAV is
        readable), the template merged with ``params.data`` (merge fields, media, fonts, layout,
        for each format), caption glyph coverage of the voiceover text, and the spec's duration
        limits (seconds).

        Returns ``{"voice_duration": float seconds or None, "validation": {"ok", "errors",
        "warnings"}}``; warnings never block a render. Raises ``PipelineInputError`` (field
        "template") listing every error, each naming the field and what is allowed.
        """
        errors: list[str] = []
        for fmt in params.formats:
            if fmt not in FORMATS:
                errors.append(unknown_choice("format", fmt, FORMATS).message)
        if not params.formats:
            errors.append(f"formats: give at least one of {', '.join(FORMATS)}")
        if params.quality not in X264_PRESETS:
            errors.append(unknown_choice("quality", params.quality, X264_PRESETS).message)
        if (params.captions or "none") not in CAPTION_STYLES:
            errors.append(unknown_choice("caption style", str(params.captions), CAPTION_STYLES).message)
        if params.spec is not None and params.spec not in AD_SPECS:
            errors.append(unknown_choice("ad spec", params.spec, AD_SPECS).message)
        if not 0.05 <= params.scale <= 2.0:
            errors.append(f"scale must be between 0.05 and 2.0, got {params.scale}")
        if params.fps is not None and not 1 <= params.fps <= 60:
            errors.append(f"fps must be between 1 and 60, got {params.fps}")
        if not params.basename or "/" in params.basename or params.basename.startswith("."):
            errors.append(f"basename {params.basename!r} must be a plain file name")
        voice_dur: float | None = None
        if params.voiceover is not None:
            if not Path(params.voiceover.wav_path).is_file():
                errors.append(f"voiceover WAV not found: {params.voiceover.wav_path}")
            else:
                try:
                    voice_dur = params.voiceover.duration
                except RuntimeError as exc:
                    errors.append(
                        f"voiceover {params.voiceover.wav_path} is not readable audio ({exc}); "
                        "allowed: WAV, FLAC, OGG (`maydo voice -o vo.wav` writes WAV)"
                    )
        if params.music is not None and not Path(params.music).is_file():
            errors.append(f"music file not found: {params.music}")
        if params.product_mask is not None and not Path(params.product_mask).is_file():
            errors.append(f"product mask not found: {params.product_mask}")
        report = validate_template(
            template,
            params.data,
            assets_root=self.config.assets_root,
            formats=[f for f in params.formats if f in FORMATS],
            voice_duration=voice_dur,
            product_image=params.product_image,
        )
        report.errors[:0] = errors
        style = template.captions.style if params.captions == "sentence" else (params.captions or "none")
        if params.voiceover is not None and params.voiceover.sentences and style != "none":
            from pipelines.video.glyphs import glyph_problem

            spoken = " ".join(text for text, _, _ in params.voiceover.sentences)
            try:
                cap_font = resolve_font(template.captions.font, template, self.config.assets_root)
                problem = glyph_problem(spoken, template.captions.font_weight, cap_font, template.captions.font or "")
            except PipelineInputError as exc:
                report.errors.append(f"captions: {exc.message}")
            else:
                if problem is not None:  # captions only: the voice still carries the words
                    report.warnings.append(f"captions (voiceover sentences): {problem[0]}")
        if params.spec is not None and params.spec in AD_SPECS:
            merged, _ = merge_template(template, params.data)
            total = sum(plan_durations(merged, voice_dur))
            report.errors += [f"{p} (spec {params.spec})" for p in check_duration(get_spec(params.spec), total)]
        report.raise_for_errors("render request")
        return {"voice_duration": voice_dur, "validation": report.to_dict()}

    # -- __call__ ----------------------------------------------------------------------------
    def __call__(self, template: Template | str | Path, params: VideoAdParams) -> VideoAdOutput:
        """Render the ad once per format in ``params.formats``.

        ``template`` is a ``Template`` or the path of a template YAML. Scene durations (seconds)
        come from the template and the voiceover's length. Per format, frames of
        ``specs.canvas_size(fmt, params.scale)`` pixels (even width/height) at ``params.fps`` (else
        the template's) are composed as uint8 RGB and streamed as yuv420p (BT.601 limited range)
        into H.264 High; the soundtrack is AAC 48 kHz stereo, loudness-normalised (LUFS in the
        metadata). Writes ``<basename>_<9x16>.mp4``, a ``.png`` poster (RGB, canvas size) and, with
        voiceover sentences, ``.vtt``/``.srt`` captions (seconds) into ``params.out_dir``.

        Returns ``VideoAdOutput``: one ``Render`` per format (paths, metadata: durations in
        seconds, bitrates in kbit/s, loudness) and the validation report. Raises
        ``PipelineInputError`` for bad input (see ``check_inputs``; also a template that fails to
        load, or media that cannot be decoded) and ``RuntimeError`` when ffmpeg fails.
        """
        tpl = template if isinstance(template, Template) else load_template(template)
        checked = self.check_inputs(tpl, params)
        voice_dur: float | None = checked["voice_duration"]
        merged, mctx = merge_template(tpl, params.data)
        if mctx.errors:  # validate_template already raised for these; defensive
            raise PipelineInputError("\n".join(mctx.errors), field="data")
        durations = plan_durations(merged, voice_dur)
        total = sum(durations)
        fps = params.fps or merged.fps
        out_dir = Path(params.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        progress = params.progress or (lambda stage, frac: None)

        voice = params.voiceover
        offset = merged.audio.voice_offset
        cues: list[Cue] = []
        if voice is not None and voice.sentences:
            cues = build_cues(voice.sentences, voice.words, offset=offset, end_limit=total)
        # 'sentence' (the default) means "the template's style"; 'words'/'none'/None override it.
        style = merged.captions.style if params.captions == "sentence" else (params.captions or "none")

        renders: list[Render] = []
        # Worker threads: the audio job (shared by every format, and by customers whose audio
        # inputs are identical) and poster PNGs, both overlapping the frame streaming.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="video-ad") as pool:
            audio = self._audio_future(pool, merged, params, durations)
            with tempfile.TemporaryDirectory(prefix=".render-", dir=out_dir) as tmp_dir:
                for fi, fmt in enumerate(params.formats):
                    base = f"{params.basename}_{_fmt_tag(fmt)}"
                    vtt_path = srt_path = None
                    if cues:
                        vtt_path = atomic_write_bytes(out_dir / f"{base}.vtt", to_webvtt(cues).encode("utf-8"))
                        srt_path = atomic_write_bytes(out_dir / f"{base}.srt", to_srt(cues).encode("utf-8"))
                    ctx = RenderContext(
                        merged,
                        fmt,
                        params.scale,
                        fps,
                        Path(params.product_image) if params.product_image else None,
                        self.config.assets_root,
                        self.cache,
                        Path(params.product_mask) if params.product_mask else None,
                    )

                    def report(stage: str, frac: float, _fi: int = fi) -> None:
                        progress(stage, (_fi + frac) / len(params.formats))

                    video_path, poster_path, timing = self._render_format(
                        ctx,
                        durations,
                        cues,
                        style,
                        out_dir / f"{base}.mp4",
                        out_dir / f"{base}.png",
                        Path(tmp_dir),
                        audio,
                        pool,
                        params,
                        report,
                    )
                    meta = render_metadata(
                        merged,
                        fmt,
                        params.spec or merged.spec,
                        params.quality,
                        video_path,
                        durations,
                        audio.result(),
                        timing,
                        fps,
                        {"hits": self.cache.hits, "misses": self.cache.misses},
                    )
                    meta["captions_burned_in"] = bool(cues) and style != "none"
                    renders.append(Render(fmt, video_path, poster_path, vtt_path, srt_path, meta))
        progress("encode", 1.0)
        return VideoAdOutput(renders, checked["validation"])

    # -- steps -------------------------------------------------------------------------------
    def _audio_future(
        self, pool: ThreadPoolExecutor, tpl: Template, params: VideoAdParams, durations: list[float]
    ) -> Future[EncodedAudio]:
        """The encoded soundtrack: from the cache, else mixed/encoded/measured in ``pool``."""
        key = soundtrack_key(tpl, params, durations, self.config.assets_root)
        fut: Future[EncodedAudio]
        hit = self.soundtracks.get(key)
        if hit is not None:
            fut = Future()
            fut.set_result(hit)
            return fut

        def job() -> EncodedAudio:
            t0 = time.perf_counter()
            return encode_soundtrack(self._mix(tpl, params, sum(durations)), t0)

        fut = pool.submit(job)

        def remember(f: Future[EncodedAudio]) -> None:
            if f.exception() is None:
                self.soundtracks.put(key, f.result())

        fut.add_done_callback(remember)
        return fut

    def _mix(self, tpl: Template, params: VideoAdParams, total: float) -> audio_mix.MixResult:
        """The soundtrack mix (``soundtrack.mix_soundtrack``); a method so tests can watch it."""
        return mix_soundtrack(tpl, params, total, self.config.assets_root)

    def _render_format(
        self,
        ctx: RenderContext,
        durations: list[float],
        cues: list[Cue],
        style: str,
        video_path: Path,
        poster_path: Path,
        tmp_dir: Path,
        audio: Future[EncodedAudio],
        pool: ThreadPoolExecutor,
        params: VideoAdParams,
        report: Callable[[str, float], None],
    ) -> tuple[Path, Path, dict[str, Any]]:
        """Stream frames into x264 (video only), then stream-copy video + the AAC into the MP4."""
        W, H = canvas_size(ctx.fmt, ctx.scale)
        tag = _fmt_tag(ctx.fmt)
        poster_t = poster_time(ctx.template, durations)
        poster_i = min(int(math.floor(poster_t * ctx.fps + 1e-9)), total_frames(durations, ctx.fps) - 1)
        poster: Future[bytes] | None = None
        t0 = time.perf_counter()
        composed = repeated = 0
        seg_stats = {"segments": 0, "reused": 0}
        video_only = tmp_dir / f"video_{tag}.mp4"
        parts: list[Path] = []
        spec_name = params.spec or ctx.template.spec
        crf = encode_crf(get_spec(spec_name) if spec_name else None, X264_PRESETS[params.quality][1], (W, H))

        def encoder(out: Path) -> FrameEncoder:
            """x264 of the frames into a video-only MP4 (muxed with the AAC afterwards)."""
            args = encoder_args(
                W,
                H,
                ctx.fps,
                out,
                audio=None,
                quality=params.quality,
                threads=self.config.threads,
                faststart=False,
                crf=crf,
            )
            return FrameEncoder(args)

        if not self.config.reuse_segments:
            enc = encoder(video_only)
            begin = None
            segments = None
        else:
            segments = plan_segments(ctx, durations, cues=cues, caption_style=style, extra=[params.quality, crf])
            current: dict[str, Any] = {}

            def finish_current() -> None:
                if current:
                    current["enc"].close()
                    self.segments.store(current["key"], current["path"])
                    current.clear()

            def begin(seg: Segment) -> bool:
                finish_current()
                seg_stats["segments"] += 1
                hit = self.segments.get(seg.key)
                if hit is not None:
                    seg_stats["reused"] += 1
                    parts.append(hit)
                    return False
                path = self.segments.path_for(seg.key)
                current.update(enc=encoder(path), key=seg.key, path=path)
                parts.append(path)
                return True

            class _SegmentWriter:
                def write(self, frame: Any) -> None:
                    current["enc"].write(frame)

                def close(self) -> None:
                    finish_current()

                def abort(self) -> None:
                    if current:
                        current["enc"].abort()
                        current.clear()

            enc = _SegmentWriter()  # type: ignore[assignment]
        import cv2

        # x264 keeps every core busy while frames stream; OpenCV's helper threads would only
        # contend with it (and leave the compose thread waiting on a descheduled helper).
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for fr in frames(
                ctx,
                durations,
                cues=cues,
                caption_style=style,
                on_scene=lambda i, n: report("compose", i / n),
                segments=segments,
                begin_segment=begin,
                clean_at=poster_i,
            ):
                enc.write(fr.yuv)
                if fr.repeated:
                    repeated += 1
                else:
                    composed += 1
                if fr.clean is not None:
                    # The frame shown at poster_t, composed without captions (never in posters).
                    poster = pool.submit(poster_png, fr.clean)
            report("encode", 0.95)
            t1 = time.perf_counter()
            enc.close()
        except BaseException:
            enc.abort()
            raise
        finally:
            cv2.setNumThreads(cv_threads)
        t2 = time.perf_counter()
        encoded = audio.result()  # normally finished long ago, while frames streamed
        t3 = time.perf_counter()
        m4a = tmp_dir / "audio.m4a"
        if not m4a.is_file():
            m4a.write_bytes(encoded.m4a)
        with atomic_path(video_path) as tmp:
            if self.config.reuse_segments:
                listing = tmp_dir / f"segments_{tag}.txt"
                listing.write_text("".join(f"file '{p}'\n" for p in parts), encoding="utf-8")
                run_ffmpeg(mux_args(listing, m4a, tmp, concat=True), "mux")
            else:
                run_ffmpeg(mux_args(video_only, m4a, tmp), "mux")
                video_only.unlink(missing_ok=True)
        t4 = time.perf_counter()
        floor_s = hold_bitrate_floor(ctx, spec_name, video_path, self.config.threads)
        t5 = time.perf_counter()
        if poster is None:  # the poster's segment came from the cache: compose that one frame
            from pipelines.video.compositor.frames import still_frame

            poster = pool.submit(poster_png, still_frame(ctx, durations, poster_t))
        atomic_write_bytes(poster_path, poster.result())
        timing = {
            "render_s": round(t5 - t0, 3),
            "bitrate_floor_s": floor_s,
            "flush_s": round(t2 - t1, 3),
            "audio_wait_s": round(t3 - t2, 3),
            "audio_job_s": encoded.seconds,
            "mux_s": round(t4 - t3, 3),
            "frames": composed + repeated,
            "composed_frames": composed,
            "repeated_frames": repeated,
            "poster_time": round(poster_t, 3),
            "crf": crf,
            **seg_stats,
        }
        return video_path, poster_path, timing
