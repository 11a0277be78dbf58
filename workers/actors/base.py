"""Actor base: load a pipeline once in ``__init__``, run many jobs, report progress, honour cancel.

Actor classes here are plain Python classes; the dispatcher wraps them with ``ray.remote`` and
the pool's resources. A setup failure (model cannot load) does not kill the actor: it is kept
and reported by ``ready()``, so the dispatcher marks the pool unhealthy instead of restarting a
crashing actor in a loop.

A job's result comes back as a plain dict, never an exception, so classification does not
depend on pickling arbitrary exception types::

    {"ok": True, "outputs": {name: asset_id}, "result": {...}, "worker": "voice:1234"}
    {"ok": False, "canceled": True}
    {"ok": False, "error": {"error_class", "message", "traceback", "retryable", "field"}}
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError
from workers.housekeeping import sweep_partial_uploads, sweep_temp_dirs, temp_prefix
from workers.limits import Limits


def worker_name(pool: str, node: str | None, pid: int | None) -> str:
    """``pool@node_ip:pid`` (``pool:pid`` without a node): what an attempt records as its worker."""
    return f"{pool}@{node}:{pid}" if node else f"{pool}:{pid}"


class JobCanceled(Exception):
    """Raised inside a job (at a progress callback) once its cancel flag is set."""


class TransientJobError(RuntimeError):
    """A failure worth retrying (resource briefly unavailable, flaky I/O)."""


Progress = Callable[..., None]

_MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".json": "application/json",
    ".txt": "text/plain",
}


def media_type_for(path: Path) -> str:
    return _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


@dataclass
class JobContext:
    """What ``execute`` gets: the payload, a private temp dir, input paths and a progress callback."""

    job_id: str
    fence: int
    kind: str
    attempt: int
    params: dict[str, Any]
    inputs: dict[str, Path]  # input name -> local path in the asset store
    deps: dict[str, dict[str, Any]]  # child kind -> {"outputs": {name: Path}, "result": {...}}
    workdir: Path
    progress: Progress
    input_ids: dict[str, str] = field(default_factory=dict)  # input name -> asset id (what ``inputs`` came from)
    limits: Limits = field(default_factory=lambda: Limits())  # ``limits.*`` settings, applied before any work
    outputs: dict[str, Path] = field(default_factory=dict)  # fill: output name -> file in workdir
    result: dict[str, Any] = field(default_factory=dict)


def node_ip() -> str | None:
    """The Ray node address this process runs on (None outside Ray): job records name the node
    that ran an attempt (``pool@node_ip:pid``), which tells hosts of a cluster apart."""
    import ray

    return str(ray.util.get_node_ip_address()) if ray.is_initialized() else None


def _is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    return (
        isinstance(exc, MemoryError)
        or name in {"OutOfMemoryError", "OutOfMemoryException"}
        or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
    )


class PipelineActor:
    """Base class for one model family's actor. Subclasses implement ``load`` and ``execute``."""

    family = "base"

    def __init__(
        self, pool: str, options: dict[str, Any], store: dict[str, Any] | str, sink: Any | None = None
    ) -> None:
        """``store``: ``workers.storage.store_spec`` output (or a local asset directory)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.pool = pool
        self.options = dict(options)
        self.store_spec = store
        self._store: Any = None
        self.sink = sink
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.setup_error: str | None = None
        # a restarted actor (after kill -9 of the last one) clears what dead workers on this host left
        sweep_temp_dirs()
        local_root = store if isinstance(store, str) else store.get("root") if store.get("backend") == "local" else None
        if local_root:
            sweep_partial_uploads(local_root)
        try:
            self.load()
        except Exception as exc:  # reported by ready(): the pool becomes unhealthy, no restart loop
            self.setup_error = f"{type(exc).__name__}: {exc}"

    # -- to override ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load the pipeline (model weights) once."""

    def execute(self, ctx: JobContext) -> None:
        """Run one job: read ``ctx.inputs``, write files into ``ctx.workdir``, fill ``ctx.outputs``/``ctx.result``."""
        raise NotImplementedError

    # -- called by the dispatcher --------------------------------------------------------------

    def ready(self) -> dict[str, Any]:
        return {
            "ok": self.setup_error is None,
            "error": self.setup_error,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node_ip": node_ip(),
        }

    def cancel(self, job_id: str) -> bool:
        """Set the job's cancel flag; it stops at its next progress callback."""
        with self._lock:
            ev = self._cancel.get(job_id)
        if ev is None:
            return False
        ev.set()
        return True

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        job_id = str(payload["job_id"])
        fence = int(payload["fence"])
        flag = threading.Event()
        with self._lock:
            self._cancel[job_id] = flag
        workdir = Path(tempfile.mkdtemp(prefix=temp_prefix(job_id)))  # pid in the name: swept if we die
        try:
            if self.setup_error is not None:
                return self._error("PoolUnhealthy", self.setup_error, retryable=False)

            def progress(stage: str, fraction: float = 0.0, message: str = "", *, sync: bool = False) -> None:
                if flag.is_set():
                    raise JobCanceled(job_id)
                self._emit(job_id, fence, stage, fraction, message, sync=sync)

            store = self.store
            with contextlib.ExitStack() as files:
                # Inputs as local files for the pipelines: the local store's own files, or verified
                # copies from the S3 cache (valid until the block ends, after execute).
                def local(asset_id: str) -> Path:
                    return files.enter_context(store.local_copy(asset_id))

                ctx = JobContext(
                    job_id=job_id,
                    fence=fence,
                    kind=str(payload["kind"]),
                    attempt=int(payload.get("attempt", 1)),
                    params=dict(payload.get("params") or {}),
                    inputs={k: local(v) for k, v in (payload.get("inputs") or {}).items()},
                    input_ids={k: str(v) for k, v in (payload.get("inputs") or {}).items()},
                    limits=Limits.from_dict(payload.get("limits")),
                    deps={
                        name: {
                            "outputs": {k: local(v) for k, v in dep.get("outputs", {}).items()},
                            "result": dep.get("result", {}),
                        }
                        for name, dep in (payload.get("deps") or {}).items()
                    },
                    workdir=workdir,
                    progress=progress,
                )
                self.execute(ctx)
            progress("store", 0.97, f"{len(ctx.outputs)} file(s)", sync=True)  # lands before the result
            outputs = {}
            for name, path in ctx.outputs.items():
                ref = store.put(Path(path), media_type_for(Path(path)), filename=Path(path).name)
                outputs[name] = ref.id
            if flag.is_set():  # canceled while storing: drop this attempt's outputs
                return {"ok": False, "canceled": True}
            return {
                "ok": True,
                "outputs": outputs,
                "result": ctx.result,
                "worker": worker_name(self.pool, node_ip(), os.getpid()),
            }
        except JobCanceled:
            return {"ok": False, "canceled": True}
        except PipelineInputError as exc:
            return self._error("PipelineInputError", exc.message, retryable=False, field=exc.field, tb=True)
        except TransientJobError as exc:
            return self._error(type(exc).__name__, str(exc), retryable=True, tb=True)
        except Exception as exc:
            return self._error(type(exc).__name__, str(exc), retryable=_is_oom(exc), tb=True)
        finally:
            with self._lock:
                self._cancel.pop(job_id, None)
            shutil.rmtree(workdir, ignore_errors=True)

    def pid(self) -> int:
        return os.getpid()

    @property
    def store(self) -> Any:
        """The asset store, opened once per actor (an S3 client is not free to build)."""
        if self._store is None:
            from workers.storage import open_store_spec

            self._store = open_store_spec(self.store_spec)
        return self._store

    # -- helpers -------------------------------------------------------------------------------

    def _emit(self, job_id: str, fence: int, stage: str, fraction: float, message: str, *, sync: bool = False) -> None:
        if self.sink is not None:
            ref = self.sink.emit.remote(job_id, fence, stage, float(fraction), str(message))
            if sync:
                import ray

                ray.get(ref)

    @staticmethod
    def _error(
        error_class: str, message: str, *, retryable: bool, field: str | None = None, tb: bool = False
    ) -> dict[str, Any]:
        return {
            "ok": False,
            "error": {
                "error_class": error_class,
                "message": message,
                "traceback": traceback.format_exc() if tb else "",
                "retryable": retryable,
                "field": field,
            },
        }


class EventSink:
    """Tiny Ray actor buffering progress events from pool actors; the dispatcher drains it.

    Keeps the job database local to the dispatcher even when actors run on other nodes.
    """

    def __init__(self) -> None:
        self._events: list[tuple[str, int, str, float, str]] = []

    def emit(self, job_id: str, fence: int, stage: str, fraction: float, message: str) -> None:
        self._events.append((job_id, fence, stage, fraction, message))

    def drain(self) -> list[tuple[str, int, str, float, str]]:
        out, self._events = self._events, []
        return out
