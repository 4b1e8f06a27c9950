"""/v1/jobs/{id}/model: the trained model of a run, as a zip with its preprocessing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from core.blobs import BlobNotFound
from core.job_record import JobRecord, JobStatus
from service import model_bundle
from service.deps import Blobs, Jobs, Models, Tenant
from service.etags import matches
from service.lookups import job_or_404
from service.problems import Problem, ProblemDetails

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["results"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ProblemDetails} for code in (401, 404, 409)}
ZIP_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}}, "description": "A zip of `model.keras` and `preprocessing.json`"},
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
}


def saved_model(jobs: Jobs, models: Models, tenant: str, job_id: str, run: int) -> tuple[JobRecord, dict]:
    """(job record, model record) of a finished job's run; the problem a client can act on otherwise."""
    record = job_or_404(jobs, tenant, job_id)
    runs = record.runs
    if record.status.active:
        raise Problem(
            409,
            f"Job {job_id} is {record.status}; its model is saved when the job ends. "
            "Wait for it (GET /v1/jobs/{id}/events) and try again.",
            headers={"Retry-After": "5"},
        )
    if run > runs:
        raise Problem(404, f"Job {job_id} has {runs} run(s); ask for run=1..{runs}.")
    model = models.get(tenant, job_id, run)
    if model is None:
        why = {
            JobStatus.FAILED: "the job failed before this run finished",
            JobStatus.CANCELLED: "the job was cancelled before this run finished",
        }.get(record.status, "no model was recorded")
        raise Problem(404, f"There is no saved model for run {run} of job {job_id}: {why}.")
    return record, model


@router.get("/model", response_class=Response, responses={**ZIP_RESPONSE, **_ERRORS})
async def get_model(
    job_id: str,
    request: Request,
    tenant: Tenant,
    jobs: Jobs,
    models: Models,
    blobs: Blobs,
    run: Annotated[int, Query(ge=1, description="Which run's model (1-based)")] = 1,
) -> Response:
    _, model = await run_in_threadpool(saved_model, jobs, models, tenant, job_id, run)
    etag = model_bundle.etag(model)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    try:
        body = await run_in_threadpool(model_bundle.build_zip, blobs, model)
    except BlobNotFound:
        raise Problem(404, f"The model of run {run} of job {job_id} is no longer stored.") from None
    headers["Content-Disposition"] = f'attachment; filename="{job_id}-run{run}.zip"'
    return Response(body, media_type="application/zip", headers=headers)
