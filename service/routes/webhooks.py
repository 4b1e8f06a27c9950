"""Webhook deliveries of a job, and the tenant's signing secrets (read, rotate)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from core.job_config import WebhookEvent
from core.webhooks.signing import SecretStore
from service.deps import ContainerDep, Jobs, Tenant
from service.lookups import job_or_404
from service.problems import ProblemDetails

router = APIRouter(tags=["webhooks"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ProblemDetails} for code in (401, 404)}


class Attempt(BaseModel):
    at: str
    ok: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: float


class Delivery(BaseModel):
    id: str = Field(description="The `webhook-id` header: the same on every attempt, for dropping duplicates.")
    event: WebhookEvent
    type: str
    url: str
    status: Literal["pending", "succeeded", "failed"] = Field(
        description="pending: not delivered yet (see next_attempt_at); failed: every retry was refused."
    )
    created_at: str
    next_attempt_at: str | None = None
    attempt_count: int = 0
    attempts: list[Attempt] = Field(description="The latest attempts, oldest first.")


class DeliveryList(BaseModel):
    items: list[Delivery]


class Secret(BaseModel):
    secret: str = Field(description="`whsec_` + base64 key, as Standard Webhooks libraries take it.")
    created_at: str
    expires_at: str | None = Field(description="null: the current secret; else it stops signing then.")


class Secrets(BaseModel):
    secrets: list[Secret] = Field(description="Every secret that signs deliveries now, newest first.")


class Rotation(BaseModel):
    model_config = {"extra": "forbid"}
    overlap_s: int | None = Field(
        None,
        ge=0,
        le=30 * 24 * 3600,
        description="How long the current secret keeps signing too (default: the "
        "server's LSTM_DOCTOR_WEBHOOK_SECRET_OVERLAP_S).",
    )


@router.get("/v1/jobs/{job_id}/deliveries", response_model=DeliveryList, responses=_ERRORS)
def list_deliveries(job_id: str, tenant: Tenant, jobs: Jobs) -> dict:
    job_or_404(jobs, tenant, job_id)
    items = jobs.deliveries.list(tenant, job_id)
    return {"items": [{k: v for k, v in item.items() if k != "body"} for item in items]}


@router.get("/v1/webhooks/secrets", response_model=Secrets, responses=_ERRORS)
def get_secrets(tenant: Tenant, container: ContainerDep) -> dict:
    return {"secrets": SecretStore(container.redis).active(tenant)}


@router.post("/v1/webhooks/secrets/rotate", response_model=Secrets, responses=_ERRORS)
def rotate_secret(tenant: Tenant, container: ContainerDep, rotation: Annotated[Rotation | None, Body()] = None) -> dict:
    asked = rotation.overlap_s if rotation is not None else None
    overlap = container.settings.webhook_secret_overlap_s if asked is None else asked
    return {"secrets": SecretStore(container.redis).rotate(tenant, overlap)}
