"""Dataset metadata in Redis: create (deduplicated by sha256 per tenant), get, list, delete."""

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


class DatasetStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def claim_sha(self, tenant: str, sha256: str, dataset_id: str) -> str | None:
        """Reserve ``sha256`` for ``dataset_id``; returns the existing id when these bytes are known."""
        if self.r.set(keys.dataset_by_sha(tenant, sha256), dataset_id, nx=True):
            return None
        return self.r.get(keys.dataset_by_sha(tenant, sha256))

    def by_sha(self, tenant: str, sha256: str) -> dict[str, Any] | None:
        dataset_id = self.r.get(keys.dataset_by_sha(tenant, sha256))
        return self.get(tenant, dataset_id) if dataset_id else None

    def release_sha(self, tenant: str, sha256: str, dataset_id: str) -> None:
        key = keys.dataset_by_sha(tenant, sha256)
        if self.r.get(key) == dataset_id:
            self.r.delete(key)

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
        past ``max_bytes``. Checked and written in one transaction: racing uploads never overshoot."""
        index, usage, size = keys.dataset_index(tenant), keys.usage(tenant), int(meta["size_bytes"])

        def write(p: redis.client.Pipeline) -> None:
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
            if expires_ts is not None:
                p.zadd(keys.expiry(), {keys.expiry_member("dataset", tenant, meta["id"]): expires_ts})

        self.r.transaction(write, index, usage)

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
        meta = self.get(tenant, dataset_id)
        if meta is None:
            return None
        users = sorted(self.r.smembers(keys.dataset_users(tenant, dataset_id)))
        if users:
            raise DatasetInUse(users)
        with self.r.pipeline() as p:
            p.delete(keys.dataset(tenant, dataset_id))
            p.delete(keys.dataset_profile(tenant, dataset_id))
            p.zrem(keys.dataset_index(tenant), dataset_id)
            p.delete(keys.dataset_by_sha(tenant, meta["sha256"]))
            deleted = p.execute()[0]
        # Only the caller whose DEL removed the record gives its bytes back (no double count).
        if deleted:
            self.r.hincrby(keys.usage(tenant), "dataset_bytes", -int(meta["size_bytes"]))
        return meta
