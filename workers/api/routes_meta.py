"""``/v1/healthz``, ``/v1/metrics`` (Prometheus), ``/v1/voices``, ``/v1/templates``."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

from workers.api.context import ApiContext, authenticate, ctx_of
from workers.api.store import Principal
from workers.jsonable import jsonable

router = APIRouter(prefix="/v1", tags=["meta"])

_STAGE_WINDOW = 200  # recent finished jobs whose events feed the stage-duration summary


@router.get("/healthz", summary="Liveness and readiness: stores reachable, dispatcher alive")
def healthz(request: Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    checks: dict[str, Any] = {"api_db": True, "asset_store": ctx.assets.healthy()}
    dispatcher: dict[str, Any] | None = None
    try:
        status = ctx.runtime.status()
        dispatcher = status.get("dispatcher")
        checks["job_store"] = True
    except Exception as exc:  # health reports failures instead of raising them
        checks["job_store"] = f"{type(exc).__name__}: {exc}"
    ok = all(v is True for v in checks.values())
    return {"ok": ok, "checks": checks, "dispatcher": dispatcher, "uptime_s": round(time.time() - ctx.started, 1)}


class RuntimeCollector:
    """Reads queue depth, job counts and stage durations from the job store at scrape time."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Any]:
        rt = self.ctx.runtime
        status = rt.status()
        depth = GaugeMetricFamily("maydo_queue_depth", "Active jobs per lane and state", labels=["lane", "state"])
        for lane, states in sorted(status.get("lanes", {}).items()):
            for state, n in sorted(states.items()):
                depth.add_metric([lane, state], float(n))
        yield depth
        pools = GaugeMetricFamily("maydo_pool_queued", "Queued jobs per actor pool", labels=["pool"])
        for name, pool in sorted(status.get("pools", {}).items()):
            pools.add_metric([name], float(pool.get("queued", 0)))
        yield pools
        by_state = GaugeMetricFamily("maydo_jobs", "Jobs by state", labels=["state"])
        for state, n in sorted(status.get("counts", {}).items()):
            by_state.add_metric([state], float(n))
        yield by_state
        alive = GaugeMetricFamily("maydo_dispatcher_alive", "1 when a dispatcher holds a fresh lease")
        alive.add_metric([], 1.0 if (status.get("dispatcher") or {}).get("alive") else 0.0)
        yield alive
        stages = SummaryMetricFamily(
            "maydo_stage_duration_seconds",
            f"Time spent per job stage over the last {_STAGE_WINDOW} finished jobs",
            labels=["kind", "stage"],
        )
        sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for rec in rt.list(status=["succeeded", "failed", "canceled"], limit=_STAGE_WINDOW):
            events = rt.events(rec.id)
            for ev, nxt in zip(events, events[1:], strict=False):
                acc = sums[(rec.kind, ev.stage)]
                acc[0] += 1
                acc[1] += max(0.0, nxt.ts - ev.ts)
        for (kind, stage), (count, total) in sorted(sums.items()):
            stages.add_metric([kind, stage], count_value=int(count), sum_value=total)
        yield stages


def metrics_registry(ctx: ApiContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(ctx))  # type: ignore[arg-type]
    return registry


@router.get("/metrics", summary="Prometheus metrics", responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    ctx = ctx_of(request)
    if not ctx.settings.api.metrics_public:
        authenticate(request, request.headers.get("x-api-key"), None)
    registry = request.app.state.metrics_registry
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/voices",
    summary="Accents and voices from the voice registry (licence, commercial use, measured WER and its label)",
)
def voices(_: Principal = Depends(authenticate)) -> dict[str, Any]:
    from pipelines.voice.accents import load_registry

    return {"voices": [jsonable(spec) for spec in load_registry()]}


@router.get("/templates", summary="Video ad templates (registry names) and music beds shipped with the server")
def templates(_: Principal = Depends(authenticate)) -> dict[str, Any]:
    from pipelines._common.errors import PipelineInputError
    from workers.resolver import Registry, Resolver

    registry = Registry.default()
    resolver = Resolver(registry=registry)
    out: list[dict[str, Any]] = []
    for name in registry.templates():
        entry: dict[str, Any] = {"name": name}
        try:
            t = resolver.load_template(name, "template")
            entry.update(
                description=t.description, formats=t.formats, fps=t.fps, spec=t.spec,
                fields=sorted(t.fields), scenes=len(t.scenes),
                fixed_seconds=round(sum(float(s.duration) for s in t.scenes
                                        if not isinstance(s.duration, str)), 2),
            )
        except PipelineInputError as exc:  # list every template, flagging broken ones rather than failing
            entry["error"] = exc.message
        out.append(entry)
    return {"templates": out, "music": sorted(registry.music())}
