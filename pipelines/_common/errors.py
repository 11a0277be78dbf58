"""Error types shared by all pipelines."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PipelineInputError(ValueError):
    """Bad input from the user: never retried, shown verbatim.

    ``field`` names the offending input (``"image"``, ``"params.to_color"``, ...) so HTTP and
    CLI layers can point at it; the message says what was wrong and what is allowed.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


def close_matches(word: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` choices that look like ``word`` (for 'did you mean' messages)."""
    pool = list(choices)
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def unknown_choice(kind: str, value: str, choices: Iterable[str], *, field: str | None = None) -> PipelineInputError:
    """Build the standard error for a value outside a known set, listing close or all options."""
    pool = sorted(set(choices))
    near = close_matches(value, pool)
    if near:
        hint = f"did you mean: {', '.join(near)}?"
    else:
        shown = ", ".join(pool[:30]) + (" ..." if len(pool) > 30 else "")
        hint = f"allowed: {shown}"
    return PipelineInputError(f"unknown {kind} {value!r}; {hint}", field=field)
