"""The fleet-wide cap on event streams (service.stream_slots) against the real Redis: racing
opens never pass the cap, released and lapsed slots come back, renewal keeps a slot alive."""

from __future__ import annotations

import asyncio
import time

import pytest

from core import keys
from core.redis_client import api_async_client
from service import stream_slots
from service.stream_slots import StreamLimit, StreamSlots


def run(redis_url: str, scenario):
    async def with_client():
        client = api_async_client(redis_url)
        try:
            return await scenario(client)
        finally:
            await client.aclose()

    return asyncio.run(with_client())


async def _outcome(slots: StreamSlots, tenant: str):
    try:
        return await slots.take(tenant)
    except StreamLimit:
        return None


def test_racing_opens_never_pass_the_cap_and_released_slots_come_back(settings):
    async def scenario(client):
        # Two "processes" (two StreamSlots) racing 20 opens for a cap of 3.
        a, b = StreamSlots(client, cap=3), StreamSlots(client, cap=3)
        taken = await asyncio.gather(*(_outcome(a if i % 2 else b, "slots-race") for i in range(20)))
        held = [slot for slot in taken if slot is not None]
        assert len(held) == 3
        assert await client.zcard(keys.tenant_streams("slots-race")) == 3
        with pytest.raises(StreamLimit):
            await a.take("slots-race")
        assert await _outcome(a, "other-tenant") is not None  # the cap is per tenant
        await held[0].release()
        await held[0].release()  # twice is harmless
        again = await b.take("slots-race")
        for slot in [*held[1:], again]:
            await slot.release()
        assert await client.exists(keys.tenant_streams("slots-race")) == 0

    run(settings.redis_url, scenario)


def test_a_dead_process_slots_lapse_and_a_live_stream_renews(settings, monkeypatch):
    async def scenario(client):
        slots = StreamSlots(client, cap=1)
        dead = await slots.take("slots-lapse")
        # The process holding it died: nobody renews, the lease's end passes.
        await client.zadd(keys.tenant_streams("slots-lapse"), {dead.id: int(time.time() * 1000) - 1})
        alive = await slots.take("slots-lapse")
        members = await client.zrange(keys.tenant_streams("slots-lapse"), 0, -1, withscores=True)
        assert [member for member, _ in members] == [alive.id]

        before = members[0][1]
        monkeypatch.setattr(stream_slots, "RENEW_S", 0.0)
        await asyncio.sleep(0.01)
        await alive.renew_if_due()
        after = await client.zscore(keys.tenant_streams("slots-lapse"), alive.id)
        assert after > before
        await alive.release()

    run(settings.redis_url, scenario)
