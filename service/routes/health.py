"""Operational endpoints: liveness and readiness."""
from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from core import workers
from service.deps import ContainerDep
from service.problems import ProblemDetails

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ProblemDetails}})
def readyz(container: ContainerDep) -> JSONResponse:
    missing: list[str] = []
    online: list[dict] = []
    try:
        container.redis.ping()
        online = workers.online(container.redis)
        if not online:
            missing.append("no worker is online (start one with `lstm-doctor worker`)")
    except redis.RedisError as exc:
        missing.append(f"Redis does not answer ({type(exc).__name__})")
    if missing:
        return JSONResponse(
            {"type": "about:blank", "title": "Service Unavailable", "status": 503,
             "detail": "Not ready: " + "; ".join(missing) + ".", "errors": []},
            status_code=503, media_type="application/problem+json",
        )
    return JSONResponse({"status": "ready", "redis": "ok",
                         "workers": [{"hostname": w["hostname"], "queues": w["queues"]} for w in online]})
