"""The FastAPI application: ``create_app(settings)``. Served by ``maydo serve`` (uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workers.api.body_limit import BodySizeLimit
from workers.api.context import ApiContext
from workers.api.errors import install_error_handlers
from workers.settings import Settings

DESCRIPTION = """
maydo renders personalized ad content: exact-colour recolor, regional-accent voiceovers and
video ads. Creative teams submit jobs and campaigns; ad platforms pull finished assets.

Authenticate with `X-API-Key: mdk_...` (or `Authorization: Bearer mdk_...`); keys come from
`maydo keys create --tenant T --role creator|platform|admin`. Every error is JSON:
`{"error": {"code", "message", "field"}}`. See docs/api.md.
"""


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every response (JSON errors, docs, assets), so no
    browser ever guesses a type the server did not declare."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_nosniff)


def create_app(settings: Settings, runtime: Any | None = None, *, webhooks: bool = True) -> FastAPI:
    """Build the app. ``runtime``: a ``workers.runtime.Runtime`` to share (default: one per app)."""
    from workers.api import routes_assets, routes_campaigns, routes_jobs, routes_meta, routes_review
    from workers.api.notifier import WebhookNotifier

    ctx = ApiContext(settings, runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        notifier = WebhookNotifier(ctx) if webhooks else None
        app.state.notifier = notifier
        if notifier is not None:
            notifier.start()
        try:
            yield
        finally:
            if notifier is not None:
                notifier.stop()

    # Swagger UI and ReDoc from the fastapi-offline wheel, served under /static-offline-docs:
    # /docs and /redoc work with no network (no CDN).
    app = FastAPIOffline(
        title="maydo API",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.notifier = None
    app.state.metrics_registry = routes_meta.metrics_registry(ctx)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.limits.max_upload_bytes)
    app.add_middleware(NoSniff)
    for module in (routes_meta, routes_assets, routes_jobs, routes_campaigns, routes_review):
        app.include_router(module.router)
    app.include_router(routes_jobs.webhook_router)
    app.include_router(routes_review.static_router)
    return app
