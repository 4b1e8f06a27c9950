"""Operations: Prometheus metrics, request ids bound into logs, conditional GETs on JSON
resources (plots and event streams left alone), and the cached, short-timeout /readyz."""
from __future__ import annotations

import threading

import httpx
import pytest
import structlog
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from core.job_config import JobConfig
from core.jobs import JobStore
from service.app import create_app
from service.metrics import UNMATCHED_ROUTE, Metrics
from service.middleware import RequestContextMiddleware
from service.readiness import Readiness, probe_client
from tests.helpers import ServerThread, bearer, classic_csv, store_job, upload

TENANT = "ops"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def http(keyed_api):
    with httpx.Client(base_url=keyed_api.url, headers=bearer(TENANT), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def finished_job(http, redis_client) -> str:
    """A succeeded job with five epochs of history, written straight to the store."""
    dataset_id = upload(http, classic_csv(rows=40, seed=21), "ops.csv").json()["id"]
    config = JobConfig(dataset_id=dataset_id, data={"target": "label"}, training={"epochs": 5})
    epochs = [{"loss": 0.7 - 0.1 * epoch, "val_loss": 0.72 - 0.09 * epoch, "accuracy": 0.5 + 0.08 * epoch,
               "val_accuracy": 0.5 + 0.07 * epoch} for epoch in range(5)]
    job_id = store_job(redis_client, TENANT, dataset_id, config.model_dump(mode="json"), "succeeded", epochs)
    yield job_id
    http.delete(f"/v1/jobs/{job_id}")


# /metrics

def test_request_counters_and_latency_move_by_route_template(http):
    before = samples(http.get("/metrics").text)
    for suffix in ("a", "b", "c"):
        assert http.get(f"/v1/jobs/job_000000000000{suffix * 12}").status_code == 404
    http.get("/no/such/route")
    after_text = http.get("/metrics").text
    after = samples(after_text)
    route = "/v1/jobs/{job_id}"
    count = "lstm_doctor_http_requests_total"
    assert value(after, count, method="GET", route=route, status="404") - \
        value(before, count, method="GET", route=route, status="404") == 3
    assert value(after, count, method="GET", route=UNMATCHED_ROUTE, status="404") >= 1
    histogram = "lstm_doctor_http_request_duration_seconds_count"
    assert value(after, histogram, method="GET", route=route) - value(before, histogram, method="GET", route=route) == 3
    # Ids and raw paths never become label values: the series count cannot be driven by clients.
    assert "job_000000000000" not in after_text and "/no/such/route" not in after_text
    assert after_text.count('route="/v1/jobs/{job_id}"') > 0


def test_odd_methods_fold_into_one_label(http):
    http.request("BREW", "/v1/jobs")
    assert 'method="BREW"' not in http.get("/metrics").text
    assert 'method="OTHER"' in http.get("/metrics").text


def test_service_gauges_jobs_by_status_queues_workers(http, finished_job, worker):
    scraped = samples(http.get("/metrics").text)
    assert value(scraped, "lstm_doctor_redis_up") == 1
    statuses = {dict(labels)["status"] for name, labels in scraped if name == "lstm_doctor_jobs"}
    assert statuses == {"queued", "running", "succeeded", "failed", "cancelled"}
    assert value(scraped, "lstm_doctor_jobs", status="succeeded") >= 1
    assert {dict(labels)["queue"] for name, labels in scraped if name == "lstm_doctor_queue_depth"} == {"gpu", "cpu"}
    assert value(scraped, "lstm_doctor_workers_online") >= 1


def test_job_gauge_counts_across_tenants(redis_client, finished_job):
    counted = JobStore(redis_client).count_by_status()
    assert counted["succeeded"] >= 1 and set(counted) >= {"queued", "running", "succeeded", "failed", "cancelled"}


def test_metrics_answer_when_redis_is_away():
    metrics = Metrics(probe_client(UNREACHABLE_REDIS))
    metrics.observe("GET", "/healthz", 200, 0.001)
    scraped = samples(metrics.render().decode())
    assert value(scraped, "lstm_doctor_redis_up") == 0
    assert value(scraped, "lstm_doctor_http_requests_total", method="GET", route="/healthz", status="200") == 1


def test_each_app_has_its_own_registry(settings):
    first, second = (create_app(settings) for _ in range(2))
    first.state.metrics.observe("GET", "/healthz", 200, 0.01)
    assert b'route="/healthz"' in first.state.metrics.render()
    assert b'route="/healthz"' not in second.state.metrics.render()


# Request ids

def test_request_id_is_echoed_when_sane_and_replaced_when_not(http):
    assert http.get("/healthz", headers={"X-Request-ID": "abc-123.def:9"}).headers["x-request-id"] == "abc-123.def:9"
    for insane in ("has space", "x" * 200, "<script>", "-leading-dash", ""):
        given = http.get("/healthz", headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert given != insane and len(given) == 32
    generated = {http.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3
    problem = http.get("/v1/jobs/nope", headers={"X-Request-ID": "on-errors-too"})
    assert problem.status_code == 404 and problem.headers["x-request-id"] == "on-errors-too"


def test_request_id_is_in_the_logging_context_of_sync_and_async_endpoints():
    """The id is bound with structlog's contextvars, which ``merge_contextvars`` adds to each line."""
    app = FastAPI()

    @app.get("/sync")
    def sync_endpoint() -> dict:  # runs in a worker thread: the context must travel with it
        return structlog.contextvars.get_contextvars()

    @app.get("/async")
    async def async_endpoint() -> dict:
        return structlog.contextvars.get_contextvars()

    app.add_middleware(RequestContextMiddleware, metrics=Metrics(probe_client(UNREACHABLE_REDIS)))
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        for path in ("/sync", "/async"):
            response = client.get(path, headers={"X-Request-ID": f"ctx{path.replace('/', '-')}"})
            assert response.json()["request_id"] == f"ctx{path.replace('/', '-')}"
        assert structlog.contextvars.get_contextvars().get("request_id") is None  # unbound after


# Conditional GETs

@pytest.mark.parametrize("suffix", ["", "/diagnosis", "/history"])
def test_job_json_gets_carry_an_etag_and_answer_304(http, finished_job, suffix):
    url = f"/v1/jobs/{finished_job}{suffix}"
    first = http.get(url)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "private, no-cache"
    assert http.get(url).headers["etag"] == etag  # same body, same tag
    again = http.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert "content-type" not in again.headers
    assert http.get(url, headers={"If-None-Match": f'"other", {etag.removeprefix("W/")}'}).status_code == 304
    assert http.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_etag_changes_when_the_resource_does(http, finished_job, redis_client):
    record = JobStore(redis_client).get(TENANT, finished_job)
    job_id = store_job(redis_client, TENANT, record.dataset_id, record.config)
    url = f"/v1/jobs/{job_id}"
    etag = http.get(url).headers["etag"]
    assert http.post(f"{url}/cancel").status_code == 202
    changed = http.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["status"] == "cancelled"
    http.delete(url)


def test_plots_keep_their_own_etag_and_errors_get_none(http, finished_job):
    plot = http.get(f"/v1/jobs/{finished_job}/plots/loss.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert not plot.headers["etag"].startswith("W/")  # the plot cache's, not a hash of the bytes
    assert http.get(f"/v1/jobs/{finished_job}/plots/loss.png",
                    headers={"If-None-Match": plot.headers["etag"]}).status_code == 304
    missing = http.get("/v1/jobs/job_000000000000dddddddddddd")
    assert missing.status_code == 404 and "etag" not in missing.headers


def test_event_streams_are_not_buffered(http, redis_client, finished_job):
    """A job still queued: its stream sends the current status at once and then stays open."""
    record = JobStore(redis_client).get(TENANT, finished_job)
    queued_id = store_job(redis_client, TENANT, record.dataset_id, record.config)
    try:
        first_line: list[str] = []

        def read_first_event() -> None:
            with http.stream("GET", f"/v1/jobs/{queued_id}/events", timeout=10) as response:
                assert "etag" not in response.headers
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        first_line.append(line)
                        return

        reader = threading.Thread(target=read_first_event, daemon=True)
        reader.start()
        reader.join(timeout=30)
        # The stream is open for as long as the job is queued, so a buffering middleware would
        # never let this first event out.
        assert first_line == ["event: status"]
    finally:
        http.delete(f"/v1/jobs/{queued_id}")


# /readyz

def test_readyz_ready_with_a_worker(http, worker):
    response = http.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and any(w["hostname"].startswith("test-worker@") for w in body["workers"])


def test_readyz_reaches_redis_at_most_once_per_ttl(keyed_api, http):
    readiness: Readiness = keyed_api.server.config.app.state.readiness
    before = readiness.checks
    for _ in range(30):
        http.get("/readyz")
    assert readiness.checks - before <= 2


class CountingClient:
    def __init__(self, workers: list[dict]) -> None:
        self.pings = 0
        self.workers = workers

    def ping(self) -> bool:
        self.pings += 1
        return True

    def smembers(self, name: str) -> set[str]:
        return {w["hostname"] for w in self.workers}

    def mget(self, names):
        import json
        return [json.dumps(w) for w in self.workers]


def test_readiness_cache_expires():
    clock = [100.0]
    client = CountingClient([{"hostname": "w@h", "queues": ["cpu"]}])
    readiness = Readiness(client, ttl_s=1.5, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert readiness.report().ready and client.pings == 1
    clock[0] += 1.0
    assert readiness.report().ready and client.pings == 1
    clock[0] += 1.0
    readiness.report()
    assert client.pings == 2


def test_readiness_without_workers_names_what_is_missing():
    report = Readiness(CountingClient([])).report()  # type: ignore[arg-type]
    assert not report.ready and "no worker is online" in report.missing[0]


def test_readyz_answers_fast_and_503_when_redis_is_away(settings):
    app = create_app(settings.model_copy(update={"redis_url": UNREACHABLE_REDIS}))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        # Within the client's timeout: the probe's own Redis timeout is 1 s, and it does not retry.
        response = client.get("/readyz")
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    assert "Redis does not answer" in response.json()["detail"]
