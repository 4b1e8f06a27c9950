"""Per-tenant quotas and the storage guards, as problem details naming the limit.

- Counts (datasets, stored jobs, stored diagnoses) past their cap: 429 with Retry-After — room
  comes back when the client deletes something or retention removes it.
- Dataset bytes past the tenant's cap: 413.
- The disk the blobs live on about to fill, or Redis at its maxmemory (noeviction): 507
  Insufficient Storage, before anything is written — never a half-stored record.

Every cap is checked in the same Redis step that writes the record (datasets and diagnoses: a
WATCH/MULTI transaction in their store, raising ``core.quota.Full``; jobs: inside the submit script
of ``core.lifecycle``), so racing writes never overshoot. Uploads are also refused early, before
their body is received, when the tenant is already at a cap.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core import keys, quota
from core.settings import Settings
from service.problems import Problem, problem_response

MIB = 1024 * 1024
RETRY_AFTER_S = "3600"  # a count frees up when something is deleted or expires: not in seconds


def _full(what: str, count: int, limit: int, setting: str, settings: Settings) -> Problem:
    return Problem(
        429,
        f"You already store {count} {what}, this server's limit per tenant "
        f"({setting}={limit}). Delete some, or wait: each is removed "
        f"{settings.retention_days:g} days after it was created.",
        headers={"Retry-After": RETRY_AFTER_S},
    )


def check_datasets(client: redis.Redis, settings: Settings, tenant: str, incoming_bytes: int) -> None:
    """An early refusal, before the body is received or parsed; the store checks again in the
    step that writes the record (``DatasetStore.create``), which is what makes the caps exact."""
    count = client.zcard(keys.dataset_index(tenant))
    if count >= settings.max_datasets:
        raise full(quota.Full("datasets", count), settings)
    stored = int(client.hget(keys.usage(tenant), "dataset_bytes") or 0)
    if stored + incoming_bytes > settings.max_dataset_storage_mb * MIB:
        raise full(quota.Full("dataset_bytes", stored), settings, incoming_bytes)


def full(exc: quota.Full, settings: Settings, incoming_bytes: int = 0) -> Problem:
    """The problem details for a cap a store refused to pass (``core.quota.Full``)."""
    if exc.what == "dataset_bytes":
        return Problem(
            413,
            f"Storing this {incoming_bytes / MIB:,.1f} MiB dataset would bring your datasets to "
            f"{(exc.count + incoming_bytes) / MIB:,.1f} MiB, past this server's limit of "
            f"{settings.max_dataset_storage_mb:,} MiB per tenant "
            "(LSTM_DOCTOR_MAX_DATASET_STORAGE_MB). Delete datasets you no longer need.",
        )
    if exc.what == "datasets":
        return _full("datasets", exc.count, settings.max_datasets, "LSTM_DOCTOR_MAX_DATASETS", settings)
    return _full("diagnoses", exc.count, settings.max_diagnoses, "LSTM_DOCTOR_MAX_DIAGNOSES", settings)


def jobs_full(count: int, settings: Settings) -> Problem:
    """The tenant stores its most jobs; checked by ``Lifecycle.submit`` in the step that writes
    the job, so racing submits never overshoot this cap."""
    return _full("jobs", count, settings.max_jobs, "LSTM_DOCTOR_MAX_JOBS", settings)


def check_disk(directory: Path, incoming_bytes: int, settings: Settings) -> None:
    """507 unless ``incoming_bytes`` still leave ``min_free_disk_mb`` free where blobs are kept
    (on a shared disk, a full one would stop Redis' append-only file too)."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    reserve = settings.min_free_disk_mb * MIB
    if free - incoming_bytes < reserve:
        raise Problem(
            507,
            f"The server is short of disk space ({free / MIB:,.0f} MiB free, "
            f"{settings.min_free_disk_mb:,} MiB are kept in reserve: LSTM_DOCTOR_MIN_FREE_DISK_MB); "
            "nothing was stored. Try again later.",
            headers={"Retry-After": "600"},
        )


def install(app: FastAPI) -> None:
    @app.exception_handler(redis.exceptions.OutOfMemoryError)
    async def _redis_full(_: Request, exc: redis.exceptions.OutOfMemoryError) -> JSONResponse:
        # maxmemory with noeviction refuses writes instead of dropping records: say so, plainly.
        return problem_response(
            Problem(
                507,
                "The server's record store is full (Redis maxmemory); nothing was "
                "stored. Delete datasets, jobs or diagnoses you no longer need, or "
                "try again later.",
                headers={"Retry-After": "600"},
            )
        )
