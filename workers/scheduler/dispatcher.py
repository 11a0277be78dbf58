"""Dispatcher: durable SQLite queue -> Ray actor pools.

One thread loop, per tick:
1. renew the single-dispatcher lease; drain progress events from the event-sink actor;
2. watch actors coming up (``ready()``); a setup failure marks the pool unhealthy (no restart loop);
3. claim runnable jobs per healthy pool up to its free capacity (``size × max_in_flight``) —
   the backpressure bound: queued jobs stay in SQLite, never as Ray tasks;
4. ``ray.wait`` on in-flight tasks and record results under the attempt's fence;
5. act on cancel requests and timeouts (cancel flag + ``ray.cancel``; kill + replace the actor
   after the grace period).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workers.actors.base import worker_name
from workers.housekeeping import sweep_partial_uploads, sweep_temp_dirs
from workers.jobs.models import JobError, JobRecord, PoolHealth
from workers.jobs.store import SQLJobStore
from workers.settings import PoolSettings, Settings
from workers.storage import store_spec

log = logging.getLogger("maydo.dispatcher")

# Ray exception class names that mean "the worker/actor went away": retry on a fresh actor.
_TRANSIENT_RAY = {
    "RayActorError",
    "ActorDiedError",
    "ActorUnavailableError",
    "WorkerCrashedError",
    "OutOfMemoryError",
    "ObjectLostError",
    "OwnerDiedError",
    "NodeDiedError",
    "LocalRayletDiedError",
}
_MAX_DEATHS = 5  # actor deaths per pool inside _DEATH_WINDOW_S before the pool is marked unhealthy
_DEATH_WINDOW_S = 60.0
_FLUSH_EVERY_S = 0.25  # progress events reach the store within this; a job's final state flushes first


@dataclass
class _Slot:
    handle: Any
    ready_ref: Any
    ready: bool = False
    pid: int | None = None
    node: str | None = None  # Ray node address the actor runs on
    in_flight: set[str] = field(default_factory=set)
    dead: bool = False


@dataclass
class _InFlight:
    job: JobRecord
    ref: Any
    slot: _Slot
    started: float
    stop_reason: str | None = None  # "cancel" | "timeout"
    stop_at: float = 0.0


@dataclass
class _Pool:
    name: str
    cfg: PoolSettings
    slots: list[_Slot] = field(default_factory=list)
    healthy: bool = True
    error: str | None = None
    deaths: list[float] = field(default_factory=list)

    @property
    def ready_slots(self) -> list[_Slot]:
        return [s for s in self.slots if s.ready and not s.dead]

    def free(self) -> int:
        return sum(self.cfg.max_in_flight - len(s.in_flight) for s in self.ready_slots)


class LeaseHeld(RuntimeError):
    """Another live dispatcher holds the lease on this job store."""


class Dispatcher:
    """Runs jobs from the store on Ray actor pools. ``start()`` spawns the loop thread."""

    def __init__(self, settings: Settings, store: SQLJobStore, pools: Sequence[str] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.cfg = settings.dispatcher
        names = list(pools) if pools is not None else [n for n, p in settings.pools.items() if p.enabled]
        unknown = [n for n in names if n not in settings.pools]
        if unknown:
            raise ValueError(f"unknown pool(s) {', '.join(unknown)}; configured: {', '.join(settings.pools)}")
        self.pool_names = names
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.pools: dict[str, _Pool] = {}
        self.in_flight: dict[Any, _InFlight] = {}  # ObjectRef -> _InFlight
        self.by_job: dict[str, _InFlight] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink: Any = None
        self._last_lease = 0.0
        self._last_health = 0.0
        self._last_cancel_check = 0.0
        self._last_flush = 0.0
        self.error: BaseException | None = None
        from workers.limits import Limits

        self._limits = Limits.from_settings(settings).to_dict()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle -------------------------------------------------------------------------------

    def _ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "namespace": self.cfg.ray_namespace,
                "log_to_driver": False,
                "configure_logging": False,
            }
            address = self.settings.ray_address
            if address:
                kwargs["address"] = address
            else:
                from workers.raynet import local_init_kwargs

                # Loopback-only sockets, dashboard off, token auth (workers/raynet.py).
                kwargs.update(local_init_kwargs(self.settings))
            ray.init(**kwargs)
        return ray

    def start(self) -> None:
        """Take the lease, re-queue stale attempts, sweep dead processes' temp files, create pools,
        start the loop thread. ``LeaseHeld`` while another live dispatcher serves the job store."""
        if not self.store.acquire_lease(self.owner, self.cfg.lease_s):
            holder = self.store.lease_status(self.cfg.lease_s)
            raise LeaseHeld(
                f"another dispatcher is running ({holder['owner'] or '?'} on {holder['host'] or '?'}, "
                f"pid {holder['pid'] or '?'}); only one may serve {self.settings.job_database_display}"
            )
        self._last_lease = time.monotonic()
        swept = sweep_temp_dirs()
        if self.settings.storage.backend == "local":
            swept.removed += sweep_partial_uploads(self.settings.assets_dir).removed
        if swept.removed:
            log.info("swept %d temp path(s) left by dead processes", len(swept.removed))
        requeued = self.store.requeue_stale(owner=self.owner)
        if requeued:
            log.info("re-queued %d job(s) of a previous dispatcher", len(requeued))
        ray = self._ray()
        from workers.actors.base import EventSink

        self._sink = ray.remote(EventSink).options(num_cpus=0).remote()
        for name in self.pool_names:
            pool = _Pool(name, self.settings.pools[name])
            self.pools[name] = pool
            for _ in range(pool.cfg.size):
                pool.slots.append(self._new_slot(pool))
            self._write_health(pool)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="maydo-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, *, graceful: bool = True, timeout: float = 30.0) -> None:
        """Stop the loop. Graceful: wait up to ``timeout`` for in-flight jobs, re-queue the rest,
        release the lease. Not graceful: like a crash (running jobs stay ``running`` in the store)."""
        import ray

        if graceful:
            self._draining = True
            deadline = time.monotonic() + timeout
            while self.by_job and time.monotonic() < deadline and self.running:
                time.sleep(0.05)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for pool in self.pools.values():
            for slot in pool.slots:
                with contextlib.suppress(Exception):  # already dead / finished
                    ray.kill(slot.handle)
        if self._sink is not None:
            try:
                self._flush_events()
                ray.kill(self._sink)
            except Exception:
                pass
        if graceful:
            self.store.requeue_stale(owner=f"stopped:{self.owner}")
            for pool in self.pools.values():
                self.store.set_pool_health(
                    PoolHealth(pool.name, pool.healthy, pool.error, 0, pool.cfg.size, 0, time.time())
                )
            self.store.release_lease(self.owner)
        self.in_flight.clear()
        self.by_job.clear()

    _draining = False

    # -- pools -----------------------------------------------------------------------------------

    def _new_slot(self, pool: _Pool) -> _Slot:
        import ray

        from workers.actors import actor_class

        options = dict(pool.cfg.options)
        override = options.pop("actor", None)
        if pool.cfg.model_dir is not None:
            options["model_dir"] = str(pool.cfg.model_dir)
        if pool.name == "recolor" and (self.settings.models_dir is not None or not self.settings.ray_address):
            # where `maydo models install` put U²-Net-p (settings.models_path). On a cluster the
            # default (<data_dir>/models) is the NODE's: the actor reads its own node's settings.
            options.setdefault("models_dir", str(self.settings.models_path))
        cls = ray.remote(actor_class(pool.name, override))
        handle = cls.options(
            num_cpus=pool.cfg.num_cpus,
            num_gpus=pool.cfg.num_gpus,
            # custom node resources: e.g. {video_node: 1} places the pool only on nodes started
            # with `ray start --resources '{"video_node": N}'`
            resources=dict(pool.cfg.resources) or None,
            max_concurrency=pool.cfg.max_in_flight + 2,  # + cancel() and ready() while jobs run
            max_restarts=0,
        ).remote(pool.name, options, store_spec(self.settings), self._sink)
        return _Slot(handle=handle, ready_ref=handle.ready.remote())

    def _replace_slot(self, pool: _Pool, slot: _Slot, reason: str) -> None:
        import ray

        slot.dead = True
        with contextlib.suppress(Exception):  # already dead / finished
            ray.kill(slot.handle)
        if slot in pool.slots:
            pool.slots.remove(slot)
        now = time.monotonic()
        pool.deaths = [t for t in pool.deaths if now - t < _DEATH_WINDOW_S] + [now]
        if len(pool.deaths) > _MAX_DEATHS:
            self._mark_unhealthy(
                pool, f"actors died {len(pool.deaths)} times in {_DEATH_WINDOW_S:.0f}s; last: {reason}"
            )
            return
        if pool.healthy and not self._stop.is_set():
            pool.slots.append(self._new_slot(pool))
        self._write_health(pool)

    def _mark_unhealthy(self, pool: _Pool, error: str) -> None:
        import ray

        log.error("pool %s unhealthy: %s", pool.name, error)
        pool.healthy = False
        pool.error = error
        for slot in list(pool.slots):
            if not slot.in_flight:
                with contextlib.suppress(Exception):  # already dead / finished
                    ray.kill(slot.handle)
                pool.slots.remove(slot)
        self._write_health(pool)

    def _write_health(self, pool: _Pool) -> None:
        self.store.set_pool_health(
            PoolHealth(
                name=pool.name,
                healthy=pool.healthy,
                error=pool.error,
                actors=len(pool.ready_slots),
                size=pool.cfg.size,
                in_flight=sum(len(s.in_flight) for s in pool.slots),
                updated_at=time.time(),
            )
        )

    def _check_ready(self) -> None:
        import ray

        pending = {s.ready_ref: (p, s) for p in self.pools.values() for s in p.slots if not s.ready and not s.dead}
        if not pending:
            return
        done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
        for ref in done:
            pool, slot = pending[ref]
            try:
                info = ray.get(ref)
            except Exception as exc:
                self._replace_slot(pool, slot, f"{type(exc).__name__}: {exc}")
                continue
            if not info.get("ok"):
                slot.dead = True
                self._mark_unhealthy(pool, str(info.get("error")))
                continue
            slot.ready = True
            slot.pid = info.get("pid")
            slot.node = info.get("node_ip")
            self._write_health(pool)

    # -- loop ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                busy = self._tick()
                if not busy:
                    self._stop.wait(self.cfg.poll_s)
        except BaseException as exc:  # surfaced via .error and the log
            self.error = exc
            log.exception("dispatcher loop crashed")
            # hand over at once: a standby (or the next `maydo worker`) takes the lease and
            # re-queues this loop's running jobs; their late results are fenced out
            with contextlib.suppress(Exception):
                self.store.release_lease(self.owner)

    def _tick(self) -> bool:
        now = time.monotonic()
        if now - self._last_lease > self.cfg.lease_s / 3:
            if not self.store.acquire_lease(self.owner, self.cfg.lease_s):
                raise RuntimeError("dispatcher lease lost to another dispatcher")
            self._last_lease = now
        self._check_ready()
        self._fail_unhealthy_jobs()
        claimed = 0 if self._draining else self._dispatch()
        finished = self._collect()
        if now - self._last_cancel_check > 0.1:
            self._last_cancel_check = now
            self._handle_stops()
        if now - self._last_flush > _FLUSH_EVERY_S:  # a Ray round trip: not on every tick
            self._flush_events()
        if now - self._last_health > 1.0:
            self._last_health = now
            for pool in self.pools.values():
                self._write_health(pool)
        return bool(claimed or finished)

    def _fail_unhealthy_jobs(self) -> None:
        for pool in self.pools.values():
            if pool.healthy:
                continue
            for job in self.store.claim(pool.name, 100, owner=self.owner):
                err = JobError("PoolUnhealthy", f"pool {pool.name} is unhealthy: {pool.error}", retryable=False)
                self.store.finish_failure(job.id, job.fence, err, retry_at=None)

    def _dispatch(self) -> int:
        total = 0
        for pool in self.pools.values():
            if not pool.healthy:
                continue
            free = pool.free()
            if free <= 0:
                continue
            for job in self.store.claim(pool.name, free, owner=self.owner):
                slot = min(pool.ready_slots, key=lambda s: len(s.in_flight))
                payload = self._payload(job)
                ref = slot.handle.run.remote(payload)
                slot.in_flight.add(job.id)
                inf = _InFlight(job=job, ref=ref, slot=slot, started=time.monotonic())
                self.in_flight[ref] = inf
                self.by_job[job.id] = inf
                if slot.pid is not None:
                    self.store.set_worker(job.id, job.fence, worker_name(pool.name, slot.node, slot.pid))
                total += 1
        return total

    def _payload(self, job: JobRecord) -> dict[str, Any]:
        deps: dict[str, dict[str, Any]] = {}
        for dep_id in job.depends_on:
            dep = self.store.get(dep_id)
            deps[dep.kind] = {"outputs": dep.outputs, "result": dep.result}
        return {
            "job_id": job.id,
            "fence": job.fence,
            "kind": job.kind,
            "attempt": job.attempts,
            "params": job.params,
            "inputs": job.inputs,
            "deps": deps,
            "limits": self._limits,  # applied again by the actor before any work (workers/limits.py)
        }

    def _collect(self) -> int:
        import ray

        if not self.in_flight:
            return 0
        refs = list(self.in_flight)
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0 if self._stop.is_set() else self.cfg.poll_s)
        for ref in done:
            inf = self.in_flight.pop(ref)
            self.by_job.pop(inf.job.id, None)
            inf.slot.in_flight.discard(inf.job.id)
            try:
                value = ray.get(ref)
            except Exception as exc:
                self._on_exception(inf, exc)
                continue
            self._on_value(inf, value)
        return len(done)

    def _pool_of(self, job: JobRecord) -> _Pool:
        return self.pools[job.pool]

    def _retry_at(self, job: JobRecord) -> float:
        cfg = self._pool_of(job).cfg
        delay = min(cfg.backoff_s * (2 ** max(0, job.attempts - 1)), cfg.backoff_max_s)
        return time.time() + delay

    def _on_value(self, inf: _InFlight, value: dict[str, Any]) -> None:
        job = inf.job
        self._flush_events()  # progress events before the final state
        if value.get("ok"):
            if inf.stop_reason == "cancel":
                # A cancel raced a finished attempt: the cancel wins (a finished timeout keeps its result).
                self.store.finish_canceled(job.id, job.fence)
                return
            self.store.finish_success(job.id, job.fence, value["outputs"], value["result"], worker=value.get("worker"))
            return
        if value.get("canceled"):
            self._stopped(inf)
            return
        err = value["error"]
        error = JobError(
            err["error_class"], err["message"], err.get("traceback", ""), bool(err["retryable"]), err.get("field")
        )
        self.store.finish_failure(job.id, job.fence, error, retry_at=self._retry_at(job) if error.retryable else None)

    def _stopped(self, inf: _InFlight) -> None:
        job = inf.job
        if inf.stop_reason == "timeout":
            error = JobError("JobTimeout", f"attempt ran longer than timeout_s={job.timeout_s:g}", retryable=True)
            self.store.finish_failure(job.id, job.fence, error, retry_at=self._retry_at(job))
        else:
            self.store.finish_canceled(job.id, job.fence)

    def _on_exception(self, inf: _InFlight, exc: BaseException) -> None:
        import traceback

        job = inf.job
        pool = self._pool_of(job)
        name = type(exc).__name__
        if name == "TaskCancelledError" or inf.stop_reason is not None:
            self._stopped(inf)
            if name != "TaskCancelledError" and not inf.slot.dead:
                self._replace_slot(pool, inf.slot, f"{name}: {exc}")
            return
        transient = name in _TRANSIENT_RAY or any(type(c).__name__ in _TRANSIENT_RAY for c in type(exc).__mro__)
        tb = "".join(traceback.format_exception(exc))
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else name
        error = JobError(name, message, tb, retryable=transient)
        if transient and not inf.slot.dead:
            self._replace_slot(pool, inf.slot, f"{name}: {message}")
        self.store.finish_failure(job.id, job.fence, error, retry_at=self._retry_at(job) if transient else None)

    def _handle_stops(self) -> None:
        import ray

        if not self.by_job:
            return
        now = time.monotonic()
        cancel_ids = set(self.store.cancel_requested(list(self.by_job)))
        for job_id, inf in list(self.by_job.items()):
            if inf.stop_reason is None:
                reason = None
                if job_id in cancel_ids:
                    reason = "cancel"
                elif now - inf.started > inf.job.timeout_s:
                    reason = "timeout"
                if reason is None:
                    continue
                inf.stop_reason = reason
                inf.stop_at = now
                inf.slot.handle.cancel.remote(job_id)
                with contextlib.suppress(Exception):  # already dead / finished
                    ray.cancel(inf.ref)
            elif now - inf.stop_at > self.cfg.cancel_grace_s:
                # Did not stop cooperatively: kill the actor (frees the GPU) and put a fresh one in.
                self.in_flight.pop(inf.ref, None)
                self.by_job.pop(job_id, None)
                inf.slot.in_flight.discard(job_id)
                pool = self._pool_of(inf.job)
                self._stopped(inf)
                self._replace_slot(pool, inf.slot, f"job {job_id} did not stop within {self.cfg.cancel_grace_s:g}s")

    def _flush_events(self) -> None:
        import ray

        if self._sink is None:
            return
        self._last_flush = time.monotonic()
        events = ray.get(self._sink.drain.remote())
        if events:
            self.store.add_events(events)
