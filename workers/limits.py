"""Work limits, applied where work is accepted (API, CLI, campaigns: at submit) AND where it is
done (the worker actors, before any decoding or rendering): one module, one message per limit.

Every refusal is a ``LimitError`` (a ``PipelineInputError``: HTTP 422, CLI exit 2, a job that
fails without retries) whose message names the setting (``limits.max_image_pixels``) and the
value seen, and whose ``field`` is the job field that is too large (``inputs.image``).

==============================  =========================================================
setting (``limits.*``)          what it bounds
==============================  =========================================================
``max_image_pixels``            width x height of every image input, from its header
``max_script_chars``            characters of a voiceover script (``voice.text``)
``max_template_seconds``        total ad length (fixed scenes + auto scenes for the voice)
``max_scenes``                  scenes in a template
``max_layers``                  layers over all scenes of a template
``max_canvas_pixels``           width x height of a rendered frame (format size x ``scale``)
``max_recolor_targets``         target colours (``to_colors``) in one recolor job
==============================  =========================================================

HTTP body size (``limits.max_upload_bytes``) is enforced by ``workers.api.body_limit`` before any
parsing, and audience rows (``limits.max_audience_rows``) by the campaign audience reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines._common.errors import PipelineInputError

if TYPE_CHECKING:
    from pipelines.video.template import Template

WORDS_PER_SECOND = 2.6  # typical TTS speaking rate: a script's length before it is rendered


class LimitError(PipelineInputError):
    """Input larger than a configured limit; the message names the ``limits.*`` setting."""


@dataclass(frozen=True)
class Limits:
    """The enforced limits (see module docstring); build with ``Limits.from_settings``."""

    max_image_pixels: int = 40_000_000
    max_script_chars: int = 2000
    max_template_seconds: float = 180.0
    max_scenes: int = 40
    max_layers: int = 400
    max_canvas_pixels: int = 3840 * 2160
    max_recolor_targets: int = 16

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        lim = settings.limits
        return cls(**{f: getattr(lim, f) for f in cls.__dataclass_fields__ if hasattr(lim, f)})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Limits:
        data = data or {}
        return cls(**{f: data[f] for f in cls.__dataclass_fields__ if f in data})

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    # -- single checks -------------------------------------------------------------------------

    def image(self, path: Path, field: str) -> None:
        """Pixel count from the image header (no decoding)."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                w, h = im.size
        except (UnidentifiedImageError, OSError):
            return  # not an image we can read: the pipeline's loader reports that with its field
        if w * h > self.max_image_pixels:
            raise LimitError(
                f"{field}: image is {w}x{h} = {w * h} pixels; the limit is {self.max_image_pixels} "
                "(limits.max_image_pixels)",
                field=field,
            )

    def script(self, text: Any, field: str) -> None:
        if isinstance(text, str) and len(text) > self.max_script_chars:
            raise LimitError(
                f"{field}: script is {len(text)} characters; the limit is {self.max_script_chars} "
                "(limits.max_script_chars)",
                field=field,
            )

    def recolor_targets(self, to_colors: Any, field: str) -> None:
        n = len(to_colors) if isinstance(to_colors, list | tuple) else 1
        if n > self.max_recolor_targets:
            raise LimitError(
                f"{field}: {n} target colours; the limit per job is {self.max_recolor_targets} "
                "(limits.max_recolor_targets)",
                field=field,
            )

    def template(
        self,
        tpl: Template,
        field: str,
        *,
        voice_seconds: float | None = None,
        formats: list[str] | None = None,
        scale: float | None = None,
    ) -> None:
        """Scenes, layers, total seconds (auto scenes sized for ``voice_seconds``) and the canvas
        of every requested format at ``scale``."""
        from pipelines.video.template import plan_durations

        if len(tpl.scenes) > self.max_scenes:
            raise LimitError(
                f"{field}: template has {len(tpl.scenes)} scenes; the limit is {self.max_scenes} (limits.max_scenes)",
                field=field,
            )
        layers = sum(len(s.layers) for s in tpl.scenes)
        if layers > self.max_layers:
            raise LimitError(
                f"{field}: template has {layers} layers; the limit is {self.max_layers} (limits.max_layers)",
                field=field,
            )
        total = float(sum(plan_durations(tpl, voice_seconds)))
        if total > self.max_template_seconds:
            raise LimitError(
                f"{field}: the ad would last {total:.1f} s; the limit is {self.max_template_seconds:g} s "
                "(limits.max_template_seconds)",
                field=field,
            )
        self.canvas(formats or list(tpl.formats), scale, "params.scale" if scale else field)

    def canvas(self, formats: list[str], scale: float | None, field: str) -> None:
        from pipelines.video.specs import FORMATS

        s = 1.0 if scale is None else float(scale)
        for fmt in formats:
            if fmt not in FORMATS:
                continue  # unknown formats are reported by the template validation
            w, h = FORMATS[fmt]
            cw, ch = round(w * s), round(h * s)
            if cw * ch > self.max_canvas_pixels:
                raise LimitError(
                    f"{field}: a {fmt} frame at scale {s:g} is {cw}x{ch} = {cw * ch} pixels; the limit is "
                    f"{self.max_canvas_pixels} (limits.max_canvas_pixels)",
                    field=field,
                )

    # -- whole jobs ----------------------------------------------------------------------------

    def job(
        self,
        kind: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, Path],
        template: Template | None = None,
        voice_seconds: float | None = None,
    ) -> None:
        """Every limit that applies to a job: ``inputs`` maps input names to local files;
        ``voice_seconds``: the rendered voiceover's length when known (else estimated)."""
        if kind == "recolor":
            self.recolor_targets(params.get("to_colors"), "params.to_colors")
            if "image" in inputs:
                self.image(inputs["image"], "inputs.image")
        elif kind == "voice":
            self.script(params.get("text"), "params.text")
        elif kind == "render_ad":
            voice = params.get("voice")
            voice_s = voice_seconds
            if isinstance(voice, Mapping):
                self.script(voice.get("text"), "params.voice.text")
                if voice_s is None and isinstance(voice.get("text"), str):
                    voice_s = estimate_speech_seconds(voice["text"])
            recolor = params.get("recolor")
            if isinstance(recolor, Mapping):
                self.recolor_targets(recolor.get("to_colors"), "params.recolor.to_colors")
            if "product_image" in inputs:
                self.image(inputs["product_image"], "inputs.product_image")
            if template is not None:
                field = "inputs.template" if "template" in inputs else "params.template"
                formats = params.get("formats")
                scale = params.get("scale")
                self.template(
                    template,
                    field,
                    voice_seconds=voice_s,
                    formats=[str(f) for f in formats] if isinstance(formats, list) else None,
                    scale=float(scale) if isinstance(scale, int | float) else None,
                )


def estimate_speech_seconds(text: str) -> float:
    """Seconds a script takes to speak, before it is rendered (words / 2.6 + pauses)."""
    words = len(text.split())
    pauses = sum(text.count(p) for p in ".!?;:") * 0.3
    return round(words / WORDS_PER_SECOND + pauses, 2)
