"""``noop`` actor: the real actor/dispatcher path with controllable, trivial work (tests, bench).

Params: ``sleep_s`` (total, in ``stages`` progress steps), ``fail_times`` (raise a transient error
on the first N attempts), ``input_error`` (raise ``PipelineInputError``), ``crash_times`` (exit
the worker process hard on the first N attempts, like a kill -9), ``hang_s`` (sleep without
progress callbacks, so a cancel needs the kill after the grace period), ``payload`` (text stored as
output ``out``).
"""

from __future__ import annotations

import os
import time

from pipelines._common.errors import PipelineInputError
from workers.actors.base import JobContext, PipelineActor, TransientJobError


class NoopActor(PipelineActor):
    family = "noop"

    def execute(self, ctx: JobContext) -> None:
        p = ctx.params
        if p.get("input_error"):
            raise PipelineInputError("noop: input_error was requested", field="params.input_error")
        if ctx.attempt <= int(p.get("crash_times", 0)):
            os._exit(1)
        if p.get("hang_s"):  # ignores cancel flags (no progress callbacks): exercises kill-after-grace
            time.sleep(float(p["hang_s"]))
        stages = max(1, int(p.get("stages", 4)))
        sleep_s = float(p.get("sleep_s", 0.0))
        ctx.progress("work", 0.05, f"pid {os.getpid()}")
        for i in range(stages):
            if sleep_s:
                time.sleep(sleep_s / stages)
            ctx.progress("work", 0.05 + 0.9 * (i + 1) / stages, f"step {i + 1}/{stages}")
        if ctx.attempt <= int(p.get("fail_times", 0)):
            raise TransientJobError(f"noop: planned transient failure on attempt {ctx.attempt}")
        if "payload" in p:
            out = ctx.workdir / "out.txt"
            out.write_text(str(p["payload"]), encoding="utf-8")
            ctx.outputs["out"] = out
        ctx.result.update({"attempt": ctx.attempt, "pid": os.getpid()})
