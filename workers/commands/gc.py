"""``maydo gc`` (prune what runs leave behind) and ``maydo webhooks log`` (delivery log)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from workers.commands.common import console, fail, print_json, settings_from

if TYPE_CHECKING:
    from workers.settings import Settings

webhooks_app = typer.Typer(help="Webhook deliveries (durable outbox in the job store).", no_args_is_help=True)


def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be removed."),
    assets: bool = typer.Option(True, "--assets/--no-assets", help="Also prune unreferenced assets."),
    min_age_h: float = typer.Option(
        24.0, "--min-age-hours", min=0.0, help="Keep unreferenced assets younger than this (in-flight work)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove temp dirs and segment caches of dead processes, half-written uploads, and assets that
    no job (any state), campaign or tenant upload refers to.

    Assets named by any job's inputs or outputs, any campaign's saved state, or owned by a tenant
    (uploads) are never removed; neither is anything younger than --min-age-hours.
    """
    from workers.housekeeping import (
        campaign_asset_refs,
        prune_assets,
        sweep_partial_uploads,
        sweep_temp_dirs,
    )
    from workers.jobs.store import open_job_store

    settings = settings_from(ctx)
    report: dict[str, dict[str, object]] = {}
    report["temp_dirs"] = sweep_temp_dirs(dry_run=dry_run).to_dict()
    if settings.storage.backend == "local":
        report["partial_uploads"] = sweep_partial_uploads(settings.assets_dir, dry_run=dry_run).to_dict()
    if assets:
        if settings.storage.backend != "local":
            fail(f"asset pruning supports the local store only (storage.backend = {settings.storage.backend!r}); "
                 "use --no-assets", code=2)
        store = open_job_store(settings)
        try:
            referenced = store.referenced_assets()
        finally:
            store.close()
        referenced |= campaign_asset_refs(settings.data_dir)
        referenced |= _uploaded_assets(settings)
        report["assets"] = prune_assets(
            settings.assets_dir, referenced, min_age_s=min_age_h * 3600, dry_run=dry_run
        ).to_dict()
    if as_json:
        print_json({"dry_run": dry_run, **report})
        return
    table = Table("what", "removed" if not dry_run else "would remove", "MB", "kept (live/young)")
    for name, r in report.items():
        table.add_row(name, str(r["removed"]), f"{int(r['bytes']) / 1e6:.1f}", str(r["kept_live"]))  # type: ignore[call-overload]
    console.print(table)


def _uploaded_assets(settings: Settings) -> set[str]:
    """Assets a tenant uploaded through the API (they may be used by a later job)."""
    import sqlite3

    # Not ``workers.api.store.api_db_path``: importing workers.api loads FastAPI.
    path = settings.api.db_path or settings.data_dir / "api.sqlite3"
    if not path.exists():
        return set()
    with sqlite3.connect(path) as db:
        try:
            return {str(r[0]) for r in db.execute("SELECT DISTINCT asset_id FROM asset_owners")}
        except sqlite3.OperationalError:
            return set()


@webhooks_app.command("log")
def webhooks_log(
    ctx: typer.Context,
    object_id: str = typer.Argument(..., help="Job id or campaign id."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Events (delivery id, state, attempts, next try) and every delivery attempt of a job or campaign."""
    from workers.api.webhooks import webhook_view
    from workers.jobs.store import open_job_store

    store = open_job_store(settings_from(ctx))
    try:
        view = webhook_view(store, object_id)
    finally:
        store.close()
    if view is None:
        fail(f"no webhook for {object_id!r} (object_id: a job or campaign id submitted with a webhook URL)", code=2)
    if as_json:
        print_json(view)
        return
    console.print(f"webhook {view['url']}")
    events = Table("delivery id", "event", "state", "attempts", "last status", "last error")
    for e in view["events"]:
        events.add_row(e["delivery_id"], e["event"], e["status"], str(e["attempts"]), str(e["last_status"] or ""),
                       e["last_error"] or "")
    console.print(events)
    tries = Table("delivery id", "event", "attempt", "status", "ok", "ms", "error")
    for d in view["deliveries"]:
        tries.add_row(d["delivery_id"], d["event"], str(d["attempt"]), str(d["status_code"] or ""),
                      "yes" if d["ok"] else "no", f"{d['duration_ms']:.0f}", d["error"] or "")
    console.print(tries)


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)
    app.add_typer(webhooks_app, name="webhooks")
