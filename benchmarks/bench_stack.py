"""The whole service on loopback for the benchmarks that go through HTTP: an embedded Redis, the
API in its own process (`lstm-doctor api`: uvicorn, as deployed) and Celery workers started with
the same command line as `lstm-doctor serve`. The benchmark process itself never imports
TensorFlow, so its client load does not share an interpreter with the server or a worker.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from core.embedded_redis import EmbeddedRedis, free_port
from core.processes import stop_process_group
from core.settings import Settings
from service.worker_command import worker_command

TERMINAL = {"succeeded", "failed", "cancelled"}
START_TIMEOUT_S = 180


class Stack:
    def __init__(self, workers: int = 1) -> None:
        self.initial_workers = workers
        self.workers: list[subprocess.Popen] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="lstm-doctor-bench-")
        self.data_dir = Path(self._tmp.name)
        self.redis = EmbeddedRedis(self.data_dir / "redis")
        self.port = free_port()
        self.api: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LSTM_DOCTOR_REDIS_URL": self.redis.url,
            "LSTM_DOCTOR_DATA_DIR": str(self.data_dir),
            "LSTM_DOCTOR_HOST": "127.0.0.1",
            "LSTM_DOCTOR_PORT": str(self.port),
            "LSTM_DOCTOR_API_KEYS": "",
            "LSTM_DOCTOR_LOG_LEVEL": "WARNING",
            # Benchmarks queue more jobs at once than a tenant may by default.
            "LSTM_DOCTOR_MAX_QUEUED_JOBS": "1000",
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }

    def __enter__(self) -> Stack:
        self.redis.start()
        self.api = subprocess.Popen([sys.executable, "-m", "service.cli", "api"], env=self.env(),
                                    start_new_session=True)
        for _ in range(self.initial_workers):
            self.add_worker()
        self.wait_ready(self.initial_workers)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in [*self.workers, self.api]:
            if process is not None:
                stop_process_group(process, grace_s=10)
        self.redis.stop()
        self._tmp.cleanup()

    def add_worker(self) -> subprocess.Popen:
        settings = Settings(redis_url=self.redis.url, data_dir=self.data_dir, _env_file=None)
        name = f"bench{len(self.workers) + 1}"
        process = subprocess.Popen(worker_command(settings, name), env=self.env(), start_new_session=True)
        self.workers.append(process)
        return process

    def wait_ready(self, workers: int) -> None:
        """Until /readyz answers 200 with this many workers online."""
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                try:
                    response = client.get("/readyz")
                    if response.status_code == 200 and len(response.json()["workers"]) >= workers:
                        return
                except httpx.TransportError:
                    pass
                if any(p.poll() is not None for p in [self.api, *self.workers]):
                    raise RuntimeError("the API or a worker exited while starting")
                time.sleep(0.2)
        raise RuntimeError(f"the service was not ready with {workers} workers in {START_TIMEOUT_S} s")

    def training_processes(self, worker: subprocess.Popen) -> list[psutil.Process]:
        """The prefork pool children of a worker: where Keras lives and jobs run."""
        return psutil.Process(worker.pid).children(recursive=True)


def upload(client: httpx.Client, content: bytes, name: str = "data.csv") -> str:
    response = client.post("/v1/datasets", files={"file": (name, io.BytesIO(content))})
    response.raise_for_status()
    return response.json()["id"]


def submit(client: httpx.Client, body: dict) -> str:
    response = client.post("/v1/jobs", json=body)
    response.raise_for_status()
    return response.json()["id"]


def wait_for(client: httpx.Client, job_id: str, statuses: frozenset[str] = frozenset({"succeeded"}),
             timeout_s: float = 600, poll_s: float = 0.05) -> dict:
    """Polls the job until its status is one of ``statuses``; a job that ends otherwise is an error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        if job["status"] in TERMINAL:
            raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
        time.sleep(poll_s)
    raise RuntimeError(f"job {job_id} not {'/'.join(statuses)} after {timeout_s} s")
