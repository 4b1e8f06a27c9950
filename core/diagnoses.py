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
        self.r.set(keys.diagnosis(tenant, record["id"]), json.dumps(record))

    def get(self, tenant: str, diagnosis_id: str) -> dict[str, Any] | None:
        raw = self.r.get(keys.diagnosis(tenant, diagnosis_id))
        return json.loads(raw) if raw else None
