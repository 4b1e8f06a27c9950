"""Which workers are online (from the presence keys they refresh) and where a job should go."""

from __future__ import annotations

import json
from typing import Any

import redis

from core import keys


def announce(client: redis.Redis, hostname: str, record: str, ttl_ms: int) -> None:
    with client.pipeline() as p:
        p.set(keys.worker(hostname), record, px=ttl_ms)
        p.sadd(keys.worker_names(), hostname)
        p.execute()


def retire(client: redis.Redis, hostname: str) -> None:
    with client.pipeline() as p:
        p.delete(keys.worker(hostname))
        p.srem(keys.worker_names(), hostname)
        p.execute()


def online(client: redis.Redis) -> list[dict[str, Any]]:
    """Workers whose record has not expired. Read on every job submission, so it looks only at
    the announced names (not a SCAN of the keyspace); names whose record expired are dropped."""
    names = sorted(client.smembers(keys.worker_names()))
    if not names:
        return []
    records = client.mget([keys.worker(name) for name in names])
    gone = [name for name, raw in zip(names, records) if raw is None]
    if gone:
        client.srem(keys.worker_names(), *gone)
    return [json.loads(raw) for raw in records if raw]


def route(device: str, workers: list[dict[str, Any]]) -> str:
    """The queue for a job's ``device`` setting: ``auto`` prefers a GPU worker when one is online."""
    if device in ("gpu", "cpu"):
        return device
    return "gpu" if any("gpu" in w.get("queues", []) for w in workers) else "cpu"
