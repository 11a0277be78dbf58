"""``Runtime``: the one Python facade over jobs (submit, read, cancel, retry, events, wait, status)
and the dispatcher that runs them on Ray actor pools.

Submitting and reading need no Ray: any process (CLI, HTTP API, campaigns) opens a ``Runtime``
on the same settings and talks to the durable job store (SQLite or PostgreSQL, ``jobs.database_url``). Exactly one process runs the
dispatcher (``Runtime.start()`` or ``maydo worker``); it claims jobs, runs them on actors and
writes results back. See docs/workers.md.
"""

from __future__ import annotations

import builtins
import functools
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pipelines._common.errors import PipelineInputError
from workers.jobs.errors import InvalidTransition, JobInUse, JobNotFound
from workers.jobs.fingerprint import fingerprint as make_fingerprint
from workers.jobs.models import Attempt, JobEvent, JobKind, JobRecord, JobSpec, PoolHealth
from workers.jobs.store import open_job_store
from workers.settings import PoolSettings, Settings

if TYPE_CHECKING:
    from workers.scheduler.dispatcher import Dispatcher
    from workers.storage import AssetStore

__all__ = ["InvalidTransition", "JobInUse", "JobNotFound", "Runtime", "pool_for"]

log = logging.getLogger(__name__)


def pool_for(kind: str, params: dict[str, Any]) -> str:
    """Which actor pool runs a job of this kind/params."""
    if kind == JobKind.RECOLOR:
        return "recolor_diffusion" if params.get("engine") == "diffusion" else "recolor"
    if kind == JobKind.VOICE:
        return "voice"
    if kind == JobKind.RENDER_AD:
        return "video"
    return "noop"


class Runtime:
    """Jobs facade. Cheap to construct (opens the job store); thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = open_job_store(settings)
        self._dispatcher: Dispatcher | None = None
        self._standby: threading.Thread | None = None
        self._standby_stop = threading.Event()

    # -- submit ------------------------------------------------------------------------------

    def _pool(self, name: str) -> PoolSettings:
        pool = self.settings.pools.get(name)
        if pool is None:
            raise PipelineInputError(f"no pool {name!r} is configured (settings 'pools')", field="kind")
        return pool

    def fingerprint(self, spec: JobSpec, extra: dict[str, Any] | None = None) -> str:
        pool = pool_for(spec.kind, spec.params)
        return make_fingerprint(
            spec.kind,
            spec.inputs,
            spec.params,
            pool=pool,
            revision=self._pool(pool).revision,
            extra=extra,
            tenant=spec.tenant,
        )

    def submit(self, spec: JobSpec) -> JobRecord:
        """Queue a job and return its record.

        - Same ``(tenant, idempotency_key)`` as an earlier job -> that job, unchanged.
        - Same fingerprint as a succeeded job -> a new job, already ``succeeded`` with
          ``cache_hit=True`` and the earlier outputs (nothing runs).
        - ``render_ad`` fans out into ``recolor`` / ``voice`` child jobs (shared with any equal
          queued, running or finished job) and runs on the video pool once they succeed.
        Raises ``PipelineInputError`` for an invalid spec (unknown kind/lane, bad asset id, ...).
        """
        spec = self.prepare(spec)
        if spec.kind == JobKind.RENDER_AD:
            return self._submit_ad(spec)
        return self._submit_one(spec)

    def prepare(self, spec: JobSpec, owns: Any = None) -> JobSpec:
        """Validate a spec and check its references with ``workers.resolver`` (asset ids that
        exist — and, with ``owns(asset_id)``, that the caller owns — or registry names; never a
        path). Asset ids an uploaded template uses are added to ``inputs`` (``media.<n>``).
        The ``limits.*`` settings are applied (``workers.limits``). Raises ``PipelineInputError``
        naming the field."""
        from workers.limits import Limits
        from workers.resolver import Resolver, prepare_job

        spec = spec.validated(allow_test_kinds=self.settings.dispatcher.test_kinds)
        return prepare_job(spec, Resolver(self.assets, owns=owns), Limits.from_settings(self.settings))

    @functools.cached_property
    def assets(self) -> AssetStore:
        """The asset store, opened once per runtime (an S3 client is not free to build per submit)."""
        from workers.storage import open_store

        return open_store(self.settings)

    def _submit_one(
        self, spec: JobSpec, depends_on: Sequence[str] = (), extra: dict[str, Any] | None = None
    ) -> JobRecord:
        pool_name = pool_for(spec.kind, spec.params)
        pool = self._pool(pool_name)
        fp = self.fingerprint(spec, extra)
        cached = self.store.find_by_fingerprint(fp)
        rec, _created = self.store.create_job(
            spec,
            fingerprint=fp,
            pool=pool_name,
            timeout_s=spec.timeout_s or pool.timeout_s,
            max_attempts=spec.max_attempts or pool.max_attempts,
            depends_on=() if cached else depends_on,
            cached_from=cached,
        )
        return rec

    def _child(self, spec: JobSpec) -> str:
        """Job id producing this child's result: an equal active or finished job, else a new one."""
        fp = self.fingerprint(spec)
        for active in (False, True):
            found = self.store.find_by_fingerprint(fp, active=active)
            if found is not None:
                return found.id
        return self._submit_one(spec).id

    def _submit_ad(self, spec: JobSpec) -> JobRecord:
        params = spec.params
        children: dict[str, JobSpec] = {}

        def child(kind: str, child_params: dict[str, Any], inputs: dict[str, str]) -> JobSpec:
            # Children share the ad's lane, priority, tenant and campaign, but not its key or limits.
            return replace(
                spec,
                kind=kind,
                params=child_params,
                inputs=inputs,
                idempotency_key=None,
                timeout_s=None,
                max_attempts=None,
            )

        recolor = params.get("recolor")
        if recolor is not None:
            if not isinstance(recolor, dict):
                raise PipelineInputError(
                    "params.recolor must be an object like {'to_colors': ['#c0392b']}", field="params.recolor"
                )
            if "product_image" not in spec.inputs:
                raise PipelineInputError("params.recolor needs inputs.product_image", field="inputs.product_image")
            children["recolor"] = child(JobKind.RECOLOR.value, dict(recolor), {"image": spec.inputs["product_image"]})
        voice = params.get("voice")
        if voice is not None:
            if not isinstance(voice, dict) or not isinstance(voice.get("text"), str):
                raise PipelineInputError(
                    "params.voice must be an object with 'text' (and 'accent', ...)", field="params.voice"
                )
            # A reference voice (coqui cloning) travels as an asset, like every file.
            voice_inputs = {"speaker_wav": spec.inputs["speaker_wav"]} if "speaker_wav" in spec.inputs else {}
            children["voice"] = child(JobKind.VOICE.value, dict(voice), voice_inputs)
        child_fps = {name: self.fingerprint(c.validated()) for name, c in children.items()}
        fp = self.fingerprint(spec, extra={"children": child_fps})
        cached = self.store.find_by_fingerprint(fp)
        if cached is not None or (spec.idempotency_key and self._by_key(spec) is not None):
            return self._submit_one(spec, extra={"children": child_fps})
        dep_ids = [self._child(c.validated()) for c in children.values()]
        return self._submit_one(spec, depends_on=dep_ids, extra={"children": child_fps})

    def _by_key(self, spec: JobSpec) -> JobRecord | None:
        return self.store.find_by_key(spec.tenant, spec.idempotency_key) if spec.idempotency_key else None

    # -- read / control ----------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """The job; ``JobNotFound`` (a KeyError) if there is none."""
        return self.store.get(job_id)

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        kind: str | None = None,
        lane: str | None = None,
        tenant: str | None = None,
        campaign_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        created_after: float | None = None,
        created_before: float | None = None,
        before: tuple[float, str] | None = None,
        top_level: bool = False,
    ) -> builtins.list[JobRecord]:
        """Jobs, newest first, filtered by any of the keywords (``before``: keyset cursor
        ``(created_at, id)``; ``top_level``: not a child job another job depends on)."""
        return self.store.list_jobs(
            status=status,
            kind=kind,
            lane=lane,
            tenant=tenant,
            campaign_id=campaign_id,
            limit=limit,
            offset=offset,
            created_after=created_after,
            created_before=created_before,
            before=before,
            top_level=top_level,
        )

    def cancel(self, job_id: str) -> JobRecord:
        """Queued/retrying -> canceled at once; running -> stopped by the dispatcher (cancel the task,
        then kill + restart the actor after ``dispatcher.cancel_grace_s``); finished -> unchanged.
        Never cancels work another active job still depends on: ``JobInUse`` for a shared child;
        canceling an ad cancels its children only where no other active job needs them."""
        return self.store.request_cancel(job_id)

    def retry(self, job_id: str) -> JobRecord:
        """Re-queue a failed or canceled job (fresh attempt budget); ``InvalidTransition`` otherwise."""
        return self.store.retry(job_id)

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> builtins.list[JobEvent]:
        """Progress events with id > ``after`` (oldest first): poll with the last id seen as cursor."""
        self.store.get(job_id)
        return self.store.events(job_id, after=after, limit=limit)

    def attempts(self, job_id: str) -> builtins.list[Attempt]:
        return self.store.attempts(job_id)

    def wait(
        self, job_ids: str | Sequence[str], timeout: float | None = None, poll_s: float = 0.05
    ) -> builtins.list[JobRecord]:
        """Block until every job is finished or ``timeout`` seconds pass; returns the latest records
        (check ``.terminal``: on timeout some may still be active)."""
        ids = [job_ids] if isinstance(job_ids, str) else list(job_ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            recs = [self.store.get(j) for j in ids]
            if all(r.terminal for r in recs):
                return recs
            if deadline is not None and time.monotonic() >= deadline:
                return recs
            time.sleep(poll_s)

    def status(self) -> dict[str, Any]:
        """Pools (health, actors, in-flight, queued), queue depth per lane, dispatcher liveness."""
        lease = self.store.lease_status(self.settings.dispatcher.lease_s)
        depth = self.store.pool_depth()
        health = {h.name: h for h in self.store.pool_health()}
        pools = {}
        for name, cfg in self.settings.pools.items():
            if not cfg.enabled and name not in health:
                continue
            h = health.get(name)
            pools[name] = {
                "enabled": cfg.enabled,
                "healthy": h.healthy if h else None,
                "error": h.error if h else None,
                "actors": h.actors if h else 0,
                "size": cfg.size,
                "in_flight": h.in_flight if h else 0,
                "queued": depth.get(name, 0),
                "num_gpus": cfg.num_gpus,
                "num_cpus": cfg.num_cpus,
                "max_in_flight": cfg.max_in_flight,
            }
        return {
            "dispatcher": lease,
            "lanes": self.store.queue_depth(),
            "pools": pools,
            "counts": self.store.counts(),
        }

    def pool_health(self) -> builtins.list[PoolHealth]:
        """Last health the dispatcher recorded per pool (``maydo doctor`` shows unhealthy ones)."""
        return self.store.pool_health()

    # -- dispatcher --------------------------------------------------------------------------

    def start(self, pools: Sequence[str] | None = None, *, address: str | None = None) -> Dispatcher:
        """Start the dispatcher thread in this process (connects to / starts Ray, creates the pools).

        ``pools``: names to run (default: every enabled pool). Returns the dispatcher; raises
        ``RuntimeError`` if another live dispatcher holds the lease.
        """
        from workers.scheduler.dispatcher import Dispatcher

        if self._dispatcher is not None and self._dispatcher.running:
            return self._dispatcher
        settings = self.settings
        if address is not None:
            settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": address})})
        self._dispatcher = Dispatcher(settings, self.store, pools=pools)
        self._dispatcher.start()
        return self._dispatcher

    def start_standby(self, pools: Sequence[str] | None = None, *, retry_s: float | None = None) -> None:
        """Run the dispatcher here whenever no other live one does (HA for several ``maydo serve``).

        A background thread tries to take the lease every ``retry_s`` (default ``lease_s / 3``, at
        most 1 s): while another dispatcher is alive this process only serves the API; the moment
        that holder dies (its process or database session gone) this one takes over and re-queues
        its running jobs. If this process's dispatcher stops on an error it goes back to standby.
        """
        from workers.scheduler.dispatcher import LeaseHeld

        period = retry_s if retry_s is not None else min(1.0, self.settings.dispatcher.lease_s / 3)
        self._standby_stop.clear()

        def watch() -> None:
            while not self._standby_stop.is_set():
                disp = self._dispatcher
                if disp is None or not disp.running:
                    if disp is not None and disp.error is not None:
                        log.warning("dispatcher stopped (%s); back to standby", disp.error)
                        try:  # its actors go too (the lease was released when its loop failed)
                            disp.stop(graceful=False)
                        except Exception:
                            log.exception("stopping the failed dispatcher")
                        self._dispatcher = None
                    try:
                        self.start(pools)
                        log.info("dispatcher active (lease taken)")
                    except LeaseHeld:
                        pass
                    except Exception:  # e.g. Ray not reachable yet: logged, retried
                        log.exception("dispatcher start failed; retrying")
                self._standby_stop.wait(period)

        self._standby = threading.Thread(target=watch, name="maydo-dispatcher-standby", daemon=True)
        self._standby.start()

    def ensure_dispatcher(self, pools: Sequence[str] | None = None) -> bool:
        """Start a dispatcher here if no live one serves the store; True if this call started one.

        Waiting commands call it periodically, so a runner killed while they wait is replaced at
        once (its lease dies with its process) instead of leaving them waiting forever.
        """
        from workers.scheduler.dispatcher import LeaseHeld

        if self.dispatcher_active or self.status()["dispatcher"]["alive"]:
            return False
        try:
            self.start(pools)
        except LeaseHeld:  # another process won the race: it serves the jobs
            return False
        return True

    @property
    def dispatcher_active(self) -> bool:
        """True while this process's dispatcher is running (holds the lease)."""
        return self._dispatcher is not None and self._dispatcher.running

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the dispatcher. ``graceful=False`` abandons running jobs in the store as a crash would."""
        self._standby_stop.set()
        if self._standby is not None:
            self._standby.join(timeout=5)
            self._standby = None
        if self._dispatcher is not None:
            self._dispatcher.stop(graceful=graceful)
            self._dispatcher = None

    def close(self) -> None:
        self.stop()
        self.store.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
