"""RFC 9457 problem details for every error the API can produce.

Handlers are registered for our own ``Problem``, FastAPI/Starlette HTTP errors, request
validation errors, dataset errors and — last line — any unexpected exception, which is logged
with a trace id and answered without internals.
"""
from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.data import DatasetError
from core.logging import get_logger

log = get_logger("service.problems")
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str


class ProblemDetails(BaseModel):
    """The body of every 4xx/5xx answer."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        type_: str = "about:blank",
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors or []
        self.headers = headers or {}
        self.type = type_


def problem_response(problem: Problem) -> JSONResponse:
    body = {"type": problem.type, "title": problem.title, "status": problem.status, "detail": problem.detail,
            "errors": problem.errors}
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def _loc(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    cleaned = [{"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", "invalid"))} for e in errors]
    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in cleaned[:5])
    more = f" (and {len(cleaned) - 5} more)" if len(cleaned) > 5 else ""
    return Problem(422, f"The request is not valid — {where}{more}.", title="Validation failed", errors=cleaned)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(DatasetError)
    async def _dataset(_: Request, exc: DatasetError) -> JSONResponse:
        return problem_response(Problem(exc.status, exc.detail, title=exc.title, errors=exc.errors))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no resource at {request.url.path}."
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem_response(Problem(exc.status_code, detail, headers=dict(exc.headers or {})))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        trace_id = uuid.uuid4().hex
        log.error("unhandled_error", trace_id=trace_id, path=request.url.path, exc_info=exc)
        return problem_response(Problem(500, f"Something went wrong on our side; quote trace id {trace_id}."))
