"""``maydo campaign validate|run|status|resume SPEC`` and ``maydo demo`` (the sample campaign)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from workers.commands.common import console, fail, print_json, settings_from

DEMO_SPEC = Path(__file__).resolve().parents[2] / "assets" / "demo" / "campaign.yaml"

campaign_app = typer.Typer(help="Personalized ad campaigns: audience x catalogue x template.", no_args_is_help=True)


def _spec(path: Path, size: str | None = None, settings: Any | None = None) -> Any:
    """Load a spec; with ``settings``, local template/music files it names (relative to the spec)
    go into the asset store and the spec refers to them by asset id (see workers.resolver)."""
    from workers.campaigns import CampaignSpecError, load_spec

    overrides = {"size": size} if size else {}
    try:
        spec = load_spec(path, **overrides)
    except CampaignSpecError as exc:
        fail(str(exc), code=2)
    if settings is None:
        return spec
    from pipelines._common.errors import PipelineInputError
    from workers.resolver import ingest_ref
    from workers.storage import open_store

    store = open_store(settings)
    base = (path.resolve().parent,)
    try:  # a local template that is binary, an alias bomb, ...: exit 2 naming the field
        updates: dict[str, Any] = {
            "template": ingest_ref(spec.template, store, kind="template", field="template", bases=base),
            "templates": {k: ingest_ref(v, store, kind="template", field=f"templates.{k}", bases=base)
                          for k, v in spec.templates.items()},
        }
        if spec.music:
            _check_local_music(spec.music, base[0])
            updates["music"] = ingest_ref(spec.music, store, kind="music", field="music", bases=base)
    except PipelineInputError as exc:
        fail(f"{exc.field or 'spec'}: {exc.message}" if exc.field and exc.field not in exc.message
             else exc.message, code=2)
    return spec.model_copy(update=updates)


def _check_local_music(value: str, spec_dir: Path) -> None:
    """A music bed given as a local file: exit 2 naming that file when it is missing or not
    decodable audio (once, before the asset store turns it into an anonymous asset id)."""
    from pipelines.video.media_check import audio_problem
    from workers.resolver import Registry, is_asset_id

    beds = Registry.default().music()
    if is_asset_id(value) or value in beds or ("/" not in value and "\\" not in value and Path(value).stem in beds):
        return
    cands = [Path(value)] if Path(value).is_absolute() else [spec_dir / value, Path.cwd() / value]
    found = next((c for c in cands if c.is_file()), None)
    if found is None:
        if Path(value).suffix:  # looks like a file name, not a bed name: say it was not found
            fail(f"music: file not found: {value} (relative to {spec_dir}); give an audio file or a "
                 f"music bed name; allowed beds: {', '.join(sorted(beds))}", code=2)
        return  # an unknown bed name: the row check lists the allowed beds
    problem = audio_problem(found)
    if problem:
        fail(f"music: {value} {problem}; give an audio file (WAV, M4A/AAC, MP3, FLAC, OGG)", code=2)


def _summary(result: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"campaign {result.campaign_id}", show_lines=False)
    for col in ("row", "customer", "product · colourway", "accent", "tone", "format", "status", "ad / error"):
        table.add_column(col, overflow="fold")
    for ad in result.ads:
        plan = ad.plan
        prod = f"{plan.get('sku', '')} · {plan.get('colourway', '')}" if plan else ""
        video = next((p for k, p in ad.files.items() if k.endswith(".video")), "")
        style = {"done": "green", "failed": "red", "invalid": "red", "pending": "yellow"}.get(ad.status, "")
        detail = escape(video or (f"[{ad.error_field}] {ad.error}" if ad.error else ""))
        table.add_row(
            str(ad.row),
            escape(f"{ad.first_name} ({ad.customer_id})" if ad.first_name else ad.customer_id),
            prod,
            str(plan.get("accent", "")),
            str(plan.get("tone", "")),
            ",".join(ad.formats),
            f"[{style}]{ad.status}[/]" if style else ad.status,
            detail,
        )
    console.print(table)
    st = result.stats
    stage = st.get("stage_s", {})
    busy = sum(stage.values()) or 1.0
    shares = ", ".join(f"{k} {v / busy:.0%}" for k, v in stage.items())
    console.print(
        f"rows {st.get('rows')} · planned {st.get('planned')} · invalid {st.get('invalid')} · "
        f"resumed {st.get('resumed')} · submitted {st.get('submitted')} · unique recolors "
        f"{st.get('unique_recolors')} · unique voices {st.get('unique_voices')} · wall {st.get('wall_s')} s"
        + (f" · work share: {shares}" if stage else ""),
        highlight=False,
    )
    if result.interrupted:
        console.print("[yellow]interrupted[/]: `maydo campaign resume SPEC` renders only what is missing.")
    console.print(f"gallery: [bold]{result.gallery}[/]", highlight=False)


@contextmanager
def _progress_bar() -> Iterator[Callable[[Any], None]]:
    """A rich progress bar fed by the campaign runner's progress hook (counts after each batch)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ok {task.fields[ok]} · failed {task.fields[failed]} · cached {task.fields[cached]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    task: list[Any] = []

    def hook(p: Any) -> None:
        fields = {"completed": p.ok + p.failed, "ok": p.ok, "failed": p.failed, "cached": p.cached}
        if not task:
            task.append(bar.add_task(p.title, total=p.total, **fields))
        else:
            bar.update(task[0], **fields)

    with bar:
        yield hook


def _run(ctx: typer.Context, spec_path: Path, size: str | None, progress: bool, as_json: bool, resume: bool) -> None:
    from pipelines._common.errors import PipelineInputError
    from workers.campaigns import campaign_dir, run_campaign

    settings = settings_from(ctx)
    spec = _spec(spec_path, size, settings)
    if resume and not (campaign_dir(settings, spec.campaign_id) / "state.json").is_file():
        fail(f"nothing to resume for campaign {spec.campaign_id!r}; start it with `maydo campaign run`", code=2)
    try:
        if progress and not as_json:
            with _progress_bar() as hook:
                result = run_campaign(spec, settings, progress=hook)
        else:
            result = run_campaign(spec, settings)
    except PipelineInputError as exc:
        fail(exc.message, code=2)
    if as_json:
        print_json(
            {
                "campaign_id": result.campaign_id,
                "counts": result.counts(),
                "stats": result.stats,
                "gallery": str(result.gallery),
                "interrupted": result.interrupted,
            }
        )
    else:
        _summary(result)
    if result.interrupted:
        raise typer.Exit(130)
    if result.counts().get("failed"):
        raise typer.Exit(1)


@campaign_app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="campaign spec YAML"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Check the spec and every audience row against what a render would reject (template, merge
    fields, media, glyphs, voice script and length); lists every error with row number and field."""
    _validate(ctx, spec, as_json)


def _validate(ctx: typer.Context, spec: Path, as_json: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pipelines._common.errors import PipelineInputError
    from workers.campaigns import validate_campaign

    settings = settings_from(ctx)
    cspec = _spec(spec, settings=settings)
    try:
        v = validate_campaign(cspec, settings)
    except PipelineInputError as exc:
        fail(exc.message, code=2)
    if as_json:
        print_json(
            {
                "campaign_id": cspec.campaign_id,
                "rows": v.rows_total,
                "valid": len(v.planned),
                "errors": [e.__dict__ for e in v.errors],
                "warnings": [e.__dict__ for e in v.warnings],
                "plans": [{"row": p.row, **p.plan.to_dict()} for p in v.planned],
            }
        )
    else:
        table = Table(title=f"{cspec.campaign_id}: {len(v.planned)}/{v.rows_total} rows valid")
        for col in ("row", "customer", "product", "colourway", "accent", "tone", "variant", "format"):
            table.add_column(col)
        for p in v.planned:
            pl = p.plan
            table.add_row(
                str(p.row),
                f"{pl.first_name} ({pl.customer_id})",
                pl.sku,
                pl.colourway,
                pl.accent,
                pl.tone,
                pl.template_variant,
                pl.format,
            )
        console.print(table)
        for e in v.errors:
            console.print(
                f"[red]row {e.row}[/] ({escape(e.customer_id or '?')}) [bold]{escape(e.field)}[/]: {escape(e.message)}",
                highlight=False,
            )
        for e in v.warnings:
            console.print(
                f"[yellow]warning row {e.row}[/] ({escape(e.customer_id or '?')}) {escape(e.field)}: "
                f"{escape(e.message)}",
                highlight=False,
            )
    if v.errors:
        raise typer.Exit(1)


@campaign_app.command("run")
def run_cmd(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="campaign spec YAML"),
    size: str | None = typer.Option(None, help="override the spec's render size: tiny | small | full"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate every row (same as `validate`); render nothing"),
) -> None:
    """Render the campaign (skips ads already rendered; Ctrl-C stops cleanly, `resume` continues)."""
    if dry_run:
        _validate(ctx, spec, as_json)
        return
    _run(ctx, spec, size, progress, as_json, resume=False)


@campaign_app.command("resume")
def resume_cmd(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="campaign spec YAML"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Continue an interrupted campaign: renders only the ads that are missing."""
    _run(ctx, spec, None, progress, as_json, resume=True)


@campaign_app.command("status")
def status_cmd(
    ctx: typer.Context,
    spec: str = typer.Argument(..., help="campaign spec YAML or campaign id"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Exported ads, manifest counts and job states; exports ads that finished since the last look."""
    from workers.campaigns import campaign_status

    settings = settings_from(ctx)
    cid = _spec(Path(spec)).campaign_id if Path(spec).is_file() else spec
    try:
        status = campaign_status(settings, cid)
    except KeyError:
        fail(f"no campaign {cid!r} under {settings.data_dir / 'campaigns'}", code=2)
    if as_json:
        print_json(status)
        return
    console.print(f"campaign [bold]{cid}[/] · ads {status['counts']} · jobs {status['jobs']}", highlight=False)
    if status.get("interrupted"):
        console.print("[yellow]interrupted[/]: run `maydo campaign resume SPEC`")
    console.print(f"gallery: {status['gallery']}", highlight=False)


@campaign_app.command("purge")
def purge_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete campaigns older than their tenant's retention (api.retention): ads, assets, jobs and
    the audience's personal data. Run it from cron; campaigns of tenants without retention stay."""
    from workers.api.context import ApiContext
    from workers.api.routes_campaigns import purge_expired

    settings = settings_from(ctx)
    api = ApiContext(settings)
    try:
        gone = purge_expired(api)
    finally:
        if api._runtime is not None:
            api._runtime.close()
    if as_json:
        print_json({"deleted": gone})
        return
    console.print(f"deleted {len(gone)} campaign(s) past retention: {', '.join(gone) or '-'}", highlight=False)


def demo(
    ctx: typer.Context,
    size: str | None = typer.Option(None, help="render size: tiny | small (default) | full"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Render the sample campaign (assets/demo/campaign.yaml): local Ray, exact recolor, espeak, 9:16.

    Ends with the gallery path and a summary table.
    """
    _run(ctx, DEMO_SPEC, size, progress, as_json=False, resume=False)


campaign_app.command("demo")(demo)


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")
    app.command("demo")(demo)
