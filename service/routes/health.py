"""Operational endpoints: liveness, readiness (short timeout, cached) and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.metrics import Metrics
from service.problems import Problem, problem_responses
from service.readiness import Readiness

router = APIRouter(tags=["operations"])


class Alive(BaseModel):
    status: Literal["ok"]


class WorkerSeen(BaseModel):
    hostname: str
    queues: list[str]


class Ready(BaseModel):
    status: Literal["ready"]
    redis: Literal["ok"]
    workers: list[WorkerSeen]


@router.get("/healthz", response_model=Alive)
async def healthz() -> dict:
    # On the event loop, not in the thread pool: it answers even when every pool thread is
    # waiting on a slow Redis.
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses=problem_responses(503))
def readyz(request: Request) -> dict:
    readiness: Readiness = request.app.state.readiness
    report = readiness.report()
    if not report.ready:
        raise Problem(503, "Not ready: " + "; ".join(report.missing) + ".")
    return {"status": "ready", "redis": "ok", "workers": report.workers}


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **problem_responses(401),
    },
)
async def metrics(request: Request) -> Response:
    token = request.app.state.container.settings.metrics_token
    if token:
        # Optional: a scraper outside the private network proves itself like an API client does.
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Problem(
                401,
                "GET /metrics needs 'Authorization: Bearer <token>' (LSTM_DOCTOR_METRICS_TOKEN).",
                headers={"WWW-Authenticate": "Bearer"},
            )
    registry: Metrics = request.app.state.metrics
    # The collector reads Redis; off the event loop so a slow Redis does not stall other requests.
    body = await run_in_threadpool(registry.render)
    return Response(body, media_type=registry.content_type)
