"""Fault suite, part 2: Redis and the broker misbehaving under a real stack (its own embedded
Redis with AOF, a real Celery worker training with Keras, the API on a loopback port). After each
fault: nothing lost (the job ends with exactly its epochs, once, and a result that agrees with
its history), nothing stuck (no job left queued or running, the dataset free again).

Timings are bounds to wait within, never asserted: the lease lapses after 3 s (heartbeat 1 s).
"""
from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from core import keys
from core.broker import make_celery
from core.embedded_redis import EmbeddedRedis, free_port
from core.job_record import JobStatus
from core.jobs import JobStore
from core.processes import stop_process_group
from core.redis_client import worker_client
from service.app import create_app
from service.auth import OPEN_TENANT
from service.container import Container
from tests.helpers import ServerThread, classic_csv, start_worker, upload, wait_for_worker

EPOCHS = 12


@pytest.fixture(scope="module")
def stack(tmp_path_factory, settings):
    data_dir = tmp_path_factory.mktemp("faults")
    server = EmbeddedRedis(data_dir / "redis", port=free_port()).start()
    own = settings.model_copy(update={"redis_url": server.url, "data_dir": data_dir})
    worker = start_worker(own, "faults")
    try:
        wait_for_worker(worker_client(server.url, 15.0), "faults@", worker)
        with ServerThread(create_app(own)) as api, httpx.Client(base_url=api.url, timeout=10) as client:
            yield {"redis": server, "settings": own, "client": client, "api": api}
    finally:
        stop_process_group(worker, grace_s=5)
        server.stop()


@pytest.fixture(scope="module")
def series(stack) -> str:
    response = upload(stack["client"], classic_csv(rows=3000, seed=31), "faults.csv")
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def job_state(client: httpx.Client, job_id: str) -> dict | None:
    """The job, or None while the API answers 503 (Redis away)."""
    response = client.get(f"/v1/jobs/{job_id}")
    if response.status_code == 503:
        assert response.headers["retry-after"]
        return None
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(client: httpx.Client, job_id: str, done, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = job_state(client, job_id)
        if job is not None and done(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck: {job}"
        time.sleep(0.2)


def assert_whole(stack, job_id: str, dataset_id: str) -> dict:
    """Nothing lost, nothing stuck: the job's history has each epoch once and the stored result
    was read from that very history; nothing is held any more."""
    client = stack["client"]
    job = wait_until(client, job_id, lambda j: j["status"] in ("succeeded", "failed", "cancelled"))
    assert job["status"] == "succeeded", job
    run = client.get(f"/v1/jobs/{job_id}/history").json()["runs"][0]
    assert run["epochs_completed"] == EPOCHS
    assert all(len(values) == EPOCHS for values in run["history"].values())
    diagnosis = client.get(f"/v1/jobs/{job_id}/diagnosis").json()
    assert diagnosis["final"] is True and diagnosis["verdict"] == job["verdict"]
    assert diagnosis["evidence"]["epochs"] == EPOCHS
    assert diagnosis["evidence"]["final_loss"] == pytest.approx(run["history"]["loss"][-1], rel=1e-3)
    redis = worker_client(stack["redis"].url, 15.0)
    assert not redis.sismember(keys.dataset_users(OPEN_TENANT, dataset_id), job_id)
    assert not redis.sismember(keys.running_jobs(), f"{OPEN_TENANT}/{job_id}")
    assert redis.zscore(keys.outbox(), f"{OPEN_TENANT}/{job_id}") is None
    return job


def submit(client: httpx.Client, dataset_id: str, **headers: str) -> httpx.Response:
    return client.post("/v1/jobs", json={"dataset_id": dataset_id, "data": {"target": "label"},
                                         "training": {"epochs": EPOCHS}}, headers=headers)


def training(client: httpx.Client, job_id: str, epoch: int = 2) -> None:
    wait_until(client, job_id, lambda j: j["status"] == "running" and j["progress"]["epoch"] >= epoch, 120)


def test_redis_restarted_mid_job_finishes_with_each_epoch_once(stack, series):
    client, server = stack["client"], stack["redis"]
    job = submit(client, series).json()
    training(client, job["id"])
    server.stop()  # SIGTERM: Redis writes its AOF and exits, as on a restart
    time.sleep(1.0)
    server.start()
    done = assert_whole(stack, job["id"], series)
    assert done["status"] == "succeeded"


def follow_events(url: str, job_id: str, lines: list[str]) -> None:
    """Reads a job's event stream to its end; a stream that hangs trips the read timeout instead."""
    with httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=40)) as own:
        with own.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            lines.append(f"status: {response.status_code} {response.headers.get('retry-after')}")
            lines.extend(response.iter_lines())


def test_redis_frozen_past_the_lease_fences_the_stale_trainer(stack, series):
    client, server = stack["client"], stack["redis"]
    job = submit(client, series).json()
    training(client, job["id"])
    # A stream open when Redis freezes must end (cleanly), not hang.
    open_stream: list[str] = []
    reader = threading.Thread(target=follow_events, args=(stack["api"].url, job["id"], open_stream), daemon=True)
    reader.start()
    wait_for_line = time.monotonic() + 30
    while not any(line.startswith("event: epoch") for line in open_stream) and time.monotonic() < wait_for_line:
        time.sleep(0.1)
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        # While Redis is frozen the API says so, quickly, and stays alive.
        frozen = client.get("/v1/jobs", timeout=10)
        assert frozen.status_code == 503 and frozen.headers["retry-after"]
        assert frozen.headers["content-type"] == "application/problem+json"
        assert client.get("/healthz", timeout=10).status_code == 200
        # A stream asked for now: 503 with Retry-After, or a stream that ends by itself.
        new_stream: list[str] = []
        follow_events(stack["api"].url, job["id"], new_stream)
        assert new_stream[0].startswith("status: 503 ") and not new_stream[0].endswith("None") or \
            "event: end" in new_stream, new_stream
        time.sleep(5.0)  # past the 3 s lease
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    reader.join(timeout=60)
    assert not reader.is_alive() and "event: end" in open_stream, open_stream[-5:]
    done = assert_whole(stack, job["id"], series)
    # The first attempt's lease lapsed while Redis was frozen: it was fenced off, the job was
    # requeued, and the second attempt's history is the one kept.
    assert JobStore(worker_client(server.url, 15.0)).get(OPEN_TENANT, job["id"]).attempts == 2
    assert done["started_at"]


def test_broker_refusing_the_submit_leaves_no_orphan(stack, series):
    """The API's broker is unreachable: the job is recorded with a reason, the outbox sweep of the
    worker (whose broker works) sends it, and it runs."""
    settings = stack["settings"]
    container = Container.from_settings(settings)
    container.celery = make_celery(settings, f"redis://127.0.0.1:{free_port()}/0")
    with ServerThread(create_app(settings, container)) as api, httpx.Client(base_url=api.url, timeout=30) as client:
        response = submit(client, series)
        assert response.status_code == 202, response.text
        assert "not in a worker queue yet" in response.json()["reason"]
    assert_whole(stack, response.json()["id"], series)


def test_idempotent_submit_racing_from_20_threads_makes_one_job(stack, series):
    client = stack["client"]
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(20)

    def post() -> None:
        with httpx.Client(base_url=stack["api"].url, timeout=30) as own:
            barrier.wait()
            answers.append(submit(own, series, **{"Idempotency-Key": "race-20"}))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 20
    assert {a.status_code for a in answers} <= {202, 409}, [a.text for a in answers if a.status_code >= 500]
    ids = {a.json()["id"] for a in answers if a.status_code == 202}
    assert len(ids) == 1
    listed = client.get("/v1/jobs", params={"dataset_id": series, "limit": 200}).json()["items"]
    job_id = ids.pop()
    assert [j["id"] for j in listed].count(job_id) == 1
    # A retry after the race gets the same job.
    assert submit(client, series, **{"Idempotency-Key": "race-20"}).json()["id"] == job_id
    assert_whole(stack, job_id, series)


def test_nothing_is_left_queued_or_running(stack, series):
    """After every fault above: no job of this stack waits or runs, and the dataset can go."""
    client = stack["client"]
    jobs = client.get("/v1/jobs", params={"limit": 200}).json()["items"]
    assert jobs and all(JobStatus(j["status"]).finished for j in jobs), [(j["id"], j["status"]) for j in jobs]
    assert client.delete(f"/v1/datasets/{series}").status_code == 204
