"""Worker housekeeping in the pool's parent process: announce this worker in Redis (queues
served, device kind) under an expiring key, and sweep for jobs whose trainer vanished.

The API reads the presence keys to answer /readyz and to route ``device: auto`` to the GPU
queue only when a GPU worker is really there.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import redis

from core import worker_registry
from core.logging import get_logger
from core.redis_client import WORKER_RETRY_S, connect, required_url
from core.settings import Settings

log = get_logger("worker.presence")
_stop = threading.Event()
_state: dict[str, object] = {}


def start(settings: Settings, hostname: str, queues: list[str], on_beat: Callable[[], object]) -> None:
    client = connect(required_url(settings), decode_responses=True, retry_s=WORKER_RETRY_S)
    record = json.dumps({"hostname": hostname, "queues": queues, "device": "gpu" if "gpu" in queues else "cpu"})
    ttl_ms = int(settings.heartbeat_ttl_s * 1000)
    _state.update(client=client, hostname=hostname)

    def beat() -> None:
        while not _stop.is_set():
            try:
                worker_registry.announce(client, hostname, record, ttl_ms)
                on_beat()
            except redis.RedisError as exc:
                # Redis briefly away: our key expires and readiness reports it, which is the truth.
                log.warning("presence_failed", error=str(exc))
            _stop.wait(settings.heartbeat_s)

    threading.Thread(target=beat, name="presence", daemon=True).start()


def stop() -> None:
    _stop.set()
    client = _state.get("client")
    if isinstance(client, redis.Redis):
        try:
            worker_registry.retire(client, str(_state["hostname"]))
        except redis.RedisError:
            pass
