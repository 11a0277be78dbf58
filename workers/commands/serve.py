"""``maydo serve`` (HTTP API + dispatcher) and ``maydo keys create|list|revoke``."""

from __future__ import annotations

import typer

from workers.commands.common import console, fail, print_json, settings_from

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", "-t", help="Tenant the key acts for."),
    role: str = typer.Option(..., "--role", "-r", help="creator | platform | admin"),
    name: str | None = typer.Option(None, "--name", help="A label to recognise the key by."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Create an API key. The secret is printed once; only its hash is stored."""
    from workers.api.store import ApiStore, KeyRequestError, api_db_path

    settings = settings_from(ctx)
    store = ApiStore(api_db_path(settings))
    try:
        created = store.create_key(tenant, role, name)
    except KeyRequestError as exc:
        fail(str(exc), code=2)
    if json_out:
        print_json({"key_id": created.key_id, "key": created.key, "tenant": created.tenant, "role": created.role})
        return
    console.print(f"key id [bold]{created.key_id}[/] for tenant [bold]{tenant}[/], role [bold]{role}[/]")
    console.print("Store this key now; it is not shown again:")
    typer.echo(created.key)


@keys_app.command("list")
def keys_list(ctx: typer.Context, tenant: str | None = typer.Option(None, "--tenant", "-t")) -> None:
    """List keys (ids, tenants, roles; never secrets)."""
    from workers.api.store import ApiStore, api_db_path

    settings = settings_from(ctx)
    print_json(ApiStore(api_db_path(settings)).list_keys(tenant))


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key id (not the secret).")) -> None:
    """Revoke a key (effective within seconds in running servers)."""
    from workers.api.store import ApiStore, api_db_path

    settings = settings_from(ctx)
    if not ApiStore(api_db_path(settings)).revoke_key(key_id):
        fail(f"no active key with id {key_id!r}", code=2)
    console.print(f"revoked {key_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")

    @app.command()
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for all)."),
        port: int = typer.Option(8080, "--port", "-p"),
        no_worker: bool = typer.Option(
            False, "--no-worker", help="API only; jobs run on a `maydo worker` elsewhere on the same data dir."
        ),
        pools: str | None = typer.Option(None, "--pools", help="Comma-separated pools for the dispatcher."),
        log_level: str = typer.Option("info", "--log-level"),
    ) -> None:
        """Serve the HTTP API (OpenAPI at /docs), with the job dispatcher unless --no-worker."""
        from workers.api import create_app
        from workers.api.server import run as serve_api
        from workers.runtime import Runtime

        settings = settings_from(ctx)
        runtime = Runtime(settings)
        mode = "off"
        if not no_worker:
            from workers.scheduler.dispatcher import LeaseHeld

            names = [p.strip() for p in pools.split(",") if p.strip()] if pools else None
            try:
                runtime.start(names)
                mode = "on"
            except LeaseHeld as exc:
                mode = f"standby ({exc}); takes over the moment that one stops"
            except RuntimeError as exc:
                fail(f"cannot start the dispatcher: {exc} (use --no-worker to serve the API alone)")
            runtime.start_standby(names)  # keeps a dispatcher running here whenever none is alive
        console.print(f"maydo API on http://{host}:{port} (docs: /docs); dispatcher: {mode}")
        try:
            # httptools + uvloop when importable, zero-copy asset bodies (workers/api/server.py)
            serve_api(create_app(settings, runtime), host, port, log_level=log_level, access_log=False)
        finally:
            runtime.close()
