"""Worker housekeeping in the pool's parent process: announce this worker in Redis (queues
served, device kind) under an expiring key, and run the housekeeping sweep (``on_beat``).

The API reads the presence keys to answer /readyz and to route ``device: auto`` to the GPU
queue only when a GPU worker is really there. The thread survives anything a beat raises (Redis
away, a broker error from a send): a dead presence thread would silently stop reaping for good.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import redis

from core import worker_registry
from core.logging import get_logger
from core.settings import Settings

log = get_logger("worker.presence")
_stop = threading.Event()
_state: dict[str, object] = {}


def start(
    settings: Settings, client: redis.Redis, hostname: str, queues: list[str], on_beat: Callable[[], object]
) -> threading.Thread:
    record = json.dumps({"hostname": hostname, "queues": queues, "device": "gpu" if "gpu" in queues else "cpu"})
    ttl_ms = int(settings.heartbeat_ttl_s * 1000)
    _state.update(client=client, hostname=hostname)

    def beat() -> None:
        while not _stop.is_set():
            try:
                worker_registry.announce(client, hostname, record, ttl_ms)
                on_beat()
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                # Redis briefly away: our key expires and readiness reports it, which is the truth.
                log.warning("housekeeping_failed", error=type(exc).__name__, detail=str(exc)[:200])
            _stop.wait(settings.heartbeat_s)

    thread = threading.Thread(target=beat, name="presence", daemon=True)
    thread.start()
    return thread


def stop() -> None:
    _stop.set()
    client = _state.get("client")
    if isinstance(client, redis.Redis):
        try:
            worker_registry.retire(client, str(_state["hostname"]))
        except redis.RedisError:
            pass
