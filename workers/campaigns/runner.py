"""Running a campaign: expand rows into jobs, start local workers if needed, wait, export."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError
from workers.campaigns.jobs import ad_job_spec, job_key
from workers.campaigns.plan import validate_campaign
from workers.campaigns.spec import CampaignSpec, CampaignSpecError, load_spec
from workers.campaigns.state import (
    AdResult,
    CampaignResult,
    Expansion,
    campaign_dir,
    files_exist,
    load_state,
    record_job,
)
from workers.settings import Settings

CAMPAIGN_POOLS = ("recolor", "voice", "video")


def expand_campaign(spec: CampaignSpec, settings: Settings, rt: Any) -> Expansion:
    """Validate + plan every row, then submit the ads that are not already exported (idempotent)."""
    from workers.jobs.models import JobSpec, JobStatus
    from workers.storage import open_store

    t0 = time.monotonic()
    v = validate_campaign(spec, settings)
    out_dir = campaign_dir(settings, spec.campaign_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = load_state(out_dir / "state.json").get("results", {})
    store = open_store(settings)
    image_assets = {p.sku: store.put(p.image, "image/png", filename=p.image.name).id for p in v.catalogue}
    results: dict[str, AdResult] = {}
    pending: dict[str, AdResult] = {}
    for err in v.errors:  # every error of a row, in one result (first field named)
        first = results.get(f"row:{err.row}")
        if first is not None:
            first.error = f"{first.error}; [{err.field}] {err.message}"
            continue
        results[f"row:{err.row}"] = AdResult(
            row=err.row, customer_id=err.customer_id, status="invalid", error=err.message, error_field=err.field
        )
    recolors: set[tuple[str, str]] = set()
    voices: set[tuple[str, str, str]] = set()
    for pr in v.planned:
        plan = pr.plan
        params, inputs = ad_job_spec(spec, v, pr, image_assets, out_dir, store)
        key = job_key(spec, plan.customer_id, params, inputs)
        if "recolor" in params:
            recolors.add((plan.sku, plan.colourway))
        if "voice" in params:
            voices.add((params["voice"]["text"], plan.accent, plan.tone))
        plan_dict = plan.to_dict()
        res = AdResult(
            row=pr.row,
            customer_id=plan.customer_id,
            first_name=plan.first_name,
            status="pending",
            key=key,
            formats=list(params["formats"]),
            plan={k: val for k, val in plan_dict.items() if k != "decisions"},
            decisions=plan_dict["decisions"],
        )
        results[plan.customer_id] = res
        prev = previous.get(plan.customer_id) or {}
        if prev.get("key") == key and prev.get("status") == "done" and files_exist(out_dir, prev.get("files", {})):
            res.status, res.resumed = "done", True
            for attr in ("job_id", "files", "assets", "durations", "cache_hit"):
                setattr(res, attr, prev.get(attr, getattr(res, attr)))
            continue
        rec = rt.submit(
            JobSpec(
                kind="render_ad",
                params=params,
                inputs=inputs,
                lane="batch",
                priority=spec.priority,
                tenant=spec.tenant,
                campaign_id=spec.campaign_id,
                idempotency_key=key,
            )
        )
        if rec.status in (JobStatus.FAILED, JobStatus.CANCELED):
            rec = rt.retry(rec.id)  # a re-run retries what failed before (its failed children too)
        res.job_id = rec.id
        pending[rec.id] = res
    stats: dict[str, Any] = {
        "rows": v.rows_total,
        "planned": len(v.planned),
        "invalid": len(v.errors),
        "resumed": sum(1 for r in results.values() if r.resumed),
        "submitted": len(pending),
        "unique_recolors": len(recolors),
        "unique_voices": len(voices),
        "plan_s": round(time.monotonic() - t0, 3),
    }
    return Expansion(spec, out_dir, results, pending, stats, store)


AdHook = Callable[[AdResult], None]


@dataclass
class Progress:
    """Counts reported to a progress hook: after the expansion, then after each batch of finished ads."""

    title: str
    total: int
    ok: int
    failed: int
    cached: int


ProgressHook = Callable[[Progress], None]


def run_campaign(
    spec: CampaignSpec,
    settings: Settings,
    *,
    runtime: Any | None = None,
    progress: ProgressHook | None = None,
    stop_after: int | None = None,
    on_ad: AdHook | None = None,
    timeout_s: float | None = None,
) -> CampaignResult:
    """Validate, plan, submit, wait, export, and write manifest + gallery (see module docstring).

    Starts a dispatcher in this process (embedded local Ray unless ``ray.address``) unless one is
    already serving the job store (``maydo worker``). ``stop_after``: behave as if Ctrl-C was
    pressed after that many ads finished in this run (tests, bench). On Ctrl-C, in-flight jobs
    finish or are re-queued, finished ads are kept, manifest and gallery show what is done, and
    a later ``run``/``resume`` renders only what is missing. ``progress`` gets the counts after
    the expansion and after each batch of finished ads (the CLI draws a bar from them).
    """
    from workers.runtime import Runtime

    t0 = time.monotonic()
    rt: Any = runtime or Runtime(settings)
    exp = expand_campaign(spec, settings, rt)
    interrupted = False
    local = _LocalDispatcher(rt)
    t_wait = time.monotonic()
    try:
        if exp.pending and not rt.status()["dispatcher"]["alive"]:
            local.start(settings)
        interrupted = _wait_and_export(
            rt, exp, local, progress=progress, stop_after=stop_after, on_ad=on_ad, timeout_s=timeout_s
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if local.started:
            rt.stop(graceful=True)
        exp.stats["wait_s"] = round(time.monotonic() - t_wait, 3)
        exp.stats.update(_stage_times(rt, [r for r in exp.results.values() if r.job_id]))
        exp.stats["wall_s"] = round(time.monotonic() - t0, 3)
        result = exp.save(interrupted)
        if runtime is None:
            rt.close()
    return result


def start_campaign(
    settings: Settings,
    spec_path: str | Path,
    audience_path: str | Path | None = None,
    *,
    tenant: str | None = None,
    runtime: Any | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Non-blocking start (HTTP API): validate, submit the ads, write a pending manifest, return.

    A running ``maydo worker`` renders the jobs; ``campaign_status``/``load_manifest`` export
    finished ads into the campaign folder as they are read. ``dry_run`` only validates.
    """
    from workers.runtime import Runtime

    overrides: dict[str, Any] = {}
    if audience_path is not None:
        overrides["audience"] = str(audience_path)
    if tenant is not None:
        overrides["tenant"] = tenant
    try:
        spec = load_spec(spec_path, **overrides)
    except CampaignSpecError as exc:
        raise PipelineInputError(str(exc), field="spec") from exc
    if dry_run:
        v = validate_campaign(spec, settings)
        return {
            "id": spec.campaign_id,
            "dry_run": True,
            "rows": v.rows_total,
            "valid": len(v.planned),
            "errors": [asdict(e) for e in v.errors],
            "warnings": [asdict(e) for e in v.warnings],
        }
    rt = runtime or Runtime(settings)
    try:
        exp = expand_campaign(spec, settings, rt)
        exp.stats["expanding"] = False
        exp.save()
    finally:
        if runtime is None:
            rt.close()
    return {"id": spec.campaign_id, **{k: exp.stats[k] for k in ("rows", "planned", "invalid", "submitted")}}


def campaign_settings(settings: Settings) -> Settings:
    """Settings for an embedded local run: the three campaign pools fit the machine's CPUs.

    Default pools ask 1 CPU each; on a 2-core laptop one of three would never be placed, so the
    local Ray gets at least one logical CPU per pool (they interleave: recolor and voice are
    short, video dominates). A cluster (``ray.address``) is left alone.
    """
    if settings.ray_address:
        return settings
    cpus = settings.ray.num_cpus or (os.cpu_count() or 2)
    need = sum(settings.pools[p].num_cpus * settings.pools[p].size for p in CAMPAIGN_POOLS if p in settings.pools)
    if need <= cpus:
        return settings
    ray_cfg = settings.ray.model_copy(update={"num_cpus": int(max(cpus, need + 0.999))})
    return settings.model_copy(update={"ray": ray_cfg})


def _start_local(rt: Any, settings: Settings) -> None:
    """Start the dispatcher in this process for the campaign pools."""
    import ray

    if not ray.is_initialized():
        rt.settings = campaign_settings(settings)
    elif not settings.ray_address:  # e.g. the test session's Ray: fit the pools' CPU asks into it
        avail = float(ray.cluster_resources().get("CPU", 1.0))
        pools = dict(rt.settings.pools)
        need = sum(pools[p].num_cpus * pools[p].size for p in CAMPAIGN_POOLS)
        if need > avail:
            factor = avail / need
            for p in CAMPAIGN_POOLS:
                # floor, not round: 3 x 0.667 would ask 2.001 CPUs of 2 and one pool would never start
                cpus = math.floor(pools[p].num_cpus * factor * 1000) / 1000
                pools[p] = pools[p].model_copy(update={"num_cpus": cpus})
            rt.settings = rt.settings.model_copy(update={"pools": pools})
    rt.start(pools=list(CAMPAIGN_POOLS))


@dataclass
class _LocalDispatcher:
    """The dispatcher this runner starts in its own process, when none serves the job store."""

    rt: Any
    started: bool = False  # this process started one: stop it when the run ends
    checked_at: float = 0.0

    def start(self, settings: Settings) -> None:
        from workers.scheduler.dispatcher import LeaseHeld

        with contextlib.suppress(LeaseHeld):  # another process started one just now: it serves us
            _start_local(self.rt, settings)
            self.started = True

    def watch(self) -> None:
        """Once a second while waiting: if the dispatcher serving these jobs died (e.g. a killed
        runner), start one here at once; if this process's own dispatcher stopped, fail clearly."""
        now = time.monotonic()
        if now - self.checked_at < 1.0:
            return
        self.checked_at = now
        disp = getattr(self.rt, "_dispatcher", None)
        if disp is not None and not disp.running and disp.error is not None:
            raise RuntimeError(f"the dispatcher in this process stopped: {type(disp.error).__name__}: {disp.error}")
        if disp is None and not self.rt.status()["dispatcher"]["alive"]:
            self.start(self.rt.settings)


def _wait_and_export(
    rt: Any,
    exp: Expansion,
    local: _LocalDispatcher,
    *,
    progress: ProgressHook | None,
    stop_after: int | None,
    on_ad: AdHook | None,
    timeout_s: float | None,
) -> bool:
    """Poll the jobs, export each finished ad, keep state current; True if stopped early."""
    already = exp.stats["resumed"]
    done_here = failed = cached = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    title = exp.spec.name or exp.spec.campaign_id

    def report() -> None:
        if progress is not None:
            progress(Progress(title, exp.stats["planned"], already + done_here, failed, cached))

    report()
    waiting = dict(exp.pending)
    while waiting:
        if deadline is not None and time.monotonic() > deadline:
            states = sorted({rt.get(j).status.value for j in waiting})
            pools = {k: (p["actors"], p["healthy"], p["error"]) for k, p in rt.status()["pools"].items()}
            raise TimeoutError(
                f"campaign did not finish within {timeout_s} s: {len(waiting)} ads still {states}; pools {pools}"
            )
        finished = []
        for job_id, res in waiting.items():
            rec = rt.get(job_id)
            if not rec.terminal:
                continue
            finished.append(job_id)
            record_job(exp.store, exp.out_dir, rec, res)
            if res.status == "done":
                done_here += 1
                cached += int(res.cache_hit)
            else:
                failed += 1
            if on_ad is not None:
                on_ad(res)
        for job_id in finished:
            del waiting[job_id]
        if not finished:
            local.watch()
            # Each pass reads every waiting job: with hundreds waiting, poll less often (an ad
            # is exported at most 0.5 s later; rendering does not wait for this loop).
            time.sleep(0.1 if len(waiting) <= 20 else 0.5)
            continue
        exp.save()  # state on disk after every batch: a crash loses nothing
        report()
        if stop_after is not None and done_here >= stop_after and waiting:
            return True
    return False


def _stage_times(rt: Any, ads: Sequence[AdResult]) -> dict[str, Any]:
    """Seconds of actual work per stage (recolor, voice, video) over the jobs this campaign used."""
    from workers.runtime import JobNotFound

    seen: set[str] = set()
    totals = {"recolor": 0.0, "voice": 0.0, "video": 0.0}
    counts = {"recolor": 0, "voice": 0, "video": 0}
    stack = [a.job_id for a in ads if a.job_id]
    while stack:
        jid = stack.pop()
        if jid is None or jid in seen:
            continue
        seen.add(jid)
        try:
            rec = rt.get(jid)
        except JobNotFound:
            continue
        stage = {"recolor": "recolor", "voice": "voice", "render_ad": "video"}.get(rec.kind)
        if stage and rec.started_at and rec.finished_at and not rec.cache_hit:
            totals[stage] += rec.finished_at - rec.started_at
            counts[stage] += 1
        stack.extend(rec.depends_on or [])
    return {
        "stage_s": {k: round(v, 3) for k, v in totals.items()},
        "stage_jobs": counts,
    }
