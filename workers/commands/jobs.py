"""``maydo worker``, ``maydo submit ...``, ``maydo jobs list|show|cancel|retry``, ``maydo status``."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from workers.commands.common import console, fail, print_json, settings_from

if TYPE_CHECKING:
    from workers.jobs.models import JobRecord, JobSpec
    from workers.runtime import Runtime

submit_app = typer.Typer(help="Queue a job (recolor, voice, ad); --wait follows its progress.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and control queued/finished jobs.", no_args_is_help=True)

_LANE_HELP = "Lane: 'interactive' runs before any 'batch' job."
_STATUS_STYLE = {
    "queued": "cyan",
    "running": "yellow",
    "retrying": "magenta",
    "succeeded": "green",
    "failed": "red",
    "canceled": "dim",
}


def _runtime(ctx: typer.Context) -> Runtime:
    from workers.runtime import Runtime

    return Runtime(settings_from(ctx))


def _get(rt: Runtime, job_id: str) -> JobRecord:
    from workers.runtime import JobNotFound

    try:
        return rt.get(job_id)
    except JobNotFound:
        fail(f"no job {job_id!r}; list jobs with `maydo jobs list`", code=2)


def _put(rt: Runtime, path: Path, what: str) -> str:
    from workers.actors.base import media_type_for
    from workers.storage import open_store

    if not path.is_file():
        fail(f"{what}: file not found: {path}", code=2)
    return open_store(rt.settings).put(path, media_type_for(path), filename=path.name).id


def _submit(ctx: typer.Context, spec: JobSpec, opts: SubmitOptions) -> None:
    """The one submit path: queue ``spec``; with ``--wait`` follow it, export outputs, exit 1 unless it succeeded."""
    from pipelines._common.errors import PipelineInputError

    wait, out, as_json = opts.wait, opts.out, opts.as_json
    rt = _runtime(ctx)
    try:
        rec = rt.submit(spec)
    except PipelineInputError as exc:
        fail(str(exc), code=2)
    if not wait:
        if as_json:
            print_json(rec.to_dict())
        else:
            console.print(f"queued [bold]{rec.id}[/] ({rec.kind}, {rec.lane}); follow with `maydo jobs show {rec.id}`")
        return
    rec = _follow(rt, rec)
    if out is not None and rec.outputs:
        from workers.storage import open_store

        store = open_store(rt.settings)
        out.mkdir(parents=True, exist_ok=True)
        for name, asset_id in rec.outputs.items():
            ref = store.get(asset_id)
            suffix = Path(ref.filename or "").suffix
            store.export(asset_id, out / f"{rec.id}-{name.replace(':', 'x')}{suffix}")
    if as_json:
        print_json(rec.to_dict())
    else:
        _show(rt, rec, events=False)
    if rec.status.value != "succeeded":
        raise typer.Exit(1)


def _follow(rt: Runtime, rec: JobRecord) -> JobRecord:
    """Rich progress bar fed by the job's stored events; starts an embedded worker if none is alive."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    started = False
    checked = time.monotonic()
    pools = sorted({rec.pool, *(rt.get(d).pool for d in rec.depends_on)})
    if not rec.terminal and not rt.status()["dispatcher"]["alive"]:
        console.print(f"[dim]no worker running; starting an embedded one for pool(s) {', '.join(pools)}[/]")
        rt.start(pools=pools)
        started = True
    try:
        watch = [rec.id, *rec.depends_on]
        cursors = dict.fromkeys(watch, 0)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn()
        ) as bar:
            tasks = {j: bar.add_task(f"{rt.get(j).kind} {j}", total=1.0) for j in watch}
            while True:
                for j in watch:
                    for ev in rt.events(j, after=cursors[j]):
                        cursors[j] = ev.id
                        bar.update(tasks[j], completed=ev.fraction, description=f"{rt.get(j).kind} {ev.stage}")
                rec = rt.get(rec.id)
                if rec.terminal:
                    break
                if time.monotonic() - checked > 1.0:  # the serving worker died: take over now
                    checked = time.monotonic()
                    if not rt.dispatcher_active and rt.ensure_dispatcher(pools):
                        console.print("[dim]the worker stopped; continuing with an embedded one[/]")
                        started = True
                time.sleep(0.1)
    finally:
        if started:
            rt.stop()
    return rec


def _show(rt: Runtime, rec: JobRecord, *, events: bool) -> None:
    style = _STATUS_STYLE.get(rec.status.value, "")
    console.print(
        f"[bold]{rec.id}[/] {rec.kind} [{style}]{rec.status.value}[/]" + (" (cache hit)" if rec.cache_hit else "")
    )
    rows: list[tuple[str, Any]] = [
        ("lane / priority", f"{rec.lane} / {rec.priority}"),
        ("tenant", rec.tenant),
        ("campaign", rec.campaign_id),
        ("pool", rec.pool),
        ("attempts", f"{rec.attempts}/{rec.max_attempts}"),
        ("depends on", ", ".join(rec.depends_on) or None),
        ("cached from", rec.cached_from),
        ("error", f"{rec.error_class}: {rec.error_message}" if rec.error_class else None),
        ("error field", rec.error_field),
    ]
    for name, asset_id in rec.outputs.items():
        rows.append((f"output {name}", asset_id))
    for key, value in rows:
        if value not in (None, ""):
            console.print(f"  {key:16} {value}", highlight=False)
    if events:
        table = Table("id", "stage", "fraction", "message", "time")
        for ev in rt.events(rec.id):
            table.add_row(
                str(ev.id), ev.stage, f"{ev.fraction:.2f}", ev.message, time.strftime("%H:%M:%S", time.localtime(ev.ts))
            )
        console.print(table)


@dataclass(frozen=True)
class SubmitOptions:
    """The options every ``maydo submit`` command shares (queueing and how to follow the job)."""

    priority: str = "batch"
    wait: bool = False
    out: Path | None = None
    key: str | None = None
    campaign: str | None = None
    as_json: bool = False


_SUBMIT_OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (annotation, typer option)
    "priority": (str, typer.Option("batch", "--priority", "-p", help=_LANE_HELP)),
    "wait": (bool, typer.Option(False, "--wait", "-w",
                                help="Follow progress until the job finishes (exit 1 unless it succeeds).")),
    "out": (Path | None, typer.Option(None, "--out", "-o", help="With --wait: copy the outputs into this folder.")),
    "key": (str | None, typer.Option(None, "--idempotency-key", help="Same key again returns the same job.")),
    "campaign": (str | None, typer.Option(None, "--campaign", help="Campaign id to group jobs.")),
    "as_json": (bool, typer.Option(False, "--json", help="Print the job record as JSON.")),
}
assert set(_SUBMIT_OPTIONS) == {f.name for f in fields(SubmitOptions)}

JobRequest = tuple[str, dict[str, Any], dict[str, str]]  # (kind, params, inputs)


def submit_command(name: str) -> Callable[[Callable[..., JobRequest]], Callable[..., JobRequest]]:
    """Register ``maydo submit NAME``: the function builds (kind, params, inputs) from its own
    arguments; the shared options (:class:`SubmitOptions`) and the one submit path
    (spec -> queue -> optional follow/export -> print) are added here, once for every command."""

    def register(build: Callable[..., JobRequest]) -> Callable[..., JobRequest]:
        own = list(inspect.signature(build, eval_str=True).parameters.values())
        shared = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann)
                  for n, (ann, opt) in _SUBMIT_OPTIONS.items()]

        @functools.wraps(build)
        def command(ctx: typer.Context, **kwargs: Any) -> None:
            opts = SubmitOptions(**{n: kwargs.pop(n) for n in _SUBMIT_OPTIONS})
            kind, params, inputs = build(ctx, **kwargs)
            _submit(ctx, _spec(kind, params, inputs, opts), opts)

        command.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in own + shared}
        submit_app.command(name)(command)
        return build

    return register


def _spec(kind: str, params: dict[str, Any], inputs: dict[str, str], opts: SubmitOptions) -> JobSpec:
    from workers.jobs.models import JobSpec

    return JobSpec(kind=kind, params=params, inputs=inputs, lane=opts.priority, idempotency_key=opts.key,
                   campaign_id=opts.campaign)


@submit_command("recolor")
def submit_recolor(
    ctx: typer.Context,
    image: Path = typer.Argument(..., help="Product photo (PNG/JPEG/WebP)."),
    to: list[str] = typer.Option(..., "--to", "-t", help="Target colour (hex or name); repeat for several."),
    from_color: str | None = typer.Option(None, "--from", help="Colour to replace (default: the product's)."),
    engine: str = typer.Option("exact", "--engine", help="exact (CPU colour science) or diffusion (GPU pool)."),
) -> JobRequest:
    """Queue a recolor of IMAGE to each --to colour."""
    params: dict[str, Any] = {"to_colors": list(to)}
    if from_color:
        params["from_color"] = from_color
    if engine != "exact":
        params["engine"] = engine
    return "recolor", params, {"image": _put(_runtime(ctx), image, "image")}


@submit_command("voice")
def submit_voice(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="Script to speak."),
    accent: str = typer.Option(..., "--accent", "-a", help="Accent id (see configs/voices.yaml)."),
) -> JobRequest:
    """Queue a voiceover of TEXT in an accent."""
    return "voice", {"text": text, "accent": accent}, {}


@submit_command("ad")
def submit_ad(
    ctx: typer.Context,
    template: str = typer.Option(
        ..., "--template", help="Template name (assets/templates), asset id, or a local YAML file (stored as an asset)."
    ),
    product: Path | None = typer.Option(None, "--product", help="Product photo."),
    to: str | None = typer.Option(None, "--to", help="Recolor the product to this colour first."),
    text: str | None = typer.Option(None, "--text", help="Voiceover script."),
    accent: str | None = typer.Option(None, "--accent", help="Voiceover accent."),
    data: list[str] = typer.Option([], "--data", "-d", help="Merge field KEY=VALUE; repeatable."),
    formats: list[str] = typer.Option(["9:16"], "--format", "-f", help="Aspect ratio(s): 9:16, 1:1, 4:5, 16:9."),
) -> JobRequest:
    """Queue a personalized video ad (recolor ∥ voice -> video)."""
    rt = _runtime(ctx)
    merge: dict[str, str] = {}
    for item in data:
        k, sep, v = item.partition("=")
        if not sep or not k:
            fail(f"--data expects KEY=VALUE, got {item!r}", code=2)
        merge[k] = v
    from workers.resolver import ingest_ref, is_asset_id
    from workers.storage import open_store

    # A local template file (and the media next to it) goes into the asset store: the job
    # carries asset ids and registry names only, never a path.
    ref = ingest_ref(template, open_store(rt.settings), kind="template", field="--template")
    params: dict[str, Any] = {"data": merge, "formats": list(formats)}
    inputs: dict[str, str] = {}
    if is_asset_id(ref):
        inputs["template"] = ref
    else:
        params["template"] = ref
    if product is not None:
        inputs["product_image"] = _put(rt, product, "--product")
    if to:
        if product is None:
            fail("--to needs --product (the photo to recolor)", code=2)
        params["recolor"] = {"to_colors": [to]}
    if text:
        if not accent:
            fail("--text needs --accent", code=2)
        params["voice"] = {"text": text, "accent": accent}
    return "render_ad", params, inputs


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: str | None = typer.Option(
        None, "--status", "-s", help="queued, running, retrying, succeeded, failed, canceled."
    ),
    kind: str | None = typer.Option(None, "--kind"),
    campaign: str | None = typer.Option(None, "--campaign"),
    limit: int = typer.Option(50, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recent jobs, newest first."""
    rt = _runtime(ctx)
    recs = rt.list(status=status, kind=kind, campaign_id=campaign, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in recs])
        return
    table = Table("id", "kind", "status", "lane", "attempts", "created", "error")
    for r in recs:
        style = _STATUS_STYLE.get(r.status.value, "")
        table.add_row(
            r.id,
            r.kind,
            f"[{style}]{r.status.value}[/]" + (" ⚡" if r.cache_hit else ""),
            r.lane,
            f"{r.attempts}/{r.max_attempts}",
            time.strftime("%m-%d %H:%M:%S", time.localtime(r.created_at)),
            (r.error_class or "") + (f": {r.error_message[:60]}" if r.error_message else ""),
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(
    ctx: typer.Context,
    job_id: str = typer.Argument(...),
    events: bool = typer.Option(False, "--events", "-e", help="Also list progress events."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One job: status, attempts, outputs, error (and events)."""
    rt = _runtime(ctx)
    rec = _get(rt, job_id)
    if as_json:
        data = rec.to_dict()
        data["attempts_detail"] = [a.to_dict() for a in rt.attempts(job_id)]
        if events:
            data["events"] = [e.to_dict() for e in rt.events(job_id)]
        print_json(data)
        return
    _show(rt, rec, events=events)
    if rec.error_traceback and rec.status.value == "failed":
        console.print("[dim]" + rec.error_traceback.strip().splitlines()[-1] + "[/]", highlight=False)


def _transition(ctx: typer.Context, job_id: str, change: str) -> JobRecord:
    """Apply ``rt.cancel`` / ``rt.retry``; a transition the job's state does not allow exits 2."""
    from workers.runtime import InvalidTransition, JobInUse

    rt = _runtime(ctx)
    _get(rt, job_id)
    try:
        rec: JobRecord = getattr(rt, change)(job_id)
    except (JobInUse, InvalidTransition) as exc:
        fail(str(exc), code=2)
    return rec


@jobs_app.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: str = typer.Argument(...)) -> None:
    """Cancel a queued job now, or stop a running one."""
    rec = _transition(ctx, job_id, "cancel")
    msg = "stopping (cancel requested)" if rec.status.value == "running" else rec.status.value
    console.print(f"{job_id}: {msg}")


@jobs_app.command("retry")
def jobs_retry(ctx: typer.Context, job_id: str = typer.Argument(...)) -> None:
    """Re-queue a failed or canceled job."""
    rec = _transition(ctx, job_id, "retry")
    console.print(f"{job_id}: {rec.status.value}")


def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Dispatcher, pools (health, actors, in flight, queued) and queue depth per lane."""
    rt = _runtime(ctx)
    st = rt.status()
    if as_json:
        print_json(st)
        return
    d = st["dispatcher"]
    console.print(
        f"dispatcher: {'[green]alive[/]' if d['alive'] else '[red]not running[/] (start `maydo worker`)'}"
        + (f" ({d['owner']})" if d["alive"] else "")
    )
    table = Table("pool", "health", "actors", "in flight", "queued", "GPUs/actor", "CPUs/actor", "error")
    for name, p in st["pools"].items():
        health = (
            "[green]ok[/]"
            if p["healthy"]
            else ("[red]unhealthy[/]" if p["healthy"] is False else "[dim]not started[/]")
        )
        table.add_row(
            name,
            health,
            f"{p['actors']}/{p['size']}",
            f"{p['in_flight']}/{p['size'] * p['max_in_flight']}",
            str(p["queued"]),
            f"{p['num_gpus']:g}",
            f"{p['num_cpus']:g}",
            p["error"] or "",
        )
    console.print(table)
    lanes = Table("lane", "queued", "running", "retrying")
    for lane, counts in st["lanes"].items():
        lanes.add_row(lane, str(counts.get("queued", 0)), str(counts.get("running", 0)), str(counts.get("retrying", 0)))
    console.print(lanes)


def worker(
    ctx: typer.Context,
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster address (default: RAY_ADDRESS or embedded Ray)."
    ),
    pools: str | None = typer.Option(None, "--pools", help="Comma-separated pools to run (default: all enabled)."),
) -> None:
    """Run the dispatcher and actor pools in the foreground (Ctrl-C stops gracefully)."""
    rt = _runtime(ctx)
    names = [p.strip() for p in pools.split(",") if p.strip()] if pools else None
    try:
        disp = rt.start(pools=names, address=address)
    except (RuntimeError, ValueError) as exc:
        fail(str(exc), code=2)
    console.print(f"maydo worker {disp.owner}: pools {', '.join(disp.pool_names)}; jobs db {rt.settings.job_database_display}")
    try:
        while disp.running:
            time.sleep(0.5)
        if disp.error is not None:
            fail(f"dispatcher stopped: {type(disp.error).__name__}: {disp.error}")
    except KeyboardInterrupt:
        console.print("stopping (waiting for running jobs)...")
    finally:
        rt.stop()


def register(app: typer.Typer) -> None:
    app.add_typer(submit_app, name="submit")
    app.add_typer(jobs_app, name="jobs")
    app.command("status")(status)
    app.command("worker")(worker)
