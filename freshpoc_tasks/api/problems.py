"""Errors as RFC 9457 ``application/problem+json``, for every failure the API can produce.

FastAPI answers ``{"detail": ...}`` by default and 422 for bad parameters; clients of this API
get one shape for all errors, and a bad parameter is a plain 400 (it is the client's input, not
an unprocessable entity). Server-side failures never echo internals: the detail says what
failed, the log keeps the traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """Raised by routes to answer with a problem document."""

    def __init__(self, status: int, detail: str, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase


def problem_response(request: Request, status: int, detail: str | None, title: str | None = None,
                     errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=title or HTTPStatus(status).phrase, status=status, detail=detail,
                   instance=request.url.path, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON,
                        headers=headers)


def _plain(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors without the offending input echoed back (it may be large or hostile)."""
    return [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in errors]


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, exc.title)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, 400, "invalid request parameters", errors=_plain(list(exc.errors())))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s", request.url.path)
        return problem_response(request, 500, "internal error; see the API server log")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text, "content": {PROBLEM_JSON: {}}}
    for code, text in ((400, "Invalid parameters"), (401, "Not authenticated"),
                       (403, "Authenticated user lacks read access to the graph connection"),
                       (404, "Not found"), (503, "Graph database unavailable"))
}
