"""/v1/jobs: submit (validated against the dataset, routed to a queue), read, list, cancel, delete.

Plain ``def`` routes: each Redis call blocks a pool thread, never the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from core.blobs import BlobCorrupt, BlobNotFound
from core.blobs import keys as blob_keys
from core.broker import enqueue
from core.cudnn import cudnn_eligibility
from core.data import resolve_from_profile, resolve_spec
from core.idempotency import fingerprint
from core.ids import new_id, now
from core.job_config import JobConfig
from core.job_record import JobRecord, JobStatus
from core.lifecycle import NOT_SENT, SubmitRefused
from core.trained_models import delete_model_files
from core.webhooks.targets import AllowList, TargetRefused, check
from service import quotas
from service.data_findings import submit_findings
from service.deps import ContainerDep, Jobs, Tenant
from service.edge import ID_PATTERNS
from service.limits import cost_errors, limit_errors, raise_if_any
from service.lookups import job_or_404
from service.presenters import job_resource, waiting_reasons
from service.problems import Problem, problem_responses
from service.schemas import Job, Page

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
_ERRORS = problem_responses(401, 404, 409, 422, 429, 507)
RETRY_AFTER_S = "2"


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="Makes retries safe: same key + body → same job"),
]


# A plain def (run in the thread pool), like every route here that talks to Redis or reads a
# dataset: only routes that stream (uploads, events) are async, and they hand blocking calls off.
@router.post("", status_code=202, response_model=Job, responses=_ERRORS)
def submit_job(
    config: JobConfig,
    response: Response,
    tenant: Tenant,
    container: ContainerDep,
    idempotency_key: IdempotencyKey = None,
) -> dict:
    if idempotency_key is None:
        record = _accept(config, tenant, container)
    else:
        record = _accept_once(config, tenant, container, idempotency_key)
    response.headers["Location"] = f"/v1/jobs/{record.id}"
    response.headers["Retry-After"] = RETRY_AFTER_S
    return job_resource(record, waiting_reasons(container.redis, [record]).get(record.id))


def _accept_once(config: JobConfig, tenant: str, container: ContainerDep, key: str) -> JobRecord:
    store = container.idempotency
    body = fingerprint(config.model_dump(mode="json"))
    claim = store.claim(tenant, key, body)
    if not claim.owner:
        if not claim.same_body:
            raise Problem(
                422,
                "This Idempotency-Key was used with a different request body; use a new key for a different job.",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with a different body"}],
            )
        if claim.job_id is None:
            raise Problem(
                409,
                "A request with this Idempotency-Key is still being accepted; retry shortly.",
                headers={"Retry-After": "1"},
            )
        existing = container.jobs.get(tenant, claim.job_id)
        if existing is not None:
            return existing
        store.release(tenant, key)  # the job was deleted since: the key no longer stands for anything
        return _accept_once(config, tenant, container, key)
    try:
        record = _accept(config, tenant, container)
    except BaseException:
        store.release(tenant, key)
        raise
    store.bind(tenant, key, body, record.id)
    return record


def _accept(config: JobConfig, tenant: str, container: ContainerDep) -> JobRecord:
    """Validates the config against the limits and the dataset, records the job and enqueues it.

    The record goes in first, with an outbox entry (``core.lifecycle``): if the send fails, or the
    process dies right after recording, the outbox sweep sends the job later. Never an orphan."""
    settings, datasets = container.settings, container.datasets
    raise_if_any(limit_errors(config, settings))
    if config.webhook is not None:
        try:
            check(config.webhook.url, AllowList.parse(settings.webhook_allow_hosts))
        except TargetRefused as exc:
            raise Problem(
                422,
                f"webhook.url cannot be used: {exc}.",
                title="Validation failed",
                errors=[{"loc": ["body", "webhook", "url"], "msg": str(exc)}],
            ) from None
    # Only an id shaped like ours is ever spelt into a Redis key.
    meta = datasets.get(tenant, config.dataset_id) if ID_PATTERNS["datasets"][1].fullmatch(config.dataset_id) else None
    if meta is None:
        raise _no_dataset(config.dataset_id)
    missing = Problem(
        422,
        f"The bytes of dataset {meta['id']} are missing or damaged in the blob store; upload "
        "the file again (the same bytes restore this dataset).",
        title="Validation failed",
        errors=[{"loc": ["body", "dataset_id"], "msg": "dataset bytes missing"}],
    )
    key = blob_keys.dataset(tenant, meta["id"])
    # Checked against the profile stored at upload: no file is read (or fetched from the blob
    # store) at submit time, except in the rare cases the profile cannot decide.
    profile = datasets.profile(tenant, meta["id"])
    spec = resolve_from_profile(profile, config.data, config.task) if profile else None
    if spec is None:
        try:
            path = container.blob_cache.file(key, meta["sha256"])
        except (BlobNotFound, BlobCorrupt):
            raise missing from None
        spec = resolve_spec(path, meta["format"], config.data, config.task)
    elif not container.blobs.exists(key):
        raise missing
    cost, errors = cost_errors(config, spec, settings)
    raise_if_any(errors)
    expires_ts, expires_at = container.retention.expires_at()
    created = now()
    record = JobRecord(
        id=new_id("job"),
        status=JobStatus.QUEUED,
        dataset_id=meta["id"],
        config=config.model_dump(mode="json"),
        created_at=created,
        queued_at=created,
        expires_at=expires_at,
        data_spec=spec,
        estimate=cost.as_dict(),
        cudnn=cudnn_eligibility(config),
        # What the upload sketch decides now; the worker fills in the rest before the first epoch.
        data_findings=submit_findings(profile, config, meta["format"], spec=spec),
    )
    try:
        # The quotas are checked in the same step as the write: racing submits never overshoot.
        container.lifecycle.submit(
            tenant, record, max_active=settings.max_queued_jobs, max_stored=settings.max_jobs, expires_ts=expires_ts
        )
    except SubmitRefused as exc:
        if exc.why == "stored":
            raise quotas.jobs_full(exc.count, settings) from None
        if exc.why == "quota":
            raise Problem(
                429,
                f"You already have {settings.max_queued_jobs} queued or running jobs "
                "(LSTM_DOCTOR_MAX_QUEUED_JOBS); wait for one to finish.",
                headers={"Retry-After": "30"},
            ) from None
        raise _no_dataset(config.dataset_id) from None
    try:
        enqueue(container.celery, container.redis, tenant, record.id, config.device)
    except Exception:  # noqa: BLE001 - kombu raises several kinds; the outbox resends whatever it was
        container.lifecycle.not_sent(tenant, record)
        record.reason = NOT_SENT
    return record


def _no_dataset(dataset_id: str) -> Problem:
    return Problem(
        422,
        f"There is no dataset {dataset_id!r}; upload one with POST /v1/datasets.",
        title="Validation failed",
        errors=[{"loc": ["body", "dataset_id"], "msg": "unknown dataset"}],
    )


@router.get("", response_model=Page[Job], responses=problem_responses(401))
def list_jobs(
    tenant: Tenant,
    jobs: Jobs,
    container: ContainerDep,
    status: JobStatus | None = None,
    dataset_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict:
    items, next_cursor = jobs.list(tenant, limit=limit, cursor=cursor, status=status, dataset_id=dataset_id)
    reasons = waiting_reasons(container.redis, items)
    return {"items": [job_resource(item, reasons.get(item.id)) for item in items], "next_cursor": next_cursor}


@router.get("/{job_id}", response_model=Job, responses=_ERRORS)
def get_job(job_id: str, tenant: Tenant, jobs: Jobs, container: ContainerDep) -> dict:
    record = job_or_404(jobs, tenant, job_id)
    return job_resource(record, waiting_reasons(container.redis, [record]).get(record.id))


@router.post("/{job_id}/cancel", status_code=202, response_model=Job, responses=_ERRORS)
def cancel_job(job_id: str, response: Response, tenant: Tenant, jobs: Jobs, container: ContainerDep) -> dict:
    # A queued job is cancelled outright (it never starts); a running one is asked to stop and its
    # trainer records `cancelled` at the next batch boundary, keeping the history so far.
    record = job_or_404(jobs, tenant, job_id)
    if record.status.finished or not container.lifecycle.cancel(tenant, record):
        record = job_or_404(jobs, tenant, job_id)
        raise Problem(409, f"Job {job_id} already finished ({record.status}); there is nothing to cancel.")
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return job_resource(job_or_404(jobs, tenant, job_id))


@router.delete("/{job_id}", status_code=204, responses=_ERRORS)
def delete_job(job_id: str, tenant: Tenant, jobs: Jobs, container: ContainerDep) -> Response:
    record = job_or_404(jobs, tenant, job_id)
    if record.status.active:
        container.lifecycle.cancel(tenant, record)  # the flag tells a trainer still at it to stop
    container.lifecycle.delete(tenant, record)
    delete_model_files(container.blobs, container.redis, tenant, job_id)
    return Response(status_code=204)
