"""VideoAdPipeline: template + merge data (+ voiceover, product image, music) -> MP4s per format.

check_inputs (validate everything, all errors at once) -> preprocess (merge fields, scene
durations, caption cues) -> render per format (numpy compositor streaming yuv420p into the
bundled ffmpeg's libx264) -> postprocess (stream-copy mux, probe, spec checks).

Only the frames are on the critical path. The audio job (mix -> AAC encode -> decode that AAC
and measure its loudness) runs in a worker thread while frames stream, and the MP4 is a stream
copy of the x264 output and that AAC, so the loudness in the metadata is measured on the very
packets the file carries. The poster JPEG is encoded from the composed RGB frame in a worker
thread too; the post-encode probe is one ``ffmpeg -i`` (no decode).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
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
from pipelines.video.ffmpeg import (
    X264_PRESETS,
    FrameEncoder,
    bitrate_floor_args,
    decode_audio,
    encode_aac,
    encoder_args,
    mux_args,
    probe,
    run_ffmpeg,
)
from pipelines.video.specs import (
    AD_SPECS,
    FORMATS,
    canvas_size,
    check_render,
    delivery_check,
    encode_crf,
    get_spec,
)
from pipelines.video.template import (
    Template,
    load_template,
    merge_template,
    plan_durations,
    resolve_asset,
    validate_template,
)

PIPELINE_VERSION = VERSION
CAPTION_STYLES = ("sentence", "words", "none")

TimingLike = Any  # tuple (text, start, end) or an object with .text/.start/.end


def _as_timing(item: TimingLike) -> tuple[str, float, float]:
    if isinstance(item, tuple | list):
        return (str(item[0]), float(item[1]), float(item[2]))
    return (str(item.text), float(item.start), float(item.end))


@dataclass(frozen=True)
class Voiceover:
    """A voiceover WAV and its sentence/word timings (seconds from the start of the WAV)."""

    wav_path: Path
    sentences: list[tuple[str, float, float]] = field(default_factory=list)
    words: list[tuple[str, float, float]] = field(default_factory=list)

    @classmethod
    def from_timings(
        cls, wav_path: str | Path, sentences: Sequence[TimingLike], words: Sequence[TimingLike]
    ) -> Voiceover:
        """Accept (text, start, end) tuples or objects with .text/.start/.end (voice's Timing)."""
        return cls(Path(wav_path), [_as_timing(s) for s in sentences], [_as_timing(w) for w in words])

    @property
    def duration(self) -> float:
        import soundfile as sf

        info = sf.info(str(self.wav_path))
        return float(info.frames) / float(info.samplerate)


@dataclass(frozen=True)
class VideoConfig:
    """Load-time settings: cache budget (scene backgrounds/sprites), encoder threads, assets root."""

    cache_bytes: int = 512 * 1024 * 1024  # bytes of decoded media, sprites and backgrounds kept
    threads: int = 0  # x264 encoder threads; 0 = ffmpeg chooses
    assets_root: Path | None = None  # directory template media/font names resolve against
    # Encode each scene segment separately and reuse encoded segments whose pixels are identical
    # across renders (customers sharing scenes). A one-off render is cheapest with False.
    reuse_segments: bool = False
    segment_cache_bytes: int = 1024 * 1024 * 1024  # bytes of encoded segments kept on disk
    # Encoded soundtracks (AAC + loudness) kept for later renders with the same voiceover, music
    # and timing. Bounded by bytes, not entries: a campaign cycles through every distinct voice
    # (dozens), and a small LRU thrashed on such a cycle (0 hits), remixing every ad.
    audio_cache_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class VideoAdParams:
    """Per-render inputs. ``scale``/``fps`` shrink renders for previews and tests.

    Units: times in seconds, sizes in pixels, frame rates in frames per second. Paths are
    local files the *caller* resolved (asset ids / registry names are resolved above pipelines/).
    """

    data: dict[str, Any]  # merge-field values for the template (name -> value; strings, numbers)
    out_dir: Path  # directory the MP4, PNG poster and VTT/SRT files are written into
    formats: list[str] = field(default_factory=lambda: ["9:16"])  # aspect ratios: 9:16, 1:1, 4:5, 16:9
    voiceover: Voiceover | None = None  # WAV + sentence/word timings (seconds); sets the ad's length
    product_image: str | Path | None = None  # image file (PNG/JPEG/WebP) shown by the product layer
    # Mask of product_image (white = product) when the image has no alpha; the product layer
    # shows a cutout either way (alpha, this mask, or the studio-backdrop auto mask).
    product_mask: str | Path | None = None  # 8-bit greyscale image file, same pixel size as product_image
    music: str | Path | None = None  # audio file replacing the template's music bed (ducked under the voice)
    captions: str | None = "sentence"  # "sentence" = the template's style; "words" / "none" / None override
    basename: str = "ad"  # output file stem: <basename>_<9x16>.mp4 / .png / .vtt / .srt
    quality: str = "standard"  # x264 preset + CRF: "draft" (ultrafast, 26), "standard" (veryfast, 21), "high" (medium, 19)
    progress: Callable[[str, float], None] | None = None  # called with (stage name, fraction done 0-1)
    scale: float = 1.0  # canvas size factor, 0.05-2.0 (1.0 = 1080 px short side; 0.5 = 540 px)
    fps: int | None = None  # frames per second, 1-60; None = the template's fps (default 30)
    spec: str | None = None  # ad-platform spec name (specs.AD_SPECS): duration limits and bitrate/CRF floors


@dataclass(frozen=True)
class Render:
    format: str
    video_path: Path
    poster_path: Path
    vtt_path: Path | None
    srt_path: Path | None
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("video_path", "poster_path", "vtt_path", "srt_path"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


@dataclass(frozen=True)
class VideoAdOutput:
    renders: list[Render]
    validation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"renders": [r.to_dict() for r in self.renders], "validation": self.validation}


@dataclass(frozen=True)
class EncodedAudio:
    """The ad's soundtrack as the MP4 will carry it: AAC bytes (an .m4a), the mix's own stats,
    and the loudness measured by decoding that AAC (what a player hears)."""

    m4a: bytes
    mix_stats: dict[str, Any]
    loudness: dict[str, Any]
    seconds: float  # wall time of mix + encode + measure (in the worker thread)


def _fmt_tag(fmt: str) -> str:
    return fmt.replace(":", "x")


class VideoAdPipeline:
    """Render personalized video ads; holds a content-keyed cache shared across calls."""

    def __init__(self, config: VideoConfig | None = None) -> None:
        self.config = config or VideoConfig()
        self.cache = RenderCache(self.config.cache_bytes)
        self._segments: OrderedDict[str, Path] = OrderedDict()
        self._mixes: OrderedDict[str, EncodedAudio] = OrderedDict()
        self._mix_bytes = 0
        self.mix_hits = 0
        self.mix_misses = 0
        self._segment_bytes = 0
        self._segment_dir: tempfile.TemporaryDirectory[str] | None = None
        self.segment_hits = 0
        self.segment_misses = 0

    def close(self) -> None:
        """Drop the encoded-segment cache (its temp directory)."""
        if self._segment_dir is not None:
            self._segment_dir.cleanup()
            self._segment_dir = None
        self._segments.clear()
        self._segment_bytes = 0

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
                    errors.append(f"voiceover {params.voiceover.wav_path} is not readable audio: {exc}")
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
                from pipelines.video.template import resolve_font

                cap_font = resolve_font(template.captions.font, template, self.config.assets_root)
                problem = glyph_problem(spoken, template.captions.font_weight, cap_font, template.captions.font or "")
            except PipelineInputError as exc:
                report.errors.append(f"captions: {exc.message}")
            else:
                if problem is not None:  # captions only: the voice still carries the words
                    report.warnings.append(f"captions (voiceover sentences): {problem[0]}")
        if params.spec is not None and params.spec in AD_SPECS:
            from pipelines.video.specs import check_duration

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
        # inputs are identical) and poster JPEGs, both overlapping the frame streaming.
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
                    meta = self._metadata(merged, fmt, params, video_path, durations, audio.result(), timing, fps)
                    meta["captions_burned_in"] = bool(cues) and style != "none"
                    renders.append(Render(fmt, video_path, poster_path, vtt_path, srt_path, meta))
        progress("encode", 1.0)
        return VideoAdOutput(renders, checked["validation"])

    # -- steps -------------------------------------------------------------------------------
    def _audio_future(
        self, pool: ThreadPoolExecutor, tpl: Template, params: VideoAdParams, durations: list[float]
    ) -> Future[EncodedAudio]:
        """The encoded soundtrack: from the cache, else mixed/encoded/measured in ``pool``."""
        from pipelines.video.compositor.cache import digest, file_id

        vo = params.voiceover
        key = digest(
            tpl.audio.model_dump(mode="json"),
            [s.id for s in tpl.scenes],
            durations,
            file_id(Path(vo.wav_path)) if vo else None,
            (vo.sentences, vo.words) if vo else None,
            file_id(Path(params.music)) if params.music else None,
            [file_id(resolve_asset(x.src, tpl, self.config.assets_root)) for x in tpl.audio.sfx],
            file_id(resolve_asset(tpl.audio.music.src, tpl, self.config.assets_root)) if tpl.audio.music else None,
        )
        fut: Future[EncodedAudio]
        if key in self._mixes:
            self._mixes.move_to_end(key)
            self.mix_hits += 1
            fut = Future()
            fut.set_result(self._mixes[key])
            return fut
        self.mix_misses += 1

        def job() -> EncodedAudio:
            t0 = time.perf_counter()
            mix = self._mix(tpl, params, sum(durations))
            with tempfile.TemporaryDirectory(prefix="maydo-aac-") as d:
                m4a = encode_aac(mix.audio, Path(d) / "mix.m4a")
                # Measure what the MP4 will carry: these AAC packets are stream-copied into it.
                loudness = audio_mix.measure(decode_audio(m4a), audio_mix.SR)
                data = m4a.read_bytes()
            return EncodedAudio(data, mix.stats, loudness, round(time.perf_counter() - t0, 3))

        fut = pool.submit(job)

        def remember(f: Future[EncodedAudio]) -> None:
            if f.exception() is None and key not in self._mixes:
                self._mixes[key] = f.result()
                self._mix_bytes += len(f.result().m4a)
                while self._mix_bytes > self.config.audio_cache_bytes and len(self._mixes) > 1:
                    _, old = self._mixes.popitem(last=False)
                    self._mix_bytes -= len(old.m4a)

        fut.add_done_callback(remember)
        return fut

    def _mix(self, tpl: Template, params: VideoAdParams, total: float) -> audio_mix.MixResult:
        a = tpl.audio
        voice = None
        timings: list[tuple[float, float]] | None = None
        if params.voiceover is not None:
            voice = audio_mix.load_audio(Path(params.voiceover.wav_path))
            timings = (
                [(s, e) for _, s, e in params.voiceover.words]
                or [(s, e) for _, s, e in params.voiceover.sentences]
                or None
            )
        music = None
        music_path: Path | None = Path(params.music) if params.music else None
        if music_path is None and a.music is not None:
            music_path = resolve_asset(a.music.src, tpl, self.config.assets_root)
        if music_path is not None:
            music = audio_mix.load_audio(music_path)
        sfx = []
        starts = dict(
            zip(
                [s.id for s in tpl.scenes],
                _cumstarts(plan_durations(tpl, None if voice is None else len(voice) / audio_mix.SR)),
                strict=False,
            )
        )
        for item in a.sfx:
            path = resolve_asset(item.src, tpl, self.config.assets_root)
            if path is not None:
                at = item.at + (starts.get(item.scene, 0.0) if item.scene else 0.0)
                sfx.append((audio_mix.load_audio(path), at, item.volume_db))
        m = a.music
        return audio_mix.mix(
            total,
            voice=voice,
            voice_offset=a.voice_offset,
            voice_timings=timings,
            voice_db=a.voice_db,
            music=music,
            music_db=m.volume_db if m else -16.0,
            duck_db=m.duck_db if m else -12.0,
            music_fade_in=m.fade_in if m else 0.5,
            music_fade_out=m.fade_out if m else 1.5,
            sfx=sfx,
            target_lufs=a.target_lufs,
            true_peak_ceiling=a.true_peak_db,
        )

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
        poster_t = _poster_time(ctx.template, durations)
        poster_i = min(int(math.floor(poster_t * ctx.fps + 1e-9)), _total_frames(durations, ctx.fps) - 1)
        poster: Future[bytes] | None = None
        t0 = time.perf_counter()
        composed = repeated = 0
        seg_stats = {"segments": 0, "reused": 0}
        video_only = tmp_dir / f"video_{tag}.mp4"
        parts: list[Path] = []
        spec_name = params.spec or ctx.template.spec
        crf = encode_crf(get_spec(spec_name) if spec_name else None, X264_PRESETS[params.quality][1], (W, H))
        if not self.config.reuse_segments:
            cmd = encoder_args(
                W,
                H,
                ctx.fps,
                video_only,
                audio=None,
                quality=params.quality,
                threads=self.config.threads,
                faststart=False,
                crf=crf,
            )
            enc = FrameEncoder(cmd)
            begin = None
            segments = None
        else:
            segments = plan_segments(ctx, durations, cues=cues, caption_style=style, extra=[params.quality, crf])
            current: dict[str, Any] = {}

            def finish_current() -> None:
                if current:
                    current["enc"].close()
                    self._store_segment(current["key"], current["path"])
                    current.clear()

            def begin(seg: Segment) -> bool:
                finish_current()
                seg_stats["segments"] += 1
                hit = self._segments.get(seg.key)
                if hit is not None and hit.is_file():
                    self._segments.move_to_end(seg.key)
                    self.segment_hits += 1
                    seg_stats["reused"] += 1
                    parts.append(hit)
                    return False
                self.segment_misses += 1
                path = self._segment_root() / f"{seg.key}.mp4"
                cmd = encoder_args(
                    W,
                    H,
                    ctx.fps,
                    path,
                    audio=None,
                    quality=params.quality,
                    threads=self.config.threads,
                    faststart=False,
                    crf=crf,
                )
                current.update(enc=FrameEncoder(cmd), key=seg.key, path=path)
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
                    poster = pool.submit(_poster_png, fr.clean)
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
        floor_s = self._bitrate_floor(ctx, params, video_path, tmp_dir)
        t5 = time.perf_counter()
        if poster is None:  # the poster's segment came from the cache: compose that one frame
            from pipelines.video.compositor.frames import still_frame

            poster = pool.submit(_poster_png, still_frame(ctx, durations, poster_t))
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

    def _bitrate_floor(self, ctx: RenderContext, params: VideoAdParams, video_path: Path, tmp_dir: Path) -> float | None:
        """Hold the spec's minimum video bitrate: when the CRF encode came out under it (static,
        easy content), re-encode the video as CBR at 1.3x the floor (HRD filler guarantees it).
        Returns the seconds spent, None when no re-encode was needed."""
        name = params.spec or ctx.template.spec
        spec = get_spec(name) if name else None
        if spec is None or spec.min_video_kbps <= 0 or min(ctx.size) < spec.min_short_side:
            return None  # no floor, or a preview below the spec's resolution (it cannot pass anyway)
        floor = spec.min_video_kbps
        kbps = probe(video_path, loudness=False).get("video_kbps") or 0.0
        if kbps >= floor * 1.05:
            return None
        t = time.perf_counter()
        with atomic_path(video_path) as tmp:
            run_ffmpeg(bitrate_floor_args(video_path, tmp, floor * 1.3, ctx.fps, threads=self.config.threads), "bitrate floor")
        return round(time.perf_counter() - t, 3)

    def _segment_root(self) -> Path:
        if self._segment_dir is None:
            # the pid in the name lets a sweep remove the cache of an actor that was killed
            self._segment_dir = tempfile.TemporaryDirectory(prefix=f"maydo-segments-p{os.getpid()}-")
        return Path(self._segment_dir.name)

    def _store_segment(self, key: str, path: Path) -> None:
        self._segments[key] = path
        self._segment_bytes += path.stat().st_size
        while self._segment_bytes > self.config.segment_cache_bytes and len(self._segments) > 1:
            _, old = self._segments.popitem(last=False)
            self._segment_bytes -= old.stat().st_size if old.exists() else 0
            old.unlink(missing_ok=True)

    def _metadata(
        self,
        tpl: Template,
        fmt: str,
        params: VideoAdParams,
        video_path: Path,
        durations: list[float],
        audio: EncodedAudio,
        timing: dict[str, Any],
        fps: int,
    ) -> dict[str, Any]:
        meta = probe(video_path, loudness=False)
        if any(st["type"] == "audio" for st in meta["streams"]):
            meta["loudness"] = dict(audio.loudness)  # decoded from the AAC packets the file carries
        spec_names = [params.spec or tpl.spec] if (params.spec or tpl.spec) else []
        checks = [check_render(get_spec(n), fmt, meta) for n in spec_names if n]
        delivery = delivery_check(
            meta,
            fmt,
            get_spec(spec_names[0]) if spec_names and spec_names[0] else None,
            planned_duration=sum(durations),
            fps=fps,
            target_lufs=tpl.audio.target_lufs,
            true_peak_db=tpl.audio.true_peak_db,
        )
        compatible = [n for n, s in AD_SPECS.items() if check_render(s, fmt, meta)["ok"]]
        return {
            "pipeline": PIPELINE_VERSION,
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
            "quality": params.quality,
            "cache": {"hits": self.cache.hits, "misses": self.cache.misses},
        }


def _poster_png(rgb: Any) -> bytes:
    """PNG bytes of a composed, caption-free RGB frame (fast zlib level: it runs beside x264)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _total_frames(durations: list[float], fps: int) -> int:
    return int(round(sum(durations) * fps))


def _cumstarts(durations: list[float]) -> list[float]:
    out, acc = [], 0.0
    for d in durations:
        out.append(acc)
        acc += d
    return out


def _poster_time(tpl: Template, durations: list[float]) -> float:
    """Poster frame: template's ``poster_at``, else when the first scene's entrances have finished."""
    total = sum(durations)
    if tpl.poster_at is not None:
        return min(tpl.poster_at, max(0.0, total - 0.05))
    settle = 0.5
    for layer in tpl.scenes[0].layers:
        if layer.enter is not None:
            settle = max(settle, layer.start + layer.enter.delay + layer.enter.duration + 0.1)
    return min(settle, durations[0] * 0.9)
