"""One Redis pub/sub connection per API process, fanned out in memory to every open event stream.

A connection per stream would let any tenant hold Redis connections at will; here a thousand
streams cost one connection. The hub subscribes to the pattern of every job's event channel
once, and hands each message to the queues of the streams watching that channel. How many
streams a tenant may hold is counted fleet-wide in Redis (``service.stream_slots``), not here.

A stream never depends on the hub alone: when it hears nothing for a while it reads the job's
status itself, so a dropped connection delays events, it does not hang a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import redis
import redis.asyncio as aioredis

from core import keys
from core.logging import get_logger

log = get_logger("service.event_hub")
QUEUE_SIZE = 1_000  # events a slow client may lag behind before its stream is ended
RECONNECT_S = 1.0
SUBSCRIBE_S = 2.0


class Subscription:
    def __init__(self, hub: EventHub, channel: str) -> None:
        self.hub = hub
        self.channel = channel
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.lagging = False  # set when the queue overflowed: the stream must end (the client reconnects)

    def offer(self, data: str) -> None:
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.lagging = True

    async def next(self, timeout_s: float) -> str | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.hub._remove(self)


class EventHub:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._by_channel: dict[str, set[Subscription]] = defaultdict(set)
        self._reader: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def subscribe(self, tenant: str, job_id: str) -> Subscription:
        """A subscription to the job's events. Returns once the hub is listening, so nothing
        published after this call is missed."""
        sub = Subscription(self, keys.job_events(tenant, job_id))
        self._by_channel[sub.channel].add(sub)
        if self._reader is None or self._reader.done():
            self._ready.clear()
            self._reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(self._ready.wait(), 5.0)
        except TimeoutError:
            pass  # Redis is slow or away: the stream falls back on polling the job's status
        return sub

    def _remove(self, sub: Subscription) -> None:
        subs = self._by_channel.get(sub.channel)
        if subs is not None and sub in subs:
            subs.discard(sub)
            if not subs:
                del self._by_channel[sub.channel]

    async def _read(self) -> None:
        while self._by_channel:
            pubsub = self.client.pubsub()
            try:
                # Bounded: the pub/sub client has no read timeout (it waits for messages by design),
                # so a frozen Redis would otherwise hold this subscribe, and every stream's start.
                await asyncio.wait_for(pubsub.psubscribe(keys.job_events_pattern()), SUBSCRIBE_S)
                self._ready.set()
                while self._by_channel:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None:
                        continue
                    for sub in list(self._by_channel.get(message["channel"], ())):
                        sub.offer(message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("event_hub_disconnected", error=type(exc).__name__)
                self._ready.clear()
                await asyncio.sleep(RECONNECT_S)
            finally:
                self._ready.clear()  # before any await: a subscriber arriving now waits for the next psubscribe
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), SUBSCRIBE_S)
        self._ready.clear()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
