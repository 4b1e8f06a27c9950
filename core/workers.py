"""Which workers are online (from the presence keys they refresh) and where a job should go."""
from __future__ import annotations

import json
from typing import Any

import redis

from core import keys


def online(client: redis.Redis) -> list[dict[str, Any]]:
    names = list(client.scan_iter(match=keys.worker_pattern(), count=100))
    if not names:
        return []
    return [json.loads(raw) for raw in client.mget(names) if raw]


def route(device: str, workers: list[dict[str, Any]]) -> str:
    """The queue for a job's ``device`` setting: ``auto`` prefers a GPU worker when one is online."""
    if device in ("gpu", "cpu"):
        return device
    return "gpu" if any("gpu" in w.get("queues", []) for w in workers) else "cpu"
