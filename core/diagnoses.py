"""Diagnoses of histories trained elsewhere (POST /v1/diagnoses), kept with their histories."""

from __future__ import annotations

import json
from typing import Any

import redis

from core import keys


class DiagnosisStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def create(self, tenant: str, record: dict[str, Any]) -> None:
        with self.r.pipeline() as p:
            p.set(keys.diagnosis(tenant, record["id"]), json.dumps(record))
            p.zadd(keys.diagnosis_index(tenant), {record["id"]: 0})
            p.execute()

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
