"""Idempotency-Key for job submission (IETF httpapi Idempotency-Key draft).

A key is reserved with the request's fingerprint before the job exists, then bound to the job:
the same key and body give the same job, a different body is refused, and a duplicate that
arrives while the first is still being accepted is told to wait.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis

from core import keys

TTL_S = 24 * 3600
# The reservation only has to outlive one request's acceptance (a few seconds): if the process
# accepting it dies between claim and bind, the key frees itself within a minute, not a day.
RESERVATION_TTL_S = 60


@dataclass
class Claim:
    """Result of claiming a key: ``owner`` (go ahead), or what the earlier request left."""

    owner: bool
    same_body: bool = True
    job_id: str | None = None


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def claim(self, tenant: str, key: str, body_fingerprint: str) -> Claim:
        name = keys.idempotency(tenant, key)
        if self.r.set(name, json.dumps({"fp": body_fingerprint, "job_id": None}), nx=True, ex=RESERVATION_TTL_S):
            return Claim(owner=True)
        raw = self.r.get(name)
        if raw is None:  # expired between the two calls: try once more
            return self.claim(tenant, key, body_fingerprint)
        entry = json.loads(raw)
        return Claim(owner=False, same_body=entry["fp"] == body_fingerprint, job_id=entry["job_id"])

    def bind(self, tenant: str, key: str, body_fingerprint: str, job_id: str) -> None:
        self.r.set(keys.idempotency(tenant, key), json.dumps({"fp": body_fingerprint, "job_id": job_id}), ex=TTL_S)

    def release(self, tenant: str, key: str) -> None:
        """The request failed before a job existed: the key is free for a corrected retry."""
        self.r.delete(keys.idempotency(tenant, key))
