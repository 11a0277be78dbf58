"""Reading the pipelines' own data files (colour names, voice registry, templates).

DESIGN.md had YAML parsed only in workers/settings.py; in practice the pure pipelines own data
files (colour names, the accent registry, templates) that tests and the CLI load directly, so a
single safe loader lives here. Settings still come only from workers/settings.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from pipelines._common.errors import PipelineInputError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
ASSETS_DIR = REPO_ROOT / "assets"
# libyaml's safe loader/dumper when PyYAML was built with it (~10x faster than the pure-Python
# ones; every ad job parses its template), else the pure-Python safe ones. Same safe subset.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SAFE_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_data_file(path: str | Path, *, field: str = "file") -> Any:
    """Parse a YAML or JSON file safely; errors name the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise PipelineInputError(f"{field}: file not found: {p}", field=field)
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506  (a safe loader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise PipelineInputError(f"{field}: {p} is not valid {p.suffix.lstrip('.').upper()}: {exc}", field=field) from exc
