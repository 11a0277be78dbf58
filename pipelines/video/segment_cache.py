"""On-disk LRU of encoded scene segments (H.264 parts reused across renders), bounded by bytes."""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from pathlib import Path


class SegmentCache:
    """Encoded segments by content key in a private temp directory, at most ``max_bytes`` on disk
    (always keeps the newest). ``close()`` removes the directory."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Path] = OrderedDict()
        self._bytes = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Path | None:
        """The cached segment file (counted as a hit), else None (counted as a miss)."""
        hit = self._items.get(key)
        if hit is not None and hit.is_file():
            self._items.move_to_end(key)
            self.hits += 1
            return hit
        self.misses += 1
        return None

    def path_for(self, key: str) -> Path:
        """Where a new segment with ``key`` is encoded; ``store`` it once written."""
        return self._root() / f"{key}.mp4"

    def store(self, key: str, path: Path) -> None:
        self._items[key] = path
        self._bytes += path.stat().st_size
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.stat().st_size if old.exists() else 0
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Drop every segment and the temp directory."""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self._items.clear()
        self._bytes = 0

    def _root(self) -> Path:
        if self._dir is None:
            # the pid in the name lets a sweep remove the cache of an actor that was killed
            self._dir = tempfile.TemporaryDirectory(prefix=f"maydo-segments-p{os.getpid()}-")
        return Path(self._dir.name)
