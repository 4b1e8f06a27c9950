"""Dependencies as ``Annotated`` aliases, so a route's signature says what it uses.

They are ``async def`` on purpose: none of them blocks, and FastAPI runs a plain ``def``
dependency in the thread pool — one thread hop each, on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.blobs import BlobCache, BlobStore
from core.datasets import DatasetStore
from core.jobs import JobStore
from core.settings import Settings
from core.trained_models import ModelStore
from service.auth import OPEN_TENANT
from service.container import Container
from service.plot_cache import PlotCache
from service.problems import Problem

_bearer = HTTPBearer(auto_error=False, description="API key of your tenant")


async def get_container(request: Request) -> Container:
    return request.app.state.container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_tenant(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    keyring = container.keyring
    if keyring.open:
        return OPEN_TENANT
    tenant = keyring.tenant_for(credentials.credentials) if credentials else None
    if tenant is None:
        detail = (
            "Send your API key as 'Authorization: Bearer <key>'."
            if credentials is None
            else "The API key is not known."
        )
        raise Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})
    return tenant


async def _settings(container: ContainerDep) -> Settings:
    return container.settings


async def _jobs(container: ContainerDep) -> JobStore:
    return container.jobs


async def _datasets(container: ContainerDep) -> DatasetStore:
    return container.datasets


async def _blobs(container: ContainerDep) -> BlobStore:
    return container.blobs


async def _blob_cache(container: ContainerDep) -> BlobCache:
    return container.blob_cache


async def _models(container: ContainerDep) -> ModelStore:
    return container.models


async def _plots(container: ContainerDep) -> PlotCache:
    return container.plots


Tenant = Annotated[str, Depends(get_tenant)]
SettingsDep = Annotated[Settings, Depends(_settings)]
Jobs = Annotated[JobStore, Depends(_jobs)]
Datasets = Annotated[DatasetStore, Depends(_datasets)]
Blobs = Annotated[BlobStore, Depends(_blobs)]
BlobFiles = Annotated[BlobCache, Depends(_blob_cache)]
Plots = Annotated[PlotCache, Depends(_plots)]
Models = Annotated[ModelStore, Depends(_models)]
