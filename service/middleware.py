"""Pure ASGI middleware around every request: request ids and metrics, a bound on JSON bodies,
and conditional GETs (ETag / If-None-Match → 304) for JSON resources.

Pure ASGI rather than ``BaseHTTPMiddleware`` so streamed responses (Server-Sent Events, uploads)
flow through untouched: only a complete GET JSON body is ever held back, to hash it.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logging import get_logger
from service.etags import etag_of, matches
from service.metrics import UNMATCHED_ROUTE, Metrics
from service.problems import Problem, problem_response
from service.upload import max_body_bytes, too_large

log = get_logger("service.access")
REQUEST_ID_HEADER = "x-request-id"
# A client's id is echoed into headers and logs, so only short, plain tokens are taken as they are.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# JSON bodies (job configs, histories to diagnose) are read whole into memory by FastAPI, so they
# are bounded well below uploads, which are streamed to disk.
MAX_JSON_BODY_BYTES = 8 * 1024 * 1024


def request_id_from(headers: Headers) -> str:
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/jobs/{job_id}``): ids never become label values."""
    route = scope.get("route")
    if path := getattr(route, "path", None):
        return path
    # FastAPI records only the endpoint for plain routes (/openapi.json, /docs); they have no
    # parameters, so their path is their template.
    if scope.get("endpoint") is not None and not scope.get("path_params"):
        return scope["path"]
    return UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Request id (echoed, bound into every log line), access log and request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        # The 500 handler runs outside this middleware; it finds the id here.
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        seen: dict[str, float | int] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Time to headers, not to the last byte: an event stream may stay open for hours.
                seen.update(status=message["status"], seconds=time.perf_counter() - started)
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                seen.setdefault("status", 500)
                seen.setdefault("seconds", time.perf_counter() - started)
                raise
            finally:
                self._record(scope, int(seen.get("status", 500)), float(seen.get("seconds", 0.0)))

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        self.metrics.observe(scope["method"], route, status, seconds)
        job_id = scope.get("path_params", {}).get("job_id")
        # Quiet by default: a successful read (clients poll) at DEBUG; writes and errors at INFO.
        read = scope["method"] in ("GET", "HEAD") and status < 400
        (log.debug if read else log.info)(
            "request",
            method=scope["method"],
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 1),
            **({"job_id": job_id} if job_id else {}),
        )


class BodyLimitMiddleware:
    """413 for a request body past its bound, whether declared (Content-Length) or streamed.

    Multipart bodies (dataset uploads) may be as large as the upload limit plus room for the form
    around the file (``upload.max_body_bytes``); upload.py enforces the exact file limit itself. Every other body is JSON,
    which FastAPI reads whole into memory, so it gets the much smaller ``json_max_bytes``.
    """

    def __init__(self, app: ASGIApp, max_upload_bytes: int, json_max_bytes: int = MAX_JSON_BODY_BYTES) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.json_max_bytes = json_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan scopes have no headers
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").startswith("multipart/form-data")
        if multipart:
            limit = max_body_bytes(self.max_upload_bytes)
            problem = too_large(self.max_upload_bytes)
        else:
            limit = self.json_max_bytes
            problem = Problem(
                413,
                f"The request body is larger than {limit // (1024 * 1024)} MiB; send a smaller body "
                "(datasets go to POST /v1/datasets as multipart/form-data).",
            )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await problem_response(problem)(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the body read; FastAPI and upload.py let HTTPExceptions through
                # to the problem handlers.
                raise HTTPException(413, problem.detail)
            return message

        await self.app(scope, bounded_receive, send)


class ConditionalGetMiddleware:
    """ETag on successful GET JSON responses, and 304 when If-None-Match already has it.

    Everything else (images with their own ETag, event streams, errors, other methods) is passed
    through message by message without buffering.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def send_tagged(message: Message) -> None:
            nonlocal start, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                taggable = (
                    message["status"] == 200
                    and "etag" not in headers
                    and "content-encoding" not in headers
                    and headers.get("content-type", "").startswith("application/json")
                )
                if not taggable:
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            assert start is not None
            body = b"".join(chunks)
            etag = etag_of(body)
            headers = MutableHeaders(scope=start)
            headers["etag"] = etag
            headers.setdefault("cache-control", "private, no-cache")  # revalidate every poll; per tenant
            if if_none_match and matches(if_none_match, etag):
                del headers["content-length"]
                del headers["content-type"]
                await send({**start, "status": 304})
                await send({"type": "http.response.body", "body": b""})
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_tagged)
