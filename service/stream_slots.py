"""The per-tenant cap on open event streams, held in Redis so it holds across every API process.

Each open stream holds a slot: a member of the tenant's sorted set (``core.keys.tenant_streams``)
scored with its lease's end. Taking a slot drops lapsed leases, counts, and adds, in one Lua
script, so racing opens on any number of processes never exceed the cap. A stream renews its
lease while it runs and gives the slot back when it ends; a process that dies without giving
them back loses its slots when their leases lapse (``LEASE_S``), the pattern of a fair Redis
semaphore with timeouts.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import redis
import redis.asyncio as aioredis

from core import keys

LEASE_S = 30.0  # a dead process' streams stop counting after this long
RENEW_S = 10.0  # a live stream renews well within its lease
REDIS_WAIT_S = 2.0  # the streams' client has no read timeout (pub/sub); these calls must not hang

_TAKE = """
local now, lease_end, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], lease_end, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


class StreamLimit(Exception):
    """The tenant already has as many open streams as allowed."""


class StreamSlot:
    def __init__(self, slots: StreamSlots, tenant: str) -> None:
        self.slots = slots
        self.tenant = tenant
        self.id = uuid.uuid4().hex
        self.renewed = time.monotonic()

    async def renew_if_due(self) -> None:
        """Extends the lease every RENEW_S (a stream's loop calls this at least every few seconds)."""
        if time.monotonic() - self.renewed >= RENEW_S:
            self.renewed = time.monotonic()
            await self.slots._call(self.slots.client.zadd(self._key, {self.id: _lease_end()}, xx=True))

    async def release(self) -> None:
        """Gives the slot back; harmless twice. If Redis is away, the lease lapses instead."""
        try:
            await self.slots._call(self.slots.client.zrem(self._key, self.id))
        except redis.RedisError:
            pass

    @property
    def _key(self) -> str:
        return keys.tenant_streams(self.tenant)


class StreamSlots:
    def __init__(self, client: aioredis.Redis, cap: int) -> None:
        self.client = client
        self.cap = cap
        self._take = client.register_script(_TAKE)

    async def take(self, tenant: str) -> StreamSlot:
        """A slot for one stream of ``tenant``; raises StreamLimit at the cap, and a RedisError
        (a 503 for the caller) when Redis does not answer within REDIS_WAIT_S."""
        slot = StreamSlot(self, tenant)
        now_ms = int(time.time() * 1000)
        args = [now_ms, _lease_end(), self.cap, slot.id, int(LEASE_S * 2000)]
        if not await self._call(self._take(keys=[keys.tenant_streams(tenant)], args=args)):
            raise StreamLimit
        return slot

    async def _call(self, awaitable):
        try:
            return await asyncio.wait_for(awaitable, REDIS_WAIT_S)
        except TimeoutError:
            raise redis.TimeoutError("Redis did not answer the stream slot call in time") from None


def _lease_end() -> int:
    return int((time.time() + LEASE_S) * 1000)
