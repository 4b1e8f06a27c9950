"""RFC 9457 problem details for every error the API can produce.

Handlers are registered for our own ``Problem``, FastAPI/Starlette HTTP errors, request
validation errors, dataset errors and — last line — any unexpected exception, which is logged
with a trace id and answered without internals. How the OpenAPI document describes these
answers is service/openapi.py's business.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.blobs import BlobStoreUnavailable
from core.data import DatasetError
from core.logging import get_logger

log = get_logger("service.problems")
MEDIA_TYPE = "application/problem+json"
# How long a client is asked to wait when Redis is away: about one reconnect attempt of a worker.
REDIS_RETRY_AFTER_S = "5"


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


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A route's documented error answers (``responses=``); service/openapi.py adds the media type."""
    return {code: {"model": ProblemDetails} for code in codes}


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
    body = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "errors": problem.errors,
    }
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def _loc(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _msg(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        # FastAPI says only "JSON decode error"; the parser's reason and position say what to fix.
        reason = (error.get("ctx") or {}).get("error", "")
        where = error.get("loc", ("body", "?"))[-1]
        return f"the body is not valid JSON: {reason} (at character {where})".replace(":  (", " (")
    return str(error.get("msg", "invalid"))


def invalid(lead: str, errors: list[dict[str, Any]], *, skip: int = 1, shown: int = 5) -> Problem:
    """A 422 whose detail names the first ``shown`` errors (``field.path: message; …``) after
    ``lead``, and whose ``errors`` list them all. ``skip`` leaves out the first parts of each
    location (``body``) where the lead already says where they are."""
    where = "; ".join(f"{'.'.join(map(str, e['loc'][skip:]))}: {e['msg']}" for e in errors[:shown])
    more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
    return Problem(422, f"{lead}{where}{more}.", title="Validation failed", errors=errors)


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    cleaned = [{"loc": _loc(e.get("loc", ())), "msg": _msg(e)} for e in errors]
    return invalid("The request is not valid — ", cleaned, skip=0)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path, found by asking the routes to match it.

    A fresh scope per method: the request's own carries the matched route's context, which
    FastAPI's routes consult in place of the path.
    """
    allowed = []
    for method in _METHODS:
        probe = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
        }
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(BlobStoreUnavailable)
    async def _blob_store(_: Request, exc: BlobStoreUnavailable) -> JSONResponse:
        log.warning("blob_store_unavailable", error=str(exc))
        return problem_response(
            Problem(
                503,
                "The blob store is not answering; nothing was changed. Retry shortly.",
                headers={"Retry-After": "5"},
            )
        )

    @app.exception_handler(DatasetError)
    async def _dataset(_: Request, exc: DatasetError) -> JSONResponse:
        return problem_response(Problem(exc.status, exc.detail, title=exc.title, errors=exc.errors))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("loc") == ("body",) and isinstance(e.get("input"), bytes) for e in errors):
            # FastAPI hands a body it did not parse as JSON (wrong or missing Content-Type) to
            # validation as raw bytes; "not a dictionary" would not tell the client what to change.
            got = request.headers.get("content-type") or "none"
            return problem_response(
                Problem(
                    415, f"Send the body as JSON with 'Content-Type: application/json' (the request said {got[:80]!r})."
                )
            )
        return problem_response(validation_problem(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no resource at {request.url.path}."
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's answer to a JSON body that is not UTF-8 is a bare "error parsing the body".
            return problem_response(
                validation_problem(
                    [
                        {
                            "loc": ("body",),
                            "msg": f"the body is not valid JSON: it is not UTF-8 text "
                            f"(byte {exc.__cause__.start} cannot be decoded)",
                        }
                    ]
                )
            )
        if exc.status_code == 405:
            # Starlette's Allow names only the first route on the path (POST of GET+POST /v1/jobs).
            allowed = _allowed_methods(request)
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"Allow": allowed}
            detail = f"{request.method[:16]} is not allowed on {request.url.path}; allowed: {allowed}."
        return problem_response(Problem(exc.status_code, detail, headers=headers))

    @app.exception_handler(redis.RedisError)
    async def _store_unavailable(request: Request, exc: redis.RedisError) -> JSONResponse:
        # Redis down, frozen or refusing writes: the API's client gives up within about a second
        # (core.redis_client.api_client), and the answer says to come back rather than that we broke.
        log.warning("redis_unavailable", method=request.method, path=request.url.path, error=type(exc).__name__)
        return problem_response(
            Problem(
                503,
                "The job store (Redis) did not answer in time; retry in a few seconds. A submit that got this "
                "answer may still have been recorded: retry it with the same Idempotency-Key.",
                headers={"Retry-After": REDIS_RETRY_AFTER_S},
            )
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Runs outside the request middleware (Starlette's outermost layer), so the request id is
        # taken from the request state rather than the logging context, and echoed by hand.
        trace_id = uuid.uuid4().hex
        request_id = getattr(request.state, "request_id", None)
        job_id = request.path_params.get("job_id")
        log.error(
            "unhandled_error",
            trace_id=trace_id,
            request_id=request_id,
            method=request.method,
            path=request.url.path,
            **({"job_id": job_id} if job_id else {}),
            exc_info=exc,
        )
        problem = Problem(
            500,
            f"Something went wrong on our side; quote trace id {trace_id}.",
            headers={"X-Request-ID": request_id} if request_id else None,
        )
        return problem_response(problem)
