"""Job model shared by the runtime, the store, the CLI, the HTTP API and campaigns.

A job is one unit of GPU/CPU work (``recolor``, ``voice``, ``render_ad``; ``noop`` only when
``pools.test_kinds`` is on). Lifecycle::

    queued -> running -> succeeded | failed | canceled
                 |
                 +-> retrying (transient failure, waits ``not_before``) -> running -> ...

Everything here is plain data (frozen dataclasses, JSON-able dicts): no Ray, no SQLite.
Large data never lives in a job: ``inputs`` and ``outputs`` hold asset ids of
``workers.storage`` (64-hex sha256), ``params`` and ``result`` hold small JSON.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from pipelines._common.errors import PipelineInputError, unknown_choice


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"  # a transient failure happened; waits until ``not_before`` then runs again
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING})


class Lane(StrEnum):
    """Priority lanes: every ``interactive`` job is dispatched before any ``batch`` job."""

    INTERACTIVE = "interactive"
    BATCH = "batch"

    @property
    def rank(self) -> int:
        return 0 if self is Lane.INTERACTIVE else 1


class JobKind(StrEnum):
    RECOLOR = "recolor"
    VOICE = "voice"
    RENDER_AD = "render_ad"  # recolor ∥ voice -> video, fanned out as child jobs (deduped by fingerprint)
    NOOP = "noop"  # test/bench kind: real dispatch, trivial work; only accepted with pools.test_kinds = true


PUBLIC_KINDS = (JobKind.RECOLOR, JobKind.VOICE, JobKind.RENDER_AD)

_KEY_RE = re.compile(r"^[A-Za-z0-9._:@/+-]{1,200}$")
_ASSET_RE = re.compile(r"^[0-9a-f]{64}$")


def new_job_id() -> str:
    """Job ids: ``j_`` + 24 hex chars (random, URL safe)."""
    return "j_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class JobSpec:
    """What to run. Build one and pass it to ``Runtime.submit``.

    ``inputs`` maps input names to asset ids already in the asset store
    (recolor: ``image``; render_ad: ``product_image`` (optional) and optionally ``template``);
    ``params`` is the per-call JSON for the pipeline (see docs/workers.md for each kind).
    ``priority`` orders jobs inside a lane (higher first); ties go to the oldest job.
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    lane: str = Lane.BATCH.value
    priority: int = 0
    tenant: str = "default"
    campaign_id: str | None = None
    idempotency_key: str | None = None
    timeout_s: float | None = None  # None = the pool's timeout_s
    max_attempts: int | None = None  # None = the pool's max_attempts

    def validated(self, *, allow_test_kinds: bool = False) -> JobSpec:
        """Return a normalised copy or raise ``PipelineInputError`` naming the bad field."""
        kinds = [k.value for k in (JobKind if allow_test_kinds else PUBLIC_KINDS)]
        if self.kind not in kinds:
            raise unknown_choice("job kind", str(self.kind), kinds, field="kind")
        if self.lane not in {lane.value for lane in Lane}:
            raise unknown_choice("lane", str(self.lane), [lane.value for lane in Lane], field="lane")
        if not isinstance(self.params, dict):
            raise PipelineInputError("params must be a JSON object", field="params")
        if not isinstance(self.inputs, dict):
            raise PipelineInputError("inputs must map names to asset ids", field="inputs")
        for name, asset_id in self.inputs.items():
            if not isinstance(asset_id, str) or not _ASSET_RE.match(asset_id):
                raise PipelineInputError(
                    f"input {name!r} must be an asset id (64 lowercase hex chars), got {asset_id!r}",
                    field=f"inputs.{name}",
                )
        if not isinstance(self.priority, int) or not -1000 <= self.priority <= 1000:
            raise PipelineInputError("priority must be an integer in [-1000, 1000]", field="priority")
        if not self.tenant or not _KEY_RE.match(self.tenant):
            raise PipelineInputError("tenant must be 1-200 chars of [A-Za-z0-9._:@/+-]", field="tenant")
        if self.idempotency_key is not None and not _KEY_RE.match(self.idempotency_key):
            raise PipelineInputError(
                "idempotency_key must be 1-200 chars of [A-Za-z0-9._:@/+-]", field="idempotency_key"
            )
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise PipelineInputError("timeout_s must be > 0", field="timeout_s")
        if self.max_attempts is not None and not 1 <= self.max_attempts <= 20:
            raise PipelineInputError("max_attempts must be in [1, 20]", field="max_attempts")
        return replace(
            self, kind=str(self.kind), lane=str(self.lane), params=dict(self.params), inputs=dict(self.inputs)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobError:
    """Why an attempt failed. ``retryable`` is False for PipelineInputError and setup failures."""

    error_class: str
    message: str
    traceback: str = ""
    retryable: bool = False
    field: str | None = None  # PipelineInputError.field when known


@dataclass(frozen=True)
class JobRecord:
    """A job as stored. Returned by every ``Runtime``/store read; never mutated in place."""

    id: str
    kind: str
    status: JobStatus
    lane: str
    priority: int
    tenant: str
    campaign_id: str | None
    idempotency_key: str | None
    params: dict[str, Any]
    inputs: dict[str, str]
    outputs: dict[str, str]  # output name -> asset id (e.g. "image", "audio", "9:16.video")
    result: dict[str, Any]  # small JSON: reports, timings, render metadata
    fingerprint: str
    cache_hit: bool  # True when outputs came from an earlier job with the same fingerprint
    cached_from: str | None  # that earlier job's id
    depends_on: list[str]  # child job ids that must succeed before this one runs
    pool: str  # pool that runs it (from kind + params), e.g. "recolor", "voice", "video"
    attempts: int  # attempts started so far
    max_attempts: int
    fence: int  # token of the current attempt; a result with another fence is ignored
    timeout_s: float
    not_before: float  # unix s: earliest next start (retry backoff)
    cancel_requested: bool
    error_class: str | None
    error_message: str | None
    error_traceback: str | None
    error_field: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (status as its string value)."""
        out = asdict(self)
        out["status"] = self.status.value
        return out


@dataclass(frozen=True)
class JobEvent:
    """A progress event. ``id`` grows monotonically over the whole store: use it as an SSE cursor."""

    id: int
    job_id: str
    stage: str  # queued, running, mask, recolor, tts, compose, encode, store, retrying, succeeded, ...
    fraction: float  # 0..1 within the whole job (1.0 at the end)
    message: str
    ts: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Attempt:
    """One start of a job on an actor."""

    job_id: str
    number: int
    fence: int
    started_at: float
    ended_at: float | None
    outcome: str | None  # succeeded, failed, retrying, canceled, timeout, abandoned, stale
    error_class: str | None
    error_message: str | None
    worker: str | None  # actor / pid that ran it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PoolHealth:
    """Health of one actor pool as the dispatcher last saw it (shown by ``maydo status``/doctor)."""

    name: str
    healthy: bool
    error: str | None  # why the model could not load, verbatim
    actors: int  # actors alive and ready
    size: int  # configured size
    in_flight: int
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
