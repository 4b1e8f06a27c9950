"""/v1/datasets: upload (validated, deduplicated), list, get, delete."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated

import redis
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from core import quota
from core.blobs import BlobCache, BlobStoreUnavailable
from core.blobs import keys as blob_keys
from core.data import inspect_dataset
from core.datasets import DatasetInUse, DatasetStore, DuplicateBytes
from core.ids import new_id, now
from core.settings import Settings
from service import quotas
from service.container import Container
from service.deps import BlobFiles, Blobs, ContainerDep, Datasets, SettingsDep, Tenant
from service.lookups import dataset_or_404, not_found
from service.problems import Problem, problem_responses
from service.schemas import Dataset, Page
from service.upload import Upload, receive_upload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "CSV, NPZ or Parquet"},
                        "name": {"type": "string", "description": "Display name (defaults to the file name)"},
                    },
                }
            }
        },
    }
}
_ERRORS = problem_responses(400, 401, 409, 413, 415, 422, 429, 507)


@router.post(
    "",
    status_code=201,
    response_model=Dataset,
    openapi_extra=_UPLOAD_BODY,
    responses={200: {"model": Dataset, "description": "These bytes were uploaded before"}, **_ERRORS},
)
async def upload_dataset(
    request: Request,
    response: Response,
    tenant: Tenant,
    datasets: Datasets,
    files: BlobFiles,
    settings: SettingsDep,
    container: ContainerDep,
) -> dict:
    # Quotas and disk are checked against the announced size before a byte is received.
    declared = request.headers.get("content-length", "")
    announced = min(int(declared), settings.max_upload_bytes) if declared.isdigit() else settings.max_upload_bytes
    await run_in_threadpool(_admit, container, settings, tenant, announced)
    upload = await receive_upload(request, files, settings.max_upload_bytes)
    try:
        # Everything after the body blocks (Redis, the blob store, parsing): in the thread pool.
        return await run_in_threadpool(_keep, upload, response, tenant, datasets, files, settings, container)
    finally:
        Path(upload.path).unlink(missing_ok=True)  # no-op once kept (renamed away)


def _admit(container: Container, settings: Settings, tenant: str, announced: int) -> None:
    quotas.check_datasets(container.redis, settings, tenant, 0)
    quotas.check_disk(settings.blob_dir, announced, settings)


def _keep(
    upload: Upload,
    response: Response,
    tenant: str,
    datasets: DatasetStore,
    files: BlobCache,
    settings: Settings,
    container: Container,
) -> dict:
    """Stores a received upload as a dataset, or answers with the dataset these bytes already are."""
    # Known bytes are answered before validating them again (they passed once already).
    if known := datasets.by_sha(tenant, upload.sha256):
        key = blob_keys.dataset(tenant, known["id"])
        if not files.store.exists(key):
            # The record outlived its bytes (a store restored from an older backup): these
            # are the same bytes, so they make the dataset whole again.
            files.put(key, upload.path, upload.sha256)
        return _already_uploaded(response, known)
    quotas.check_datasets(container.redis, settings, tenant, upload.size)
    info = inspect_dataset(
        upload.path,
        upload.filename,
        max_bytes=settings.max_upload_bytes,
        max_columns=settings.max_columns,
        profile=True,
    )
    dataset_id = new_id("ds")
    profile = info.pop("profile", None)
    expires_ts, expires_at = container.retention.expires_at()
    meta = {
        "id": dataset_id,
        "name": upload.name or upload.filename,
        "size_bytes": upload.size,
        "sha256": upload.sha256,
        "created_at": now(),
        "expires_at": expires_at,
        **info,
    }
    # Registered first: if this process dies before the record is written, the housekeeping
    # sweep finds the bytes and removes them (core.orphans).
    datasets.begin_storing(tenant, dataset_id, time.time())
    try:
        # To the blob store (a multipart upload streamed from disk, for S3) before the record:
        # a dataset that exists in Redis always has its bytes.
        files.put(blob_keys.dataset(tenant, dataset_id), upload.path, upload.sha256)
        max_bytes = settings.max_dataset_storage_mb * quotas.MIB
        # The record, its quota check and its expiry: one transaction.
        datasets.create(
            tenant, meta, profile, max_count=settings.max_datasets, max_bytes=max_bytes, expires_ts=expires_ts
        )
    except BaseException as exc:
        # Bytes that cannot be deleted now (the store or Redis may be what failed) stay
        # registered: the orphan sweep removes them later.
        with contextlib.suppress(BlobStoreUnavailable, redis.RedisError):
            files.store.delete(blob_keys.dataset(tenant, dataset_id))
            datasets.end_storing(tenant, dataset_id)
        if isinstance(exc, DuplicateBytes):  # a racing upload of the same bytes was stored first
            if known := datasets.get(tenant, exc.dataset_id):
                return _already_uploaded(response, known)
            raise Problem(
                409,
                "The same bytes were stored by another upload and deleted again meanwhile: upload again.",
                headers={"Retry-After": "1"},
            ) from None
        if isinstance(exc, quota.Full):  # another upload took the last room meanwhile
            raise quotas.full(exc, settings, upload.size) from None
        raise
    response.headers["Location"] = f"/v1/datasets/{dataset_id}"
    return meta


def _already_uploaded(response: Response, meta: dict) -> dict:
    response.status_code = 200
    response.headers["Location"] = f"/v1/datasets/{meta['id']}"
    return meta


@router.get("", response_model=Page[Dataset], responses=problem_responses(401))
def list_datasets(
    tenant: Tenant, datasets: Datasets, limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None
) -> dict:
    items, next_cursor = datasets.list(tenant, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{dataset_id}", response_model=Dataset, responses=problem_responses(404))
def get_dataset(dataset_id: str, tenant: Tenant, datasets: Datasets) -> dict:
    return dataset_or_404(datasets, tenant, dataset_id)


@router.delete("/{dataset_id}", status_code=204, responses=problem_responses(404, 409))
def delete_dataset(dataset_id: str, tenant: Tenant, datasets: Datasets, blobs: Blobs) -> Response:
    try:
        meta = datasets.delete(tenant, dataset_id)
    except DatasetInUse as exc:
        raise Problem(
            409,
            f"Dataset {dataset_id} is used by queued or running job(s) {', '.join(exc.job_ids)}; "
            "cancel them or wait for them to finish.",
        ) from None
    if meta is None:
        raise not_found("dataset", dataset_id)
    blobs.delete(blob_keys.dataset(tenant, dataset_id))
    return Response(status_code=204)
