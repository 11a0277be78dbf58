"""The render cache: an LRU of backgrounds, sprites and decoded media, bounded in bytes and
keyed by content hashes (``digest``) of the inputs, with ``file_id`` as a media file's identity."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any


class RenderCache:
    """LRU of scene backgrounds and layer sprites, bounded in bytes, keyed by content hash."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.RLock()  # the next scene is planned in a worker thread

    def get_or_make(self, key: str, make: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        with self._lock:
            return self._get_or_make(key, make, size)

    def _get_or_make(self, key: str, make: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key][0]
        self.misses += 1
        value = make()
        n = size(value)
        self._items[key] = (value, n)
        self._bytes += n
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, (_, old) = self._items.popitem(last=False)
            self._bytes -= old
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def digest(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_id(path: Path | None) -> str | None:
    """Cheap identity of a media file for cache keys (path, size, mtime)."""
    if path is None:
        return None
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def nbytes_of(obj: Any) -> int:
    return int(obj.nbytes)
