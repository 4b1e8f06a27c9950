"""Every stored record has a lifetime: datasets (record and bytes), jobs (record, histories,
diagnosis) and stored diagnoses are removed ``LSTM_DOCTOR_RETENTION_DAYS`` after creation.

One sorted set (``keys.expiry()``) holds "kind/tenant/id" scored by expiry time, so a sweep
costs O(records due), not a scan of the keyspace. Each store writes a record's entry in the same
transaction (or script) as the record: a process that dies in between cannot leave a record that
never expires. Sweeps are idempotent (deleting what is gone is
a no-op), so several API processes may sweep at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from core import keys
from core.blobs import BlobStore
from core.blobs import keys as blob_keys
from core.datasets import DatasetInUse, DatasetStore
from core.diagnoses import DiagnosisStore
from core.jobs import JobStore
from core.lifecycle import Lifecycle
from core.logging import get_logger
from core.trained_models import delete_model_files

log = get_logger("core.retention")
KINDS = ("dataset", "job", "diagnosis")
SWEEP_BATCH = 200


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Retention:
    def __init__(self, client: redis.Redis, retention_s: int, clock: Callable[[], float] = time.time) -> None:
        self.r = client
        self.retention_s = retention_s
        self.clock = clock

    def expires_at(self) -> tuple[float, str]:
        """(timestamp, RFC 3339) of the expiry of a record created now."""
        ts = self.clock() + self.retention_s
        return ts, iso(ts)

    def due(self, now: float, limit: int = SWEEP_BATCH) -> list[tuple[str, str, str]]:
        members = self.r.zrangebyscore(keys.expiry(), "-inf", now, start=0, num=limit)
        due = []
        for member in members:
            kind, tenant, record_id = member.split("/", 2)
            due.append((kind, tenant, record_id))
        return due

    def done(self, kind: str, tenant: str, record_id: str) -> None:
        self.r.zrem(keys.expiry(), keys.expiry_member(kind, tenant, record_id))


def sweep(
    retention: Retention,
    jobs: JobStore,
    datasets: DatasetStore,
    diagnoses: DiagnosisStore,
    blobs: BlobStore,
    now: float | None = None,
) -> int:
    """Removes every record whose time has come; returns how many were removed. A dataset still
    used by a queued or running job (or such a job itself) waits for the next sweep."""
    now = retention.clock() if now is None else now
    removed = 0
    for kind, tenant, record_id in retention.due(now):
        if kind == "job":
            record = jobs.get(tenant, record_id)
            if record is not None:
                if record.status.active:
                    continue
                # Through the lifecycle, the one writer of job keys: it releases what the job held.
                Lifecycle(jobs.r).delete(tenant, record)
                delete_model_files(blobs, jobs.r, tenant, record_id)
                removed += 1
        elif kind == "dataset":
            try:
                if datasets.delete(tenant, record_id) is not None:
                    removed += 1
            except DatasetInUse:
                continue
            blobs.delete(blob_keys.dataset(tenant, record_id))
        elif kind == "diagnosis":
            removed += diagnoses.delete(tenant, record_id)
        retention.done(kind, tenant, record_id)
    if removed:
        log.info("retention_sweep", removed=removed)
    return removed
