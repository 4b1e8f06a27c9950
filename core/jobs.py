"""Reading jobs: records, per-epoch histories, diagnoses, cancel flags and leases, in Redis; and
the job's event log (what ``core.lifecycle``'s transitions announce: ``core.job_events``).

A job's state, its events included, is written only by ``core.lifecycle``, the one owner of its
transitions; this store reads it.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

import redis

from core import keys
from core.job_record import JobRecord, JobStatus
from core.pagination import newest_first
from core.webhooks.deliveries import DeliveryStore


class JobStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self.deliveries = DeliveryStore(client)

    def get(self, tenant: str, job_id: str) -> JobRecord | None:
        raw = self.r.hgetall(keys.job(tenant, job_id))
        return JobRecord.from_hash(raw) if raw else None

    def list(
        self,
        tenant: str,
        *,
        limit: int,
        cursor: str | None,
        status: JobStatus | None = None,
        dataset_id: str | None = None,
    ) -> tuple[builtins.list[JobRecord], str | None]:
        def keep(job: JobRecord) -> bool:
            return (status is None or job.status == status) and (dataset_id is None or job.dataset_id == dataset_id)

        def load(ids: builtins.list[str]) -> builtins.list[JobRecord | None]:
            with self.r.pipeline() as p:
                for job_id in ids:
                    p.hgetall(keys.job(tenant, job_id))
                return [JobRecord.from_hash(raw) if raw else None for raw in p.execute()]

        return newest_first(self.r, keys.job_index(tenant), load, limit=limit, cursor=cursor, keep=keep)

    def active_count(self, tenant: str) -> int:
        return self.r.scard(keys.active_jobs(tenant))

    # Histories
    def history(self, tenant: str, job_id: str, runs: int) -> builtins.list[builtins.list[dict[str, float | None]]]:
        """Per run, the list of per-epoch metric dicts recorded so far."""
        with self.r.pipeline() as p:
            for run in range(1, runs + 1):
                p.lrange(keys.job_history(tenant, job_id, run), 0, -1)
            return [[json.loads(e) for e in epochs] for epochs in p.execute()]

    def health(self, tenant: str, job_id: str, runs: int) -> builtins.list[builtins.list[dict[str, Any]]]:
        """Per run, the health records (``worker.health``) stored so far: epoch 0 first."""
        with self.r.pipeline() as p:
            for run in range(1, runs + 1):
                p.lrange(keys.job_health(tenant, job_id, run), 0, -1)
            return [[json.loads(e) for e in records] for records in p.execute()]

    # Diagnosis
    def get_diagnosis(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        raw = self.r.get(keys.job_diagnosis(tenant, job_id))
        return json.loads(raw) if raw else None

    # Cancellation and liveness
    def cancel_requested(self, tenant: str, job_id: str) -> bool:
        return bool(self.r.exists(keys.job_cancel(tenant, job_id)))

    def heartbeat_owner(self, tenant: str, job_id: str) -> str | None:
        """The owner of a live lease, or None once it lapsed (the trainer is gone or cut off)."""
        return self.r.get(keys.job_heartbeat(tenant, job_id))

    def running(self) -> builtins.list[tuple[str, str]]:
        """(tenant, job_id) of every job marked running, across tenants."""
        pairs = (member.split("/", 1) for member in self.r.smembers(keys.running_jobs()))
        return [(tenant, job_id) for tenant, job_id in pairs]

    def in_outbox(self, tenant: str, job_id: str) -> bool:
        return self.r.zscore(keys.outbox(), f"{tenant}/{job_id}") is not None

    # Events
    def events(
        self, tenant: str, job_id: str, *, after: str | None, limit: int
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of recorded events, oldest first, after the event id ``after``; and the cursor
        of the next page (None when this page reaches the end)."""
        entries = self.r.xrange(keys.job_event_log(tenant, job_id), f"({after}" if after else "-", "+", count=limit + 1)
        items = [
            {
                "id": entry_id,
                "type": fields["type"],
                "created_at": fields["created_at"],
                "data": json.loads(fields["data"]),
            }
            for entry_id, fields in entries[:limit]
        ]
        return items, (items[-1]["id"] if len(entries) > limit else None)

    # Operations
    def counts(self) -> dict[str, int]:
        """Stored jobs per status across every tenant (for /metrics): one HGETALL of the counts
        ``core.lifecycle`` keeps in the same script as each submit, transition and delete, so a
        scrape is O(1) in jobs. Counted from the records once when the counts do not exist yet
        (an older keyspace)."""
        raw = self.r.hgetall(keys.job_counts())
        if not raw and self.r.set(keys.job_counts_rebuild(), 1, nx=True, ex=600):
            counted = self.count_by_status()
            with self.r.pipeline() as p:
                for name, count in counted.items():
                    p.hincrby(keys.job_counts(), name, count)
                p.execute()
            raw = self.r.hgetall(keys.job_counts())
        counts: dict[str, int] = dict.fromkeys(map(str, JobStatus), 0)
        counts.update({name: max(int(value), 0) for name, value in raw.items()})
        return counts

    def count_by_status(self, batch: int = 500) -> dict[str, int]:
        """Jobs per status across every tenant, counted from the records: O(jobs). Only used to
        seed the maintained counts (``counts``) of a keyspace that has none."""
        counts: dict[str, int] = dict.fromkeys(map(str, JobStatus), 0)
        for index in self.r.scan_iter(match=keys.job_index_pattern(), count=100):
            tenant = keys.tenant_of(index)
            ids = self.r.zrange(index, 0, -1)
            for start in range(0, len(ids), batch):
                with self.r.pipeline(transaction=False) as p:
                    for job_id in ids[start : start + batch]:
                        p.hget(keys.job(tenant, job_id), "status")
                    for raw in p.execute():
                        if raw:
                            status = json.loads(raw)
                            counts[status] = counts.get(status, 0) + 1
        return counts
