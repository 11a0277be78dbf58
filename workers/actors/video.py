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
        from pipelines.video import pipeline_video_ad as mod

        self.mod = mod
        # A long-lived actor renders many customers: reuse encoded scene segments they share
        # (measured -23..-53% per extra customer). Pool options are VideoConfig fields.
        self.pipe = mod.VideoAdPipeline(mod.VideoConfig(**{"reuse_segments": True, **self.options}))

    def _template(self, ctx: JobContext) -> Path:
        if "template" in ctx.inputs:
            return ctx.inputs["template"]
        name = ctx.params.get("template")
        if not isinstance(name, str) or not name:
            raise PipelineInputError(
                "render_ad needs params.template (name or path) or inputs.template", field="params.template"
            )
        path = Path(name)
        if path.is_file():
            return path
        from pipelines._common.data import ASSETS_DIR

        for cand in (ASSETS_DIR / "templates" / name, ASSETS_DIR / "templates" / f"{name}.yaml"):
            if cand.is_file():
                return cand
        found = sorted(p.stem for p in (ASSETS_DIR / "templates").glob("*.yaml"))
        from pipelines._common.errors import unknown_choice

        raise unknown_choice("template", name, found, field="params.template")

    def execute(self, ctx: JobContext) -> None:
        mod = self.mod
        template = self._template(ctx)
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
            voiceover = mod.Voiceover.from_timings(dep["outputs"]["audio"], sentences, words)

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
        for key, value in ctx.params.items():
            if key not in {"template", "data", "formats", "basename", "recolor", "voice"}:
                params[key] = value
        try:
            vparams = mod.VideoAdParams(**params)
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
