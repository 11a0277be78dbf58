"""Turn pipeline results (dataclasses, numpy scalars, paths, pydantic models) into plain JSON values."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """Small metadata only: a dataclass's ``to_dict()`` is preferred (it knows what to omit)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return jsonable(value.to_dict())
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        return value.item()
    if hasattr(value, "tolist") and getattr(value, "size", 0) <= 64:
        return value.tolist()
    return str(value)
