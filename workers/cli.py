"""``maydo`` command line (typer + rich). Heavy imports stay inside commands so --help is fast."""

from __future__ import annotations

from pathlib import Path

import typer

from workers.commands import campaign, gc, jobs, models, recolor, render, serve, system, voice

app = typer.Typer(
    name="maydo",
    help="maydo — tailor-made ad content: exact recolor, regional voiceovers, personalized video ads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML settings file layered over configs/default.yaml (env: MAYDO_CONFIG)."
    ),
) -> None:
    ctx.obj = {"config": config}


# Each command module registers its commands; later issues add theirs to this tuple.
for _module in (system, serve, recolor, jobs, render, campaign, voice, models, gc):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
