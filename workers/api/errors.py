"""One error shape for every response: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines._common.errors import PipelineInputError

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API reports as JSON with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _STATUS_CODES.get(status, "error")
        self.message = message
        self.field = field
        self.headers = headers


def not_found(what: str = "resource", field: str | None = None) -> ApiError:
    """The same 404 whether the object is absent or belongs to another tenant (no existence leak)."""
    return ApiError(404, f"{what} not found", field=field)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error shape; absolute server paths in the message become bare file names."""
    from workers.api.public import scrub_text

    return {"error": {"code": code, "message": scrub_text(message) if "/" in message or "\\" in message else message,
                      "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def _field_of(loc: Any) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure (ours, validation, routing, pipeline input, unexpected) to the JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        field = _field_of(first.get("loc", ()))
        msg = str(first.get("msg", "invalid request"))
        message = f"{field}: {msg}" if field else msg
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        return error_response(422, "invalid_input", message, field)

    @app.exception_handler(PipelineInputError)
    async def _pipeline_input(_: Request, exc: PipelineInputError) -> JSONResponse:
        return error_response(422, "invalid_input", exc.message, exc.field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        field = "file" if exc.status_code == 413 else None
        return error_response(exc.status_code, code, detail, field, getattr(exc, "headers", None))

    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        # A body nested thousands of levels deep exhausts the parser's recursion: bad input, not a crash.
        return error_response(422, "invalid_input", "request nested too deeply (at most 64 levels)", "body")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal", f"internal error ({type(exc).__name__})")
