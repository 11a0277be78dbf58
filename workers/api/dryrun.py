"""``dry_run=true``: validate a job request and estimate its output length without queueing it.

Checks what can be checked cheaply in the API process: the runtime's own spec validation, that
inputs exist in the tenant, image pixel counts, script length, the accent against the voice
registry, and the template (loaded and validated by the video pipeline's own loader).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from pipelines._common.errors import PipelineInputError
from workers.limits import LimitError, Limits, estimate_speech_seconds

if TYPE_CHECKING:
    from workers.api.context import ApiContext


def _err(errors: list[dict[str, Any]], message: str, field: str | None, code: str = "invalid_input") -> None:
    errors.append({"code": code, "message": message, "field": field})


def _check_colours(targets: list[Any], field: str, errors: list[dict[str, Any]], palettes: Any = None) -> None:
    """Each target colour must parse (hex, rgb(), a colour name, palette:colourway) as the worker parses
    it, with the job's own ``palettes`` when it sends some."""
    from pipelines._common.colors import parse_color

    for i, target in enumerate(targets):
        if not isinstance(target, str):
            continue  # reported by the list check
        try:
            parse_color(target, palettes=palettes if isinstance(palettes, dict) else None)
        except PipelineInputError as exc:
            _err(errors, exc.message, f"{field}[{i}]")


def _check_voice(ctx: ApiContext, params: dict[str, Any], prefix: str, errors: list[dict[str, Any]],
                 warnings: list[dict[str, Any]]) -> float | None:
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        _err(errors, "a voice job needs a non-empty 'text' (the script)", f"{prefix}text")
        return None
    try:
        Limits.from_settings(ctx.settings).script(text, f"{prefix}text")
    except LimitError as exc:
        _err(errors, exc.message, exc.field)
    else:  # the voice job's own character check (emoji, CJK, control characters), before any work
        from pipelines.voice.prosody import check_characters, plain_text

        try:
            check_characters(plain_text(text))
        except PipelineInputError as exc:
            _err(errors, exc.message, f"{prefix}text")
    accent = params.get("accent")
    if accent is not None:
        try:
            known = list(_known_accents())
            if known and str(accent) not in known:
                from pipelines._common.errors import unknown_choice

                e = unknown_choice("accent", str(accent), known, field=f"{prefix}accent")
                _err(errors, e.message, e.field)
        except ImportError:
            warnings.append({"code": "unchecked", "message": "voice registry unavailable; accent not checked",
                             "field": f"{prefix}accent"})
    return estimate_speech_seconds(text)


@functools.lru_cache(maxsize=1)
def _known_accents() -> tuple[str, ...]:
    """Accent ids of the voice registry (a data file that does not change while serving)."""
    from pipelines.voice.accents import load_registry

    return tuple(_registry_ids(load_registry()))


def _registry_ids(registry: Any) -> list[str]:
    if isinstance(registry, dict):
        return [str(k) for k in registry]
    for attr in ("ids", "names", "keys"):
        fn = getattr(registry, attr, None)
        if callable(fn):
            return [str(k) for k in fn()]
    accents = getattr(registry, "accents", None)
    if isinstance(accents, dict):
        return [str(k) for k in accents]
    return []


def _check_image(ctx: ApiContext, asset_id: str, field: str, errors: list[dict[str, Any]]) -> None:
    from PIL import Image

    try:
        with ctx.assets.local_copy(asset_id) as local, Image.open(local) as im:
            w, h = im.size
    except Exception as exc:  # any decoder failure means "not an image we can read"
        _err(errors, f"input is not a readable image ({type(exc).__name__})", field)
        return
    try:
        Limits.from_settings(ctx.settings).image(ctx.assets.path(asset_id), field)
    except LimitError as exc:
        _err(errors, exc.message, exc.field)


def _template_seconds(ctx: ApiContext, params: dict[str, Any], inputs: dict[str, str], voice_s: float | None,
                      errors: list[dict[str, Any]], warnings: list[dict[str, Any]]) -> float | None:
    try:
        from pipelines.video import template as tmpl
    except ImportError:
        warnings.append({"code": "unchecked", "message": "video templates unavailable; not checked",
                         "field": "params.template"})
        return None
    from workers.resolver import Resolver

    # The job's inputs were tenant-checked by the caller; the template resolves like in the worker.
    resolver = Resolver(ctx.assets, allowed_assets=set(inputs.values()))
    data = params.get("data") if isinstance(params.get("data"), dict) else {}
    ref: Any
    if "template" in inputs:
        ref, field = inputs["template"], "inputs.template"
    else:
        ref, field = params.get("template"), "params.template"
        if not isinstance(ref, str) or not ref:
            _err(errors, "an ad needs params.template (a template name) or inputs.template", "params.template")
            return None
    try:
        template = resolver.load_template(ref, field, data)
    except PipelineInputError as exc:
        _err(errors, exc.message, exc.field or field)
        return None
    formats, scale = params.get("formats"), params.get("scale")
    try:  # scenes, layers, length, canvas: the same limits the worker applies
        Limits.from_settings(ctx.settings).template(
            template, field, voice_seconds=voice_s,
            formats=[str(f) for f in formats] if isinstance(formats, list) else None,
            scale=float(scale) if isinstance(scale, int | float) else None)
    except LimitError as exc:
        _err(errors, exc.message, exc.field)
    plan = getattr(tmpl, "plan_durations", None)
    if plan is not None:
        try:
            return round(float(sum(plan(template, voice_s))), 2)
        except PipelineInputError as exc:
            _err(errors, exc.message, exc.field or "params.template")
            return None
    fixed = [float(s.duration) for s in template.scenes if not isinstance(s.duration, str)]
    return round(sum(fixed) + (voice_s or 0.0), 2)


def dry_run_report(ctx: ApiContext, kind: str, body: Any, tenant: str) -> dict[str, Any]:
    """Errors, warnings and the estimated output seconds for a job request; queues nothing."""
    from workers.jobs.models import JobSpec

    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    seconds: float | None = None
    params: dict[str, Any] = body.params
    try:
        JobSpec(kind=kind, params=params, inputs=body.inputs, lane=body.lane, priority=body.priority,
                tenant=tenant).validated(allow_test_kinds=ctx.settings.dispatcher.test_kinds)
    except PipelineInputError as exc:
        _err(errors, exc.message, exc.field)
    for name, asset_id in body.inputs.items():
        if not ctx.assets.exists(asset_id):
            _err(errors, f"input {name!r}: no such asset", f"inputs.{name}")
    if kind == "recolor":
        if "image" not in body.inputs:
            _err(errors, "a recolor job needs inputs.image", "inputs.image")
        elif ctx.assets.exists(body.inputs["image"]):
            _check_image(ctx, body.inputs["image"], "inputs.image", errors)
        targets = params.get("to_colors")
        if not isinstance(targets, list) or not targets or not all(isinstance(c, str) for c in targets):
            _err(errors, "params.to_colors must be a non-empty list of colours ('#c0392b' or a name)",
                 "params.to_colors")
        else:
            try:
                Limits.from_settings(ctx.settings).recolor_targets(targets, "params.to_colors")
            except LimitError as exc:
                _err(errors, exc.message, exc.field)
            _check_colours(targets, "params.to_colors", errors, params.get("palettes"))
        seconds = 0.0
    elif kind == "voice":
        seconds = _check_voice(ctx, params, "params.", errors, warnings)
    elif kind == "render_ad":
        voice_s = None
        voice = params.get("voice")
        if isinstance(voice, dict):
            voice_s = _check_voice(ctx, voice, "params.voice.", errors, warnings)
        elif voice is not None:
            _err(errors, "params.voice must be an object with 'text'", "params.voice")
        if "product_image" in body.inputs and ctx.assets.exists(body.inputs["product_image"]):
            _check_image(ctx, body.inputs["product_image"], "inputs.product_image", errors)
        if params.get("recolor") is not None and "product_image" not in body.inputs:
            _err(errors, "params.recolor needs inputs.product_image", "inputs.product_image")
        recolor = params.get("recolor")
        if isinstance(recolor, dict) and isinstance(recolor.get("to_colors"), list):
            _check_colours(recolor["to_colors"], "params.recolor.to_colors", errors, recolor.get("palettes"))
        seconds = _template_seconds(ctx, params, body.inputs, voice_s, errors, warnings)
    return {
        "dry_run": True,
        "valid": not errors,
        "kind": "ad" if kind == "render_ad" else kind,
        "errors": errors,
        "warnings": warnings,
        "estimated_output_seconds": seconds,
    }
