"""Background work of an API process, once a minute: the retention sweep, and the sweep of what
killed uploads left behind (``core.orphans``).

Every API process sweeps (sweeps are idempotent), so nothing depends on one process staying up.
"""

from __future__ import annotations

import asyncio

import redis

from core.logging import get_logger
from core.orphans import sweep_orphans
from core.retention import sweep
from service.container import Container

log = get_logger("service.housekeeping")
SWEEP_EVERY_S = 60.0


def sweep_once(container: Container) -> int:
    removed = sweep(container.retention, container.jobs, container.datasets, container.diagnoses, container.blobs)
    return removed + sweep_orphans(container.datasets, container.blob_cache)


async def sweep_forever(container: Container, every_s: float = SWEEP_EVERY_S) -> None:
    while True:
        try:
            await asyncio.to_thread(sweep_once, container)
        except redis.RedisError as exc:  # Redis away: the next round tries again
            log.warning("retention_sweep_failed", error=type(exc).__name__)
        except Exception:  # noqa: BLE001 - a sweep bug must not end the loop (or the process)
            log.exception("retention_sweep_crashed")
        await asyncio.sleep(every_s)
