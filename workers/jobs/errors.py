"""Errors the job store raises (the API maps them to 404 / 409)."""

from __future__ import annotations

from collections.abc import Sequence


class JobNotFound(KeyError):
    """No job with this id."""


class InvalidTransition(ValueError):
    """The requested change is not allowed from the job's current status (e.g. retry a running job)."""


class JobInUse(InvalidTransition):
    """Canceling this job would cancel work other active jobs still depend on (``dependents``)."""

    def __init__(self, job_id: str, dependents: Sequence[str]) -> None:
        self.job_id = job_id
        self.dependents = list(dependents)
        super().__init__(
            f"job {job_id} is still needed by {len(self.dependents)} other active job(s) "
            f"({', '.join(self.dependents[:5])}); cancel those instead"
        )
