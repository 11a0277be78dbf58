"""Ray actors, one per model family. Classes are imported lazily (their pipelines are heavy)."""

from __future__ import annotations

import importlib
from typing import Any

# pool name -> "module:Class"; a pool may set ``options.actor`` to use another class.
ACTOR_CLASSES = {
    "recolor": "workers.actors.recolor:RecolorActor",
    "recolor_diffusion": "workers.actors.recolor:DiffusionRecolorActor",
    "voice": "workers.actors.voice:VoiceActor",
    "video": "workers.actors.video:VideoActor",
    "noop": "workers.actors.noop:NoopActor",
}


def actor_class(pool: str, override: str | None = None) -> Any:
    """The actor class for a pool (``module:Class``)."""
    target = override or ACTOR_CLASSES.get(pool)
    if target is None:
        raise KeyError(f"no actor class for pool {pool!r}; set pools.{pool}.options.actor = 'module:Class'")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
