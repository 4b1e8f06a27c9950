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
import random
import time

import httpx
import psutil
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


class Connection:
    """One keep-alive HTTP/1.1 connection doing plain GETs. httpx costs this client several ms
    of CPU per request, more than the API spends answering it; on two shared cores that would
    measure the client, so the load generator speaks the few lines of HTTP it needs itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, path: str) -> int:
        """Sends the request and reads the whole response; returns its status code."""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in head if line.lower().startswith("content-length:"))
        await self.reader.readexactly(length)
        return int(head[0].split()[1])

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def load(port: int, path: str, clients: int, duration_s: float, interval_s: float = 0.0) -> tuple[list[float], float]:
    """Latencies (s) of every request and the request rate, ``clients`` at once for ``duration_s``;
    each client waits ``interval_s`` between the start of one request and the next (0: flat out)."""
    latencies: list[float] = []
    connections = [await Connection.open(port) for _ in range(clients)]
    end = time.perf_counter() + duration_s

    async def one_client(connection: Connection, offset_s: float) -> None:
        await asyncio.sleep(offset_s)
        while (start := time.perf_counter()) < end:
            status = await connection.get(path)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
            if interval_s:
                await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - start)))

    # Pollers are not in step with each other: each starts at its own point of the interval.
    offsets = random.Random(0).uniform
    began = time.perf_counter()
    await asyncio.gather(*(one_client(c, offsets(0, interval_s)) for c in connections))
    rate = len(latencies) / (time.perf_counter() - began)
    for connection in connections:
        await connection.close()
    return latencies, rate


def measured(name: str, stack: Stack, path: str, interval_s: float = 0.0, target_ms: float | None = None) -> list[Figure]:
    """Runs one load and reports it, with the CPU the API process and this client spent per
    request: which side is the bottleneck on a shared machine."""
    api, client = psutil.Process(stack.api.pid), psutil.Process()
    api_before, client_before = sum(api.cpu_times()[:2]), sum(client.cpu_times()[:2])
    latencies, rate = asyncio.run(load(stack.port, path, CLIENTS, DURATION_S, interval_s))
    api_ms = 1e3 * (sum(api.cpu_times()[:2]) - api_before) / len(latencies)
    client_ms = 1e3 * (sum(client.cpu_times()[:2]) - client_before) / len(latencies)
    p50, p99 = 1e3 * percentile(latencies, 50), 1e3 * percentile(latencies, 99)
    print(f"  {name}: {len(latencies)} requests, {rate:.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
          f"CPU per request: API {api_ms:.1f} ms, client {client_ms:.1f} ms", flush=True)
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
        # Warm the API process, and render the plot once: a steady state of cache hits is measured.
        asyncio.run(load(stack.port, job_path, CLIENTS, 2.0))
        client.get(f"{job_path}/plots/loss.png").raise_for_status()
        figures += measured(f"GET /v1/jobs/{{id}}, {CLIENTS} clients flat out", stack, job_path, target_ms=25)
        figures += measured(f"GET /v1/jobs/{{id}}, {CLIENTS} pollers every {POLL_INTERVAL_S} s", stack, job_path,
                            POLL_INTERVAL_S, target_ms=25)
        figures += measured(f"GET loss.png (cached), {CLIENTS} clients flat out", stack, f"{job_path}/plots/loss.png")

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
