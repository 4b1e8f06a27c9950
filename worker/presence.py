"""Workers announce themselves in Redis (queues served, device kind) under an expiring key.

The API reads these keys to answer /readyz and to route ``device: auto`` to the GPU queue only
when a GPU worker is really there; the reaper uses them too.
"""
from __future__ import annotations

import json
import threading

import redis

from core import keys
from core.settings import Settings

_stop = threading.Event()
_state: dict[str, object] = {}


def start(settings: Settings, hostname: str, queues: list[str]) -> None:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    record = json.dumps({"hostname": hostname, "queues": queues, "device": "gpu" if "gpu" in queues else "cpu"})
    ttl_ms = int(settings.heartbeat_s * 3 * 1000)
    _state.update(client=client, hostname=hostname)

    def beat() -> None:
        while not _stop.is_set():
            try:
                client.set(keys.worker(hostname), record, px=ttl_ms)
            except redis.RedisError:
                pass  # Redis briefly away: the key expires and readiness reports it, which is the truth.
            _stop.wait(settings.heartbeat_s)

    threading.Thread(target=beat, name="presence", daemon=True).start()


def stop() -> None:
    _stop.set()
    client = _state.get("client")
    if isinstance(client, redis.Redis):
        try:
            client.delete(keys.worker(str(_state["hostname"])))
        except redis.RedisError:
            pass
