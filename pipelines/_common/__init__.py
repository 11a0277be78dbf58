"""Small shared helpers for the pipelines: errors, image I/O, fonts."""

from pipelines._common.errors import PipelineInputError

__all__ = ["PipelineInputError"]
