"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.logging import configure as configure_logging
from core.redis_client import required_url
from core.settings import Settings
from service import openapi, problems, quotas
from service.container import Container
from service.edge import EdgeMiddleware
from service.event_hub import EventHub
from service.housekeeping import sweep_forever
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, ConditionalGetMiddleware, RequestContextMiddleware
from service.readiness import Readiness, probe_client
from service.routes import datasets, diagnoses, health, job_models, job_results, jobs, predictions, webhooks
from service.stream_slots import StreamSlots


def create_app(settings: Settings, container: Container | None = None) -> FastAPI:
    """The app for ``settings``, which the caller built once (a process builds its Settings at
    its entry point and hands them down; nothing below reads the environment again)."""
    configure_logging(settings.log_level)
    container = container or Container.from_settings(settings)
    # Probes and scrapes use their own short-timeout client: they must answer fast, Redis or not.
    probe = probe_client(required_url(container.settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        sweeper = asyncio.create_task(sweep_forever(container))
        yield
        sweeper.cancel()
        await app.state.event_hub.close()
        container.redis.close()
        probe.close()
        await container.aredis.aclose()

    app = FastAPI(
        title="lstm-doctor",
        version="1.0.0",
        summary="Train LSTM models and learn, with evidence, whether they underfit, overfit or fit well.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.metrics = Metrics(probe)
    app.state.readiness = Readiness(probe)
    app.state.event_hub = EventHub(container.aredis)
    app.state.stream_slots = StreamSlots(container.aredis, container.settings.max_streams_per_tenant)
    problems.install(app)
    openapi.install(app)
    quotas.install(app)
    # Last added runs first: request id and metrics see every answer, 304s and 413s included.
    app.add_middleware(ConditionalGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=container.settings.max_upload_bytes)
    # Authentication and id shapes are checked before any body is read (or any limit applied).
    app.add_middleware(EdgeMiddleware, keyring=container.keyring)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    for module in (health, datasets, jobs, job_results, job_models, predictions, webhooks, diagnoses):
        app.include_router(module.router)
    return app


def app_from_environment() -> FastAPI:
    """Entry point of each API process when uvicorn runs several (LSTM_DOCTOR_API_WORKERS > 1):
    every process builds its Settings from the environment, which `lstm-doctor` filled."""
    return create_app(Settings())
