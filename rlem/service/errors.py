"""The service's errors: every failure is `{"error": {"code", "message"}}` with the right status.

A client's mistake gets a 4xx naming the problem and what to do; the store's and the session's
errors map to statuses by kind; anything else is a bug, logged with the request id and answered
500 with that id (its transaction rolled back, so nothing changed).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from memory_store.errors import (
    DatabaseUnavailable,
    EmbeddingMismatch,
    InvalidArgument,
    InvalidFile,
    InvalidVector,
    NotFound,
    StoreError,
    UnknownNamespace,
    one_line,
)
from rlem.errors import RlemError, user_message

log = logging.getLogger("rlem.service")


class ErrorDetail(BaseModel):
    """What went wrong, in one line a person can act on."""

    code: str
    message: str
    request_id: str | None = None


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


# The error answers any route may give, for the OpenAPI schema.
RESPONSES = {
    status: {"model": ErrorBody, "description": what}
    for status, what in [
        (401, "No valid API key"),
        (403, "The key lacks the scope"),
        (404, "No such thing, or none this key may see"),
        (409, "Out of order, or in conflict with the resource's state"),
        (410, "Ended by the server"),
        (413, "Body over the limit"),
        (422, "Invalid request"),
        (429, "Over the key's rate"),
        (503, "Not ready, stopping, or the database is unreachable"),
    ]
}


class ApiError(Exception):
    """A failure answered with `status` and a machine-readable `code`."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def not_found(what: str) -> ApiError:
    """404: no such thing, or none this key may see (the two read alike, so names do not leak)."""
    return ApiError(404, "not_found", what)


def conflict(message: str) -> ApiError:
    """409: the request does not fit the resource's state (a step out of order, settings in use)."""
    return ApiError(409, "conflict", message)


def gone(message: str) -> ApiError:
    """410: the episode existed and has been ended by the server."""
    return ApiError(410, "gone", message)


# Store and session errors by kind; the first match wins, so subclasses come first.
STATUS = [
    (UnknownNamespace, 404, "not_found"),
    (NotFound, 404, "not_found"),
    (DatabaseUnavailable, 503, "unavailable"),
    (EmbeddingMismatch, 409, "conflict"),
    ((InvalidArgument, InvalidFile, InvalidVector, ValidationError), 422, "invalid"),
    (StoreError, 409, "conflict"),
    (RlemError, 422, "invalid"),
]


def api_error(exc: BaseException) -> ApiError | None:
    """The answer to a store or session error, or None for a bug."""
    if isinstance(exc, ApiError):
        return exc
    message = user_message(exc)
    if message is None:
        return None
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            return ApiError(status, code, message)
    return ApiError(503, "unavailable", message)  # the machine's: a full disk


def body(code: str, message: str, **more: str) -> dict:
    """The JSON of an error answer."""
    return {"error": {"code": code, "message": one_line(message), **more}}


def answer(error: ApiError) -> JSONResponse:
    """The response of an ApiError."""
    return JSONResponse(body(error.code, error.message), status_code=error.status, headers=error.headers)


def install(app: FastAPI) -> None:
    """Answer every failure in the service's error shape."""

    @app.exception_handler(ApiError)
    async def api(_: Request, exc: ApiError) -> JSONResponse:
        return answer(exc)

    # Starlette re-raises what reaches its catch-all handler (to be logged as a bug): every kind a
    # client can cause has a handler of its own.
    @app.exception_handler(StoreError)
    @app.exception_handler(RlemError)
    @app.exception_handler(ValidationError)
    async def known(request: Request, exc: Exception) -> JSONResponse:
        error = api_error(exc)
        return answer(error) if error is not None else await unexpected(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problem = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in problem.get("loc", ()))
        return answer(ApiError(422, "invalid", f"{where}: {problem.get('msg', 'invalid')}"))

    @app.exception_handler(StarletteHTTPException)
    async def http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route: see /docs for the API"
        return answer(ApiError(exc.status_code, codes.get(exc.status_code, "refused"), message))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        error = api_error(exc)
        if error is not None:
            return answer(error)
        request_id = getattr(request.state, "request_id", "-")
        log.error("request %s failed", request_id, exc_info=exc)
        return JSONResponse(
            body("internal", f"the server failed on this request (id {request_id}); nothing was changed",
                 request_id=request_id),
            status_code=500,
        )  # fmt: skip
