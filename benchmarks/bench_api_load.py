"""The API under load on loopback: 64 concurrent pollers of `GET /v1/jobs/{id}` (flat out, and at
a poller's pace of 2 requests a second each), 64 concurrent readers of a plot, and one job's
event stream fanned out to 50 SSE listeners.

Latency is measured by the client (request sent → body read), so it includes the client's own
event-loop queueing; the API runs in its own process (`lstm-doctor api`). SSE latency is the
delay from the worker's publish (seen by a plain Redis subscriber on the job's channel) to each
listener reading the event.
"""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import redis.asyncio as aioredis

from benchmarks import bench_datasets
from benchmarks.bench_common import Figure, median, percentile
from benchmarks.bench_stack import Stack, submit, upload, wait_for
from core import keys
from service.auth import OPEN_TENANT

CLIENTS = 64
LISTENERS = 50
DURATION_S = 10.0
POLL_INTERVAL_S = 0.5


async def load(url: str, path: str, clients: int, duration_s: float, interval_s: float = 0.0) -> tuple[list[float], float]:
    """Latencies (s) of every request and the request rate, ``clients`` at once for ``duration_s``;
    each client waits ``interval_s`` between the start of one request and the next (0: flat out)."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        end = time.perf_counter() + duration_s

        async def one_client() -> None:
            while (start := time.perf_counter()) < end:
                response = await client.get(path)
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()
                if interval_s:
                    await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - start)))

        began = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        return latencies, len(latencies) / (time.perf_counter() - began)


def report(name: str, latencies: list[float], rate: float, target_ms: float | None = None) -> list[Figure]:
    p50, p99 = 1e3 * percentile(latencies, 50), 1e3 * percentile(latencies, 99)
    print(f"  {name}: {len(latencies)} requests, {rate:.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    return [Figure(f"{name}: p99", p99, " ms", target_ms), Figure(f"{name}: throughput", rate, "/s")]


async def sse_fan_out(stack: Stack, job_id: str, listeners: int, duration_s: float) -> tuple[list[float], int]:
    """Delays from publish to each listener for every epoch published in ``duration_s``."""
    published: dict[tuple[int, int], float] = {}
    received: list[tuple[tuple[int, int], float]] = []
    redis_client = aioredis.Redis.from_url(stack.redis.url)
    reference = redis_client.pubsub()
    await reference.subscribe(keys.job_events(OPEN_TENANT, job_id))

    async def watch_channel() -> None:
        while True:
            message = await reference.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message:
                event = json.loads(message["data"])
                if event["event"] == "epoch":
                    published[(event["data"]["run"], event["data"]["epoch"])] = time.perf_counter()

    async def listen(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            kind = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind == "epoch":
                    data = json.loads(line.split(":", 1)[1])
                    received.append(((data["run"], data["epoch"]), time.perf_counter()))

    limits = httpx.Limits(max_connections=listeners + 1)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60, limits=limits) as client:
        channel = asyncio.create_task(watch_channel())
        streams = [asyncio.create_task(listen(client)) for _ in range(listeners)]
        await asyncio.sleep(duration_s)
        (await client.post(f"/v1/jobs/{job_id}/cancel")).raise_for_status()
        await asyncio.wait_for(asyncio.gather(*streams), timeout=60)  # every stream ends with the job
        channel.cancel()
    await reference.aclose()
    await redis_client.aclose()
    # Epochs replayed on connect were published before anyone listened: only live ones count.
    delays = [at - published[epoch] for epoch, at in received if epoch in published]
    return delays, len(published)


def main() -> list[Figure]:
    figures: list[Figure] = []
    with Stack(workers=1) as stack, httpx.Client(base_url=stack.url, timeout=60) as client:
        dataset = upload(client, bench_datasets.classic_csv(), "classic.csv")
        done = wait_for(client, submit(client, bench_datasets.classic_job(dataset, epochs=20)))
        job_path = f"/v1/jobs/{done['id']}"
        asyncio.run(load(stack.url, job_path, CLIENTS, 2.0))  # warm the connections and the API process
        figures += report(f"GET /v1/jobs/{{id}}, {CLIENTS} clients flat out",
                          *asyncio.run(load(stack.url, job_path, CLIENTS, DURATION_S)), target_ms=25)
        figures += report(f"GET /v1/jobs/{{id}}, {CLIENTS} pollers every {POLL_INTERVAL_S} s",
                          *asyncio.run(load(stack.url, job_path, CLIENTS, DURATION_S, POLL_INTERVAL_S)), target_ms=25)
        figures += report(f"GET loss.png (cached), {CLIENTS} clients flat out",
                          *asyncio.run(load(stack.url, f"{job_path}/plots/loss.png", CLIENTS, DURATION_S)))

        # A long job so epochs keep coming while the listeners are connected; cancelled after.
        running = submit(client, bench_datasets.classic_job(dataset, epochs=1000))
        wait_for(client, running, frozenset({"running"}))
        delays, epochs = asyncio.run(sse_fan_out(stack, running, LISTENERS, DURATION_S))
    p50, p99 = 1e3 * median(delays), 1e3 * percentile(delays, 99)
    print(f"  SSE fan-out: {epochs} epochs published to {LISTENERS} listeners, {len(delays)} deliveries "
          f"({len(delays) / DURATION_S:.0f}/s), publish → listener p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    figures += [Figure(f"SSE publish → {LISTENERS} listeners: p99", p99, " ms"),
                Figure(f"SSE deliveries, {LISTENERS} listeners", len(delays) / DURATION_S, "/s")]
    return figures


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
