"""Shared CLI plumbing: settings from the global ``--config``, rich console, error exits."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from workers.settings import Settings, SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)


def settings_from(ctx: typer.Context) -> Settings:
    """Settings for this invocation (global ``--config`` + MAYDO_* env), loaded once."""
    obj = ctx.find_root().obj
    if not isinstance(obj, dict):
        obj = {}
        ctx.find_root().obj = obj
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(obj.get("config"))
        except SettingsError as exc:
            fail(str(exc), code=2)
    settings = obj["settings"]
    assert isinstance(settings, Settings)
    return settings


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print an error in red on stderr and exit with ``code`` (2 = bad input/usage)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Machine-readable output for ``--json`` flags (UTF-8, no rich markup)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
