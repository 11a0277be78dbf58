"""``maydo render`` (template + data -> MP4s) and ``maydo template validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from workers.commands.common import console, err_console, fail, print_json

template_app = typer.Typer(help="Video ad templates: validate, inspect.", no_args_is_help=True)


def _load_data(path: Path | None, option: str = "--data", what: str = "merge fields") -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        fail(f"{option}: file not found: {path}", code=2)
    from pipelines._common.data import load_data_file
    from pipelines._common.errors import PipelineInputError

    try:
        data = load_data_file(path, field=option)
    except PipelineInputError as exc:
        fail(exc.message, code=2)
    if not isinstance(data, dict):
        fail(f"{option}: {path} must hold a JSON object of {what}", code=2)
    return data


def render(
    template: Path = typer.Argument(..., help="Template YAML/JSON (see docs/templates.md)."),
    data: Path | None = typer.Option(None, "--data", "-d", help="JSON file of merge fields."),
    formats: list[str] = typer.Option(["9:16"], "--format", "-f", help="9:16, 1:1, 4:5, 16:9 (repeatable)."),
    voiceover: Path | None = typer.Option(None, "--voiceover", help="Voiceover WAV."),
    timings: Path | None = typer.Option(
        None, "--timings", help="JSON {sentences: [...], words: [...]} of [text,start,end] or {text,start,end} "
        "(what `maydo voice --json` prints) for captions/ducking."
    ),
    product: Path | None = typer.Option(None, "--product", help="Recolored product image for the product slot."),
    music: Path | None = typer.Option(None, "--music", help="Music bed replacing the template's."),
    captions: str = typer.Option("sentence", "--captions", help="sentence, words or none."),
    quality: str = typer.Option("standard", "--quality", help="draft, standard or high (x264 preset)."),
    scale: float = typer.Option(1.0, "--scale", help="Canvas scale for previews (e.g. 0.25)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output directory."),
    basename: str = typer.Option("ad", "--name", help="Output file base name."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Render a personalized video ad to MP4 (+ poster PNG, WebVTT/SRT captions) per format."""
    from pipelines._common.errors import PipelineInputError
    from pipelines.video.config import VideoAdParams, Voiceover
    from pipelines.video.pipeline_video_ad import VideoAdPipeline

    merge_data = _load_data(data)
    vo = None
    if voiceover is not None:
        sentences: list[Any] = []
        words: list[Any] = []
        if timings is not None:
            t = _load_data(timings, "--timings", "{sentences: [...], words: [...]}")
            sentences, words = t.get("sentences", []), t.get("words", [])
            if not isinstance(sentences, list) or not isinstance(words, list):
                fail("--timings: 'sentences' and 'words' must be lists", code=2)
        try:
            vo = Voiceover.from_timings(voiceover, sentences, words)
        except PipelineInputError as exc:
            fail(f"--timings: {exc.message}", code=2)

    def progress(stage: str, frac: float) -> None:
        if not as_json:
            err_console.print(f"[dim]{stage} {frac * 100:5.1f}%[/]", end="\r")

    params = VideoAdParams(
        data=merge_data,
        out_dir=out_dir,
        formats=list(formats),
        voiceover=vo,
        product_image=product,
        music=music,
        captions=captions,
        basename=basename,
        quality=quality,
        progress=progress,
        scale=scale,
    )
    try:
        out = VideoAdPipeline()(template, params)
    except PipelineInputError as exc:
        fail(exc.message, code=2)
    if as_json:
        print_json(out.to_dict())
        return
    for r in out.renders:
        m = r.metadata
        lufs = (m.get("loudness") or {}).get("integrated_lufs")
        delivery = m.get("delivery") or {}
        mark = "[green]✓[/]" if delivery.get("ok") else "[red]✗[/]"  # ✓ only when every delivery check passed
        console.print(
            f"{mark} {r.format:5} {r.video_path}  {m.get('width')}x{m.get('height')} "
            f"{m.get('duration', 0):.2f}s {m.get('size_bytes', 0) / 1e6:.2f} MB  {lufs} LUFS  "
            f"render {m['timing']['render_s']:.1f}s",
            highlight=False,
        )
        for problem in delivery.get("problems", []):
            console.print(f"    [yellow]{problem}[/]", highlight=False)
    for w in out.validation.get("warnings", []):
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


def validate(
    template: Path = typer.Argument(..., help="Template YAML/JSON."),
    data: Path | None = typer.Option(None, "--data", "-d", help="JSON file of merge fields."),
    formats: list[str] = typer.Option([], "--format", "-f", help="Formats to check (default: the template's)."),
    voice_duration: float | None = typer.Option(None, "--voice-duration", help="Seconds, for 'auto' scenes."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a template (and merge data) and print ALL errors and warnings; exit 2 on errors."""
    from pipelines._common.errors import PipelineInputError
    from pipelines.video.template import ValidationReport, load_template, validate_template

    merge_data = _load_data(data)
    try:
        tpl = load_template(template)
        report = validate_template(tpl, merge_data, formats=list(formats) or None, voice_duration=voice_duration)
    except PipelineInputError as exc:
        lines = exc.message.splitlines()
        errs = [ln[2:] if ln.startswith("- ") else ln for ln in (lines[1:] or lines)]
        report = ValidationReport(errors=errs)
    if as_json:
        print_json(report.to_dict())
    else:
        for e in report.errors:
            console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        for w in report.warnings:
            console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
        verdict = "[green]valid[/]" if report.ok else "[red]invalid[/]"
        console.print(f"{template}: {verdict} ({len(report.errors)} errors, {len(report.warnings)} warnings)")
    if not report.ok:
        raise typer.Exit(2)


def schema(out: Path | None = typer.Option(None, "--out", "-o", help="Write to a file instead of stdout.")) -> None:
    """Print the template JSON Schema (generated from the models)."""
    from pipelines.video.template import template_json_schema, write_json_schema

    if out is not None:
        write_json_schema(out)
        console.print(f"wrote {out}")
    else:
        print_json(template_json_schema())


template_app.command("validate")(validate)
template_app.command("schema")(schema)


def register(app: typer.Typer) -> None:
    app.command("render")(render)
    app.add_typer(template_app, name="template")
