"""The objects the routes need, built once per app and handed to routes through ``deps``."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
import redis.asyncio as aioredis
from celery import Celery

from core.blobs import BlobCache, BlobStore, open_blob_cache
from core.broker import make_celery
from core.datasets import DatasetStore
from core.diagnoses import DiagnosisStore
from core.idempotency import IdempotencyStore
from core.jobs import JobStore
from core.lifecycle import Lifecycle
from core.redis_client import api_async_client, api_client
from core.retention import Retention
from core.settings import Settings
from core.trained_models import ModelStore
from service.auth import Keyring
from service.plot_cache import PlotCache


@dataclass
class Container:
    settings: Settings
    redis: redis.Redis
    aredis: aioredis.Redis  # for pub/sub streams, which must not hold a thread each
    jobs: JobStore
    lifecycle: Lifecycle
    datasets: DatasetStore
    diagnoses: DiagnosisStore
    blob_cache: BlobCache  # local copies of blobs; holds `blobs` below
    celery: Celery
    keyring: Keyring
    idempotency: IdempotencyStore
    models: ModelStore
    retention: Retention
    plots: PlotCache = field(default_factory=PlotCache)

    @property
    def blobs(self) -> BlobStore:
        return self.blob_cache.store

    @classmethod
    def from_settings(cls, settings: Settings) -> Container:
        if not settings.redis_url:
            raise RuntimeError("LSTM_DOCTOR_REDIS_URL is not set (`lstm-doctor serve` sets it for you).")
        # Short timeouts: a request that meets a frozen Redis answers 503 in about a second.
        client = api_client(settings.redis_url)
        return cls(
            settings=settings,
            redis=client,
            aredis=api_async_client(settings.redis_url),
            jobs=JobStore(client),
            lifecycle=Lifecycle(client, heartbeat_ttl_s=settings.heartbeat_ttl_s),
            datasets=DatasetStore(client),
            diagnoses=DiagnosisStore(client),
            blob_cache=open_blob_cache(settings),
            celery=make_celery(settings, settings.redis_url),
            keyring=Keyring.from_settings(settings),
            idempotency=IdempotencyStore(client),
            models=ModelStore(client),
            retention=Retention(client, settings.retention_s),
            plots=PlotCache(max_bytes=settings.plot_cache_mb * 1024 * 1024),
        )
