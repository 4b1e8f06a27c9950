"""The FastAPI application factory."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.logging import configure as configure_logging
from core.settings import Settings
from service import problems
from service.container import Container
from service.routes import datasets, health, job_results, jobs


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    container = container or Container.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        container.redis.close()
        await container.aredis.aclose()

    app = FastAPI(
        title="lstm-doctor",
        version="1.0.0",
        summary="Train LSTM models and learn, with evidence, whether they underfit, overfit or fit well.",
        lifespan=lifespan,
    )
    app.state.container = container
    problems.install(app)
    for module in (health, datasets, jobs, job_results):
        app.include_router(module.router)
    return app
