"""Dataset metadata in Redis: create (deduplicated by sha256 per tenant), get, list, delete.

Create and delete are each one transaction (WATCH/MULTI) over everything a dataset is made of:
the record, its profile, the tenant's index, its byte count, the sha256 mapping that dedupes
uploads, its retention expiry. A process that dies mid-way leaves all of it or none: no stale
sha256 claim, no bytes counted for a dataset that is gone, no dataset deleted under a job that
was submitted in the meantime (submit adds the job to the users set the delete watches).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from core import keys, quota
from core.pagination import newest_first


class DatasetInUse(Exception):
    def __init__(self, job_ids: list[str]) -> None:
        super().__init__(job_ids)
        self.job_ids = job_ids


class DuplicateBytes(Exception):
    """These bytes are already the tenant's dataset ``dataset_id`` (stored by a racing upload)."""

    def __init__(self, dataset_id: str) -> None:
        super().__init__(dataset_id)
        self.dataset_id = dataset_id


def _storing(tenant: str, dataset_id: str) -> str:
    """A dataset's entry in ``keys.datasets_storing()``."""
    return f"{tenant}/{dataset_id}"


class DatasetStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def by_sha(self, tenant: str, sha256: str) -> dict[str, Any] | None:
        dataset_id = self.r.get(keys.dataset_by_sha(tenant, sha256))
        return self.get(tenant, dataset_id) if dataset_id else None

    def create(
        self,
        tenant: str,
        meta: dict[str, Any],
        profile: dict[str, Any] | None = None,
        *,
        max_count: int | None = None,
        max_bytes: int | None = None,
        expires_ts: float | None = None,
    ) -> None:
        """Stores the dataset's record (and its expiry, at ``expires_ts``); raises ``quota.Full``
        instead when the tenant already has ``max_count`` datasets or this one would take its bytes
        past ``max_bytes``, and ``DuplicateBytes`` when its sha256 is already a stored dataset.
        Checked and written in one transaction: racing uploads never overshoot, nor store the same
        bytes twice."""
        index, usage, size = keys.dataset_index(tenant), keys.usage(tenant), int(meta["size_bytes"])
        by_sha = keys.dataset_by_sha(tenant, meta["sha256"])

        def write(p: redis.client.Pipeline) -> None:
            # A mapping to a record that is gone (written before create and delete were whole
            # transactions) is free to take.
            if (existing := p.get(by_sha)) and p.exists(keys.dataset(tenant, existing)):
                raise DuplicateBytes(existing)
            count, stored = p.zcard(index), int(p.hget(usage, "dataset_bytes") or 0)
            if max_count is not None and count >= max_count:
                raise quota.Full("datasets", count)
            if max_bytes is not None and stored + size > max_bytes:
                raise quota.Full("dataset_bytes", stored)
            p.multi()
            p.set(keys.dataset(tenant, meta["id"]), json.dumps(meta))
            if profile is not None:
                p.set(keys.dataset_profile(tenant, meta["id"]), json.dumps(profile))
            p.zadd(index, {meta["id"]: 0})
            p.hincrby(usage, "dataset_bytes", size)
            p.set(by_sha, meta["id"])
            p.zrem(keys.datasets_storing(), _storing(tenant, meta["id"]))
            if expires_ts is not None:
                p.zadd(keys.expiry(), {keys.expiry_member("dataset", tenant, meta["id"]): expires_ts})

        self.r.transaction(write, index, usage, by_sha)

    def begin_storing(self, tenant: str, dataset_id: str, since: float) -> None:
        """Registers bytes about to be stored for a dataset whose record is not written yet."""
        self.r.zadd(keys.datasets_storing(), {_storing(tenant, dataset_id): since})

    def end_storing(self, tenant: str, dataset_id: str) -> None:
        """Unregisters bytes of ``begin_storing`` that are gone again (the upload was refused, or
        the orphan sweep removed them); ``create`` unregisters them in its own transaction."""
        self.r.zrem(keys.datasets_storing(), _storing(tenant, dataset_id))

    def storing_before(self, moment: float, limit: int = 100) -> list[tuple[str, str]]:
        """(tenant, dataset_id) of bytes registered before ``moment`` and not unregistered since."""
        members = self.r.zrangebyscore(keys.datasets_storing(), "-inf", moment, start=0, num=limit)
        return [(tenant, dataset_id) for tenant, _, dataset_id in (m.partition("/") for m in members)]

    def profile(self, tenant: str, dataset_id: str) -> dict[str, Any] | None:
        raw = self.r.get(keys.dataset_profile(tenant, dataset_id))
        return json.loads(raw) if raw else None

    def count(self, tenant: str) -> int:
        return self.r.zcard(keys.dataset_index(tenant))

    def stored_bytes(self, tenant: str) -> int:
        """Bytes of the tenant's stored datasets: a running total, kept as datasets come and go."""
        return int(self.r.hget(keys.usage(tenant), "dataset_bytes") or 0)

    def get(self, tenant: str, dataset_id: str) -> dict[str, Any] | None:
        raw = self.r.get(keys.dataset(tenant, dataset_id))
        return json.loads(raw) if raw else None

    def _get_many(self, tenant: str, ids: list[str]) -> list[dict[str, Any] | None]:
        raws = self.r.mget([keys.dataset(tenant, i) for i in ids])
        return [json.loads(raw) if raw else None for raw in raws]

    def list(self, tenant: str, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return newest_first(
            self.r, keys.dataset_index(tenant), lambda ids: self._get_many(tenant, ids), limit=limit, cursor=cursor
        )

    def delete(self, tenant: str, dataset_id: str) -> dict[str, Any] | None:
        """Removes the metadata; raises DatasetInUse while a queued/running job uses it (the users
        set is kept by ``core.lifecycle``: a job joins it at submit and leaves it as it ends)."""
        record, users = keys.dataset(tenant, dataset_id), keys.dataset_users(tenant, dataset_id)

        def write(p: redis.client.Pipeline) -> dict[str, Any] | None:
            raw = p.get(record)
            if raw is None:
                return None  # never stored, or another delete won: its bytes are given back once
            if in_use := sorted(p.smembers(users)):
                raise DatasetInUse(in_use)
            meta: dict[str, Any] = json.loads(raw)
            by_sha = keys.dataset_by_sha(tenant, meta["sha256"])
            p.watch(by_sha)
            mapped = p.get(by_sha)
            p.multi()
            p.delete(record)
            p.delete(keys.dataset_profile(tenant, dataset_id))
            p.zrem(keys.dataset_index(tenant), dataset_id)
            if mapped == dataset_id:
                p.delete(by_sha)
            p.hincrby(keys.usage(tenant), "dataset_bytes", -int(meta["size_bytes"]))
            return meta

        result: dict[str, Any] | None = self.r.transaction(write, record, users, value_from_callable=True)
        return result
