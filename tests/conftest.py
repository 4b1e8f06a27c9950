"""Real parts for the tests: an embedded Redis server, a Celery worker process training with
Keras, and the API served by uvicorn on a loopback port. Started once per test session."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from core.embedded_redis import EmbeddedRedis
from core.processes import stop_process_group
from core.settings import Settings
from service.app import create_app
from tests.helpers import TENANT_KEYS, ServerThread, start_worker, wait_for_worker


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lstm-doctor")


@pytest.fixture(scope="session")
def redis_server(data_dir: Path):
    with EmbeddedRedis(data_dir / "redis") as server:
        yield server


@pytest.fixture(scope="session")
def settings(redis_server: EmbeddedRedis, data_dir: Path) -> Settings:
    # Webhook tests run a receiver on loopback, and retry within seconds rather than hours.
    return Settings(redis_url=redis_server.url, data_dir=data_dir, log_level="WARNING", heartbeat_s=1.0,
                    webhook_allow_hosts="127.0.0.1", webhook_retry_delays_s="0.3,0.6,1", _env_file=None)


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


@pytest.fixture(scope="session")
def worker(settings: Settings, redis_client: redis.Redis):
    process = start_worker(settings, "test-worker")
    wait_for_worker(redis_client, "test-worker@", process)
    yield process
    stop_process_group(process, grace_s=5)


@pytest.fixture(scope="session")
def api(settings: Settings):
    with ServerThread(create_app(settings)) as server:
        yield server


@pytest.fixture(scope="session")
def keyed_api(settings: Settings):
    """The same API with keys (helpers.TENANT_KEYS), on the same Redis and worker as `api`."""
    keys = ",".join(f"{tenant}:{key}" for tenant, key in TENANT_KEYS.items())
    with ServerThread(create_app(settings.model_copy(update={"api_keys": keys}))) as server:
        yield server


@pytest.fixture(scope="session")
def client(api: ServerThread):
    with httpx.Client(base_url=api.url, timeout=30) as http:
        yield http
