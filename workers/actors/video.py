"""Video actor: renders ``render_ad`` jobs from a template, the recolored product and the voiceover.

The recolor and voice stages ran as child jobs (deduplicated by fingerprint); their outputs
arrive in ``ctx.deps``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError
from workers.actors.base import JobContext, PipelineActor
from workers.jsonable import jsonable


class VideoActor(PipelineActor):
    family = "video"

    def load(self) -> None:
        from pipelines.video import config
        from pipelines.video.pipeline_video_ad import VideoAdPipeline

        self.cfg = config  # VideoConfig, VideoAdParams, Voiceover
        # A long-lived actor renders many customers: reuse encoded scene segments they share
        # (measured -23..-53% per extra customer). Pool options are VideoConfig fields.
        self.pipe = VideoAdPipeline(config.VideoConfig(**{"reuse_segments": True, **self.options}))

    def _resolver(self, ctx: JobContext) -> Any:
        """Only the job's own input assets (tenant-checked at submit) and registry names resolve."""
        from workers.resolver import Resolver

        return Resolver(self.store, allowed_assets=set(ctx.input_ids.values()))

    def _template(self, ctx: JobContext, resolver: Any) -> Any:
        """The template as a ``Template`` whose ``media`` map is every file the render may open."""
        data = ctx.params.get("data") or {}
        if "template" in ctx.input_ids:
            return resolver.load_template(ctx.input_ids["template"], "inputs.template", data)
        name = ctx.params.get("template")
        if not isinstance(name, str) or not name:
            raise PipelineInputError(
                "render_ad needs params.template (a template name) or inputs.template (an asset id)",
                field="params.template",
            )
        return resolver.load_template(name, "params.template", data)

    def execute(self, ctx: JobContext) -> None:
        from workers.resolver import check_job_params

        cfg = self.cfg
        check_job_params("render_ad", ctx.params)  # again here: a worker never takes a path from a request
        resolver = self._resolver(ctx)
        template = self._template(ctx, resolver)
        voice_s = None
        if "voice" in ctx.deps and isinstance(ctx.deps["voice"]["result"].get("duration_s"), int | float):
            voice_s = float(ctx.deps["voice"]["result"]["duration_s"])
        ctx.limits.job("render_ad", ctx.params, ctx.inputs, template, voice_seconds=voice_s)
        product: Path | None = None
        if "recolor" in ctx.deps:
            rec = ctx.deps["recolor"]["outputs"]
            product = rec.get("cutout") or rec.get("image")  # RGBA cut-out: no opaque photo tile
        elif "product_image" in ctx.inputs:
            product = ctx.inputs["product_image"]
        voiceover: Any = None
        if "voice" in ctx.deps:
            dep = ctx.deps["voice"]
            from pipelines.voice.pipeline_output import Timing

            sentences = [Timing(**t) for t in dep["result"].get("sentences", [])]
            words = [Timing(**t) for t in dep["result"].get("words", [])]
            voiceover = cfg.Voiceover.from_timings(dep["outputs"]["audio"], sentences, words)

        def progress(*args: Any, **kwargs: Any) -> None:
            # The pipeline reports (stage, fraction[, message]); map into 0.05..0.9 of this job.
            stage = str(args[0] if args else kwargs.get("stage", "compose"))
            frac = float(args[1] if len(args) > 1 else kwargs.get("fraction", 0.0))
            msg = str(args[2] if len(args) > 2 else kwargs.get("message", ""))
            ctx.progress(stage, 0.05 + 0.85 * max(0.0, min(1.0, frac)), msg)

        params = {
            "data": dict(ctx.params.get("data") or {}),
            "formats": list(ctx.params.get("formats") or ["9:16"]),
            "voiceover": voiceover,
            "product_image": product,
            "out_dir": ctx.workdir,
            "basename": str(ctx.params.get("basename") or "ad"),
            "progress": progress,
        }
        if ctx.params.get("music") is not None:
            params["music"] = resolver.music(ctx.params["music"], "params.music")
        for key, value in ctx.params.items():
            if key not in {"template", "data", "formats", "basename", "recolor", "voice", "music"}:
                params[key] = value
        try:
            vparams = cfg.VideoAdParams(**params)
        except TypeError as exc:
            raise PipelineInputError(f"invalid render_ad params: {exc}", field="params") from exc
        ctx.progress("compose", 0.05)
        out = self.pipe(template, vparams)
        renders = []
        for r in out.renders:
            fmt = str(r.format)
            entry: dict[str, Any] = {"format": fmt, "metadata": jsonable(getattr(r, "metadata", {}))}
            for attr, key in (
                ("video_path", "video"),
                ("poster_path", "poster"),
                ("vtt_path", "vtt"),
                ("srt_path", "srt"),
            ):
                path = getattr(r, attr, None)
                if path:
                    ctx.outputs[f"{fmt}.{key}"] = Path(path)
                    entry[key] = f"{fmt}.{key}"
            renders.append(entry)
        ctx.result["renders"] = renders
