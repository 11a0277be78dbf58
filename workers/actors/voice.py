"""Voice actor: one loaded ``VoicePipeline`` (engines, voices) serving many scripts."""

from __future__ import annotations

from pipelines._common.errors import PipelineInputError
from workers.actors.base import JobContext, PipelineActor
from workers.actors.recolor import make_params
from workers.jsonable import jsonable


class VoiceActor(PipelineActor):
    family = "voice"

    def load(self) -> None:
        from pipelines.voice import pipeline_voice as mod
        from pipelines.voice.config import VoiceConfig

        options = dict(self.options)
        config = VoiceConfig.from_options(options.pop("model_dir", None), options)
        self.pipe = mod.VoicePipeline(config)
        self.params_cls = mod.VoiceParams

    def execute(self, ctx: JobContext) -> None:
        text = ctx.params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise PipelineInputError("voice needs params.text (the script)", field="params.text")
        from workers.resolver import check_job_params

        check_job_params("voice", ctx.params)  # a worker never takes a path from a request
        ctx.limits.job("voice", ctx.params, ctx.inputs)
        params = make_params(self.params_cls, ctx.params, skip=("text",))
        if "speaker_wav" in ctx.inputs:
            import dataclasses

            params = dataclasses.replace(params, speaker_wav=str(ctx.inputs["speaker_wav"]))
        ctx.progress("tts", 0.1)
        out = self.pipe(text, params)
        ctx.progress("save", 0.9)
        path = ctx.workdir / "voice.wav"
        out.save_wav(path)
        ctx.outputs["audio"] = path
        ctx.result.update(
            {
                "duration_s": out.duration,
                "sentences": jsonable(out.sentences),
                "words": jsonable(out.words),
                "loudness_lufs": out.loudness_lufs,
                "true_peak_dbtp": out.true_peak_dbtp,
                "engine": out.engine,
                "voice": out.voice,
            }
        )
