"""Diagnoses of histories trained elsewhere (POST /v1/diagnoses), kept with their histories."""

from __future__ import annotations

import json
from typing import Any

import redis

from core import keys, quota


class DiagnosisStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def create(
        self, tenant: str, record: dict[str, Any], *, max_count: int | None = None, expires_ts: float | None = None
    ) -> None:
        """Stores the diagnosis (and its expiry, at ``expires_ts``); raises ``quota.Full`` instead
        when the tenant already has ``max_count``. Checked and written in one transaction: racing
        posts never overshoot."""
        index = keys.diagnosis_index(tenant)

        def write(p: redis.client.Pipeline) -> None:
            if max_count is not None and (count := p.zcard(index)) >= max_count:
                raise quota.Full("diagnoses", count)
            p.multi()
            p.set(keys.diagnosis(tenant, record["id"]), json.dumps(record))
            p.zadd(index, {record["id"]: 0})
            if expires_ts is not None:
                p.zadd(keys.expiry(), {keys.expiry_member("diagnosis", tenant, record["id"]): expires_ts})

        self.r.transaction(write, index)

    def count(self, tenant: str) -> int:
        return self.r.zcard(keys.diagnosis_index(tenant))

    def delete(self, tenant: str, diagnosis_id: str) -> int:
        with self.r.pipeline() as p:
            p.delete(keys.diagnosis(tenant, diagnosis_id))
            p.zrem(keys.diagnosis_index(tenant), diagnosis_id)
            return int(p.execute()[0])

    def get(self, tenant: str, diagnosis_id: str) -> dict[str, Any] | None:
        raw = self.r.get(keys.diagnosis(tenant, diagnosis_id))
        return json.loads(raw) if raw else None
