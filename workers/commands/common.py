"""Shared CLI plumbing: settings from the global ``--config``, rich console, error exits."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
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


def writable_dir(path: Path, option: str = "--out") -> Path:
    """``path`` as an output directory, created if missing; exit 2 naming ``option`` when it is an
    existing file, cannot be created or is not writable (checked before any work starts)."""
    if path.exists() and not path.is_dir():
        fail(f"{option}: {path} is an existing file; give a directory (it will hold the outputs)", code=2)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".maydo-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        fail(f"{option}: cannot write to directory {path} ({exc.strerror or type(exc).__name__}); "
             "give a writable directory", code=2)
    return path


def print_json(data: Any) -> None:
    """Machine-readable output for ``--json`` flags (UTF-8, no rich markup)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
