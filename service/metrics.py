"""Prometheus metrics of one app: HTTP traffic measured by the middleware, and the state of the
service (jobs by status, queue depth, workers online) read from Redis at scrape time: a fixed
number of reads (the job counts are kept as jobs change state), whatever the number of jobs.

Each app owns its ``CollectorRegistry``: several apps live in one test process, and the global
default registry would refuse a second set of metrics with the same names.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core import worker_registry
from core.broker import QUEUES
from core.jobs import JobStore
from core.logging import get_logger

log = get_logger("service.metrics")
NAMESPACE = "lstm_doctor"
# Label for requests that matched no route: raw paths would let any client mint new series.
UNMATCHED_ROUTE = "<unmatched>"
# Latency buckets from a fast JSON read (ms) to a large upload or a cold plot render (s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Methods are client-chosen strings too; anything unusual is folded into one label value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceStateCollector(Collector):
    """Gauges computed from Redis when Prometheus scrapes, so they are never stale or drifting."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.jobs = JobStore(client)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(f"{NAMESPACE}_redis_up", "1 when Redis answered this scrape, else 0.")
        try:
            by_status = self.jobs.counts()
            depths = {queue: self.client.llen(queue) for queue in QUEUES}
            online = worker_registry.online(self.client)
        except redis.RedisError as exc:
            # A scrape must still answer (with the HTTP metrics) when Redis is away: say so in a gauge.
            log.warning("metrics_redis_unavailable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        jobs = GaugeMetricFamily(f"{NAMESPACE}_jobs", "Stored jobs by status, all tenants.", labels=["status"])
        for status, count in by_status.items():
            jobs.add_metric([status], count)
        yield jobs

        queue = GaugeMetricFamily(f"{NAMESPACE}_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
        for name, depth in depths.items():
            queue.add_metric([name], depth)
        yield queue

        yield GaugeMetricFamily(
            f"{NAMESPACE}_workers_online", "Workers whose presence key is fresh.", value=len(online)
        )


class Metrics:
    """The registry of one app and the instruments the request middleware feeds."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, client: redis.Redis) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{NAMESPACE}_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{NAMESPACE}_http_request_duration_seconds",
            "Time from request to response headers, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ServiceStateCollector(client))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "OTHER"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
