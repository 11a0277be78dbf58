"""HTTP API (FastAPI): thin over the job runtime and the stores. ``create_app(settings)``."""

from workers.api.app import create_app

__all__ = ["create_app"]
