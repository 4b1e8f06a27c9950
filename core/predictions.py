"""Prediction requests and their results, in Redis, for as long as `prediction_ttl_s` says.

The API records the checked inputs and enqueues the work; a worker runs the model and records the
outputs here. Inputs are kept apart from the record and dropped once answered.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from core import keys


class PredictionStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def create(self, tenant: str, record: dict[str, Any], inputs: list, ttl_s: int) -> None:
        key = keys.prediction(tenant, record["id"])
        with self.r.pipeline() as p:
            p.hset(key, mapping={"record": json.dumps(record), "inputs": json.dumps(inputs)})
            p.expire(key, ttl_s)
            p.execute()

    def get(self, tenant: str, prediction_id: str) -> dict[str, Any] | None:
        raw = self.r.hget(keys.prediction(tenant, prediction_id), "record")
        return json.loads(raw) if raw else None

    def inputs(self, tenant: str, prediction_id: str) -> list | None:
        raw = self.r.hget(keys.prediction(tenant, prediction_id), "inputs")
        return json.loads(raw) if raw else None

    def finish(self, tenant: str, prediction_id: str, **fields: Any) -> None:
        """Records the outcome (status, predictions or error) if the request still exists."""
        key = keys.prediction(tenant, prediction_id)
        raw = self.r.hget(key, "record")
        if raw is None:
            return  # expired meanwhile: nobody can ask for it any more
        record = {**json.loads(raw), **fields}
        with self.r.pipeline() as p:
            p.hset(key, "record", json.dumps(record))
            p.hdel(key, "inputs")
            p.execute()
