"""/v1/jobs/{id}/predictions: run a job's trained model on new rows, on a worker.

The API checks the rows against the model's preprocessing (a 422 names the column and row), then
hands them to a worker; it never loads the model itself (no TensorFlow here). `Prefer: wait=N`
(RFC 7240) holds the request up to N seconds for the answer; otherwise, or when the worker is not
done in time, the answer is `202` with the prediction's URL to poll.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from core.broker import enqueue_prediction
from core.ids import new_id, now
from core.predictions import PredictionStore
from service import prediction_inputs
from service.deps import ContainerDep, Jobs, Models, Tenant
from service.lookups import job_or_404
from service.problems import Problem, ProblemDetails
from service.routes.job_models import saved_model

router = APIRouter(prefix="/v1/jobs/{job_id}/predictions", tags=["results"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ProblemDetails} for code in (401, 404, 409, 413, 415, 422)}
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)
_POLL_S = 0.05


class PredictionError(BaseModel):
    type: str
    message: str


class PredictionLinks(BaseModel):
    self: str
    job: str


class Prediction(BaseModel):
    id: str
    job_id: str
    run: int
    status: Literal["queued", "succeeded", "failed"]
    input: Literal["table", "arrays"]
    count: int = Field(description="Predictions this request gives: one per complete window (tables) or sample.")
    created_at: str
    finished_at: str | None = None
    predictions: list[dict[str, Any]] | None = Field(
        None,
        description="In input order. Classification: `label` and `probabilities`; regression: `value` "
        "(or `values`). Tables add `rows`: the window's first and last row (1-based).",
    )
    error: PredictionError | None = None
    links: PredictionLinks


_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["rows"],
                            "properties": {"rows": {"type": "array", "items": {"type": "object"}}},
                        },
                        {"type": "object", "required": ["X"], "properties": {"X": {"type": "array"}}},
                    ]
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


def _resource(record: dict) -> dict:
    base = f"/v1/jobs/{record['job_id']}"
    return {**record, "links": {"self": f"{base}/predictions/{record['id']}", "job": base}}


def _store(container: ContainerDep) -> PredictionStore:
    return PredictionStore(container.redis)


@router.post(
    "",
    response_model=Prediction,
    status_code=202,
    openapi_extra=_BODY_DOC,
    responses={200: {"model": Prediction, "description": "Answered within Prefer: wait"}, **_ERRORS},
)
async def create_prediction(
    job_id: str,
    request: Request,
    response: Response,
    tenant: Tenant,
    jobs: Jobs,
    models: Models,
    container: ContainerDep,
    run: Annotated[int, Query(ge=1, description="Which run's model (1-based)")] = 1,
    prefer: Annotated[str | None, Header(description="`wait=N`: answer inline within N s")] = None,
) -> dict:
    # Every Redis call and broker send from a pool thread: a slow Redis must not stall the event loop.
    _, model = await run_in_threadpool(saved_model, jobs, models, tenant, job_id, run)
    body = await request.body()
    settings = container.settings
    parsed = await run_in_threadpool(
        prediction_inputs.parse,
        body,
        request.headers.get("content-type", ""),
        model["preprocessing"],
        settings.max_prediction_rows,
    )
    record: dict[str, Any] = {
        "id": new_id("pred"),
        "job_id": job_id,
        "run": run,
        "status": "queued",
        "input": parsed.kind,
        "count": parsed.samples,
        "created_at": now(),
        "finished_at": None,
        "predictions": None,
        "error": None,
    }
    store = _store(container)
    await run_in_threadpool(store.create, tenant, record, parsed.values, settings.prediction_ttl_s)
    await run_in_threadpool(enqueue_prediction, container.celery, tenant, record["id"])
    location = f"/v1/jobs/{job_id}/predictions/{record['id']}"
    response.headers["Location"] = location

    wait = _wait_seconds(prefer, settings.prediction_wait_max_s)
    if wait:
        response.headers["Preference-Applied"] = f"wait={wait}"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            latest = await run_in_threadpool(store.get, tenant, record["id"])
            if latest is not None and latest["status"] != "queued":
                response.status_code = 200
                return _resource(latest)
            await asyncio.sleep(_POLL_S)
    response.headers["Retry-After"] = "1"
    return _resource(record)


def _wait_seconds(prefer: str | None, most: int) -> int:
    match = _WAIT.search(prefer or "")
    return min(int(match.group(1)), most) if match else 0


@router.get("/{prediction_id}", response_model=Prediction, responses=_ERRORS)
def get_prediction(job_id: str, prediction_id: str, tenant: Tenant, jobs: Jobs, container: ContainerDep) -> dict:
    job_or_404(jobs, tenant, job_id)
    record = _store(container).get(tenant, prediction_id)
    if record is None or record["job_id"] != job_id:
        raise Problem(
            404,
            f"There is no prediction {prediction_id!r} of job {job_id} (predictions are kept "
            f"{container.settings.prediction_ttl_s} s).",
        )
    return _resource(record)
