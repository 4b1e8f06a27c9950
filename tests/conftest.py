"""Real parts for the tests: an embedded Redis server, a Celery worker process training with
Keras, and the API served by uvicorn on a loopback port. Started once per test session."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis
import uvicorn

from core.embedded_redis import EmbeddedRedis, free_port
from core.settings import Settings
from service.app import create_app
from service.cli import stop_process_group, worker_command

WORKER_START_S = 120


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lstm-doctor")


@pytest.fixture(scope="session")
def redis_server(data_dir: Path):
    with EmbeddedRedis(data_dir / "redis") as server:
        yield server


@pytest.fixture(scope="session")
def settings(redis_server: EmbeddedRedis, data_dir: Path) -> Settings:
    return Settings(redis_url=redis_server.url, data_dir=data_dir, log_level="WARNING", heartbeat_s=1.0,
                    _env_file=None)


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


def start_worker(settings: Settings, name: str) -> subprocess.Popen:
    env = {**os.environ, "LSTM_DOCTOR_REDIS_URL": settings.redis_url, "LSTM_DOCTOR_DATA_DIR": str(settings.data_dir),
           "LSTM_DOCTOR_HEARTBEAT_S": str(settings.heartbeat_s), "LSTM_DOCTOR_LOG_LEVEL": "WARNING",
           "LSTM_DOCTOR_JOB_SOFT_TIME_LIMIT_S": str(settings.job_soft_time_limit_s),
           "LSTM_DOCTOR_MAX_REDELIVERIES": str(settings.max_redeliveries),
           "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(worker_command(settings, name), env=env, start_new_session=True)


def wait_for_worker(client: redis.Redis, hostname_prefix: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WORKER_START_S
    while time.monotonic() < deadline:
        if any(k.split(":", 2)[2].startswith(hostname_prefix) for k in client.scan_iter("ld:worker:*")):
            return
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}")
        time.sleep(0.2)
    raise RuntimeError("worker did not come online")


@pytest.fixture(scope="session")
def worker(settings: Settings, redis_client: redis.Redis):
    process = start_worker(settings, "test-worker")
    wait_for_worker(redis_client, "test-worker@", process)
    yield process
    stop_process_group(process, grace_s=5)


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

    def __enter__(self) -> "ServerThread":
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


@pytest.fixture(scope="session")
def api(settings: Settings):
    with ServerThread(create_app(settings)) as server:
        yield server


@pytest.fixture(scope="session")
def client(api: ServerThread):
    with httpx.Client(base_url=api.url, timeout=30) as http:
        yield http
