"""Reading the pipelines' own data files (colour names, voice registry, templates).

DESIGN.md had YAML parsed only in workers/settings.py; in practice the pure pipelines own data
files (colour names, the accent registry, templates) that tests and the CLI load directly, so a
single safe loader lives here. Settings still come only from workers/settings.py.
"""

from __future__ import annotations

import json
import math
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


MAX_DATA_BYTES = 8 * 1024 * 1024  # one spec, template, catalogue or copy deck
MAX_ALIASES = 100  # YAML alias references in one document (anchors are for reuse, not fan-out)
MAX_NODES = 200_000  # values in the document once every alias is expanded
MAX_DEPTH = 64  # nesting of mappings/lists (templates nest ~8 deep)


def _fail(field: str, source: str, what: str) -> PipelineInputError:
    return PipelineInputError(f"{field}: {source} {what}", field=field)


def count_aliases(text: str, limit: int = MAX_ALIASES) -> int:
    """Alias references (``*name``) in a YAML text, counted on the parser's events (libyaml when
    available) before anything is built; raises PipelineInputError past ``limit``."""
    count = 0
    for event in yaml.parse(text, Loader=SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent):
            count += 1
            if count > limit:
                raise PipelineInputError(f"more than {limit} YAML aliases (*name); write the values out",
                                         field="yaml")
    return count


def safe_load_bounded(text: str) -> Any:
    """``yaml.safe_load`` (libyaml's safe loader when available) that refuses alias bombs: at most
    ``MAX_ALIASES`` aliases; call ``check_expanded`` on the result for size, depth and recursion."""
    count_aliases(text)
    loader = SAFE_LOADER(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def check_expanded(obj: Any, *, field: str = "file", source: str = "document",
                   max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a parsed document that is recursive, nested deeper than ``max_depth`` or larger
    than ``max_nodes`` values once shared (aliased) parts are counted every time they appear."""
    count = 0
    stack: list[tuple[Any, int, tuple[int, ...]]] = [(obj, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        count += 1
        if count > max_nodes:
            raise _fail(field, source, f"expands to more than {max_nodes} values (YAML aliases?); limit {max_nodes}")
        if depth > max_depth:
            raise _fail(field, source, f"is nested deeper than {max_depth} levels")
        if isinstance(node, float) and not math.isfinite(node):
            raise _fail(field, source, f"contains {node!r}; numbers must be finite (no NaN/Infinity)")
        if isinstance(node, dict | list):
            if id(node) in path:
                raise _fail(field, source, "contains a recursive alias (a value that includes itself)")
            inner = (*path, id(node))
            children = node.values() if isinstance(node, dict) else node
            stack.extend((c, depth + 1, inner) for c in children)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows (use a finite number or null)")


def parse_data_text(data: bytes | str, *, suffix: str = ".yaml", field: str = "file", source: str = "document",
                    max_bytes: int = MAX_DATA_BYTES) -> Any:
    """Parse YAML (``safe_load_bounded``) or JSON (no NaN/Infinity) with bounded size, aliases,
    expansion and depth; every failure is a PipelineInputError naming ``field`` and the limit."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise _fail(field, source, f"is {len(raw)} bytes; the limit is {max_bytes}")
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(field, source, "is a binary file, not YAML/JSON text")
    try:
        text = raw.decode("utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(field, source, f"is not UTF-8 text (line {line}); save it as UTF-8") from None
    is_json = suffix.lower() == ".json"
    # Flow nesting ('[[[[...', '{"a":{"a":...') counted without parsing: the parsers recurse per level.
    if bracket_depth(text) > MAX_DEPTH:
        raise _fail(field, source, f"is nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant) if is_json else safe_load_bounded(text)
    except PipelineInputError as exc:
        if exc.field == "yaml":  # the alias limit: name the caller's field and source
            raise _fail(field, source, exc.message) from None
        raise
    except RecursionError:
        raise _fail(field, source, f"is nested deeper than {MAX_DEPTH} levels") from None
    except (yaml.YAMLError, ValueError) as exc:
        kind = "JSON" if is_json else "YAML"
        msg = str(exc)
        raise _fail(field, source, f"is not valid {kind}: {msg[:500]}") from None
    check_expanded(value, field=field, source=source)
    return value


def bracket_depth(text: str) -> int:
    """Bracket nesting of JSON text, counted without parsing or recursion (strings skipped), so
    5000 '[' never reach a recursive parser."""
    depth = deepest = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


def is_file(path: Path) -> bool:
    """``path.is_file()`` that answers False (not found) for names the OS refuses outright
    (too long, NUL bytes) instead of raising."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def load_data_file(path: str | Path, *, field: str = "file", max_bytes: int = MAX_DATA_BYTES) -> Any:
    """Parse a YAML or JSON file safely (see ``parse_data_text``); errors name the file and the problem."""
    p = Path(path)
    if not is_file(p):
        raise PipelineInputError(f"{field}: file not found: {p}", field=field)
    size = p.stat().st_size
    if size > max_bytes:
        raise _fail(field, str(p), f"is {size} bytes; the limit is {max_bytes}")
    return parse_data_text(p.read_bytes(), suffix=p.suffix, field=field, source=str(p), max_bytes=max_bytes)
