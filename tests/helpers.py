"""Small things tests share: datasets as bytes, waiting for a job, starting a worker process or
an API server of our own. Fixtures live in conftest.py; this module holds plain functions."""
from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import redis
import uvicorn

from core.embedded_redis import free_port
from core.ids import new_id, now
from core.job_record import JobRecord, JobStatus
from core.lifecycle import Lifecycle
from core.settings import Settings
from service.worker_command import worker_command

# Valid datasets of every format (tests/corpus/make_corpus.py).
GOOD = Path(__file__).parent / "corpus" / "good"

TERMINAL = {"succeeded", "failed", "cancelled"}
# Tenants of the keyed API (conftest's `keyed_api`): each module that needs keys has a tenant of
# its own, so what one module stores never shows up in another's lists and counts.
TENANT_KEYS = {"acme": "KEY_A", "beta": "KEY_B", "ops": "KEY_OPS", "fuzz": "KEY_FUZZ"}


def store_job(client: redis.Redis, tenant: str, dataset_id: str, config: dict, status: str = "queued",
              epochs: list[dict] | None = None, **result) -> str:
    """A job taken through the lifecycle by the test itself, no worker involved: submitted (and
    taken out of the outbox, so no worker is ever sent it), then, for other statuses, claimed,
    given ``epochs`` and ended with ``status`` and ``result`` (verdict, error, diagnosis)."""
    lifecycle = Lifecycle(client)
    record = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=dataset_id, config=config,
                       created_at=now(), queued_at=now())
    lifecycle.submit(tenant, record)
    lifecycle.forget_outbox(tenant, record.id)
    if status != JobStatus.QUEUED:
        claim = lifecycle.claim(tenant, record, "test:0", {"type": "cpu", "name": "test", "worker": "test"})
        assert claim is not None
        if epochs:
            lifecycle.append_epochs(claim, 1, 1, epochs, {"run": 1, "runs": 1, "epoch": len(epochs),
                                                          "epochs": len(epochs), "fraction": 1.0})
        if status != JobStatus.RUNNING:
            lifecycle.finish(claim, JobStatus(status), **result)
    return record.id


WORKER_START_S = 120


def classic_csv(rows: int = 200, seed: int = 0) -> bytes:
    """The classic example: x uniform in [0, 1), label = x > 0.5."""
    x = np.random.default_rng(seed).random(rows)
    lines = ["x,label", *(f"{v:.6f},{int(v > 0.5)}" for v in x)]
    return ("\n".join(lines) + "\n").encode()


def upload(client: httpx.Client, content: bytes, filename: str = "data.csv", **kwargs) -> httpx.Response:
    return client.post("/v1/datasets", files={"file": (filename, io.BytesIO(content))}, **kwargs)


def wait_for(client: httpx.Client, job_id: str, statuses=TERMINAL, timeout_s: float = 120, **kwargs) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}", **kwargs).json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s: {job}")
        time.sleep(0.2)


def submit(client: httpx.Client, dataset_id: str, **config) -> dict:
    headers = config.pop("headers", None)
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, **config}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def csv_bytes(columns: dict[str, list]) -> bytes:
    names = list(columns)
    rows = zip(*columns.values())
    return (",".join(names) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)).encode()


def read_sse(client: httpx.Client, url: str, timeout_s: float = 120, **kwargs) -> list[tuple[str, dict]]:
    """All events of a stream until the server closes it."""
    events: list[tuple[str, dict]] = []
    event = None
    with client.stream("GET", url, timeout=timeout_s, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                events.append((event, json.loads(line.split(":", 1)[1])))
                event = None
    return events


def start_worker(settings: Settings, name: str) -> subprocess.Popen:
    env = {**os.environ, "LSTM_DOCTOR_REDIS_URL": settings.redis_url, "LSTM_DOCTOR_DATA_DIR": str(settings.data_dir),
           "LSTM_DOCTOR_HEARTBEAT_S": str(settings.heartbeat_s), "LSTM_DOCTOR_LOG_LEVEL": "WARNING",
           "LSTM_DOCTOR_JOB_SOFT_TIME_LIMIT_S": str(settings.job_soft_time_limit_s),
           "LSTM_DOCTOR_MAX_REDELIVERIES": str(settings.max_redeliveries),
           "LSTM_DOCTOR_WEBHOOK_ALLOW_HOSTS": settings.webhook_allow_hosts,
           "LSTM_DOCTOR_WEBHOOK_RETRY_DELAYS_S": settings.webhook_retry_delays_s,
           "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(worker_command(settings, name), env=env, start_new_session=True)


def wait_until_answering(url: str, process: subprocess.Popen, timeout_s: float = 180) -> httpx.Response:
    """Polls ``url`` (a probe of a process the test started) until it answers 200; raises if the
    process exits first or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{url} never answered: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s:g} s")
        time.sleep(0.3)


def wait_for_worker(client: redis.Redis, hostname_prefix: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WORKER_START_S
    while time.monotonic() < deadline:
        if any(k.split(":", 2)[2].startswith(hostname_prefix) for k in client.scan_iter("ld:worker:*")):
            return
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}")
        time.sleep(0.2)
    raise RuntimeError("worker did not come online")


class ServerThread:
    """uvicorn in a thread of the test process: real sockets, real HTTP, no TensorFlow here."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def bearer(tenant: str) -> dict[str, str]:
    """The Authorization header of a tenant of the keyed API."""
    return {"Authorization": f"Bearer {TENANT_KEYS[tenant]}"}
