"""/v1/diagnoses: diagnose a Keras history trained elsewhere, then read it and its plots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from core import quota
from core.ids import new_id, now
from diagnosis.engine import diagnose
from diagnosis.history import available_metrics
from service import quotas
from service.deps import ContainerDep, Plots, Tenant
from service.diagnosis_request import DiagnosisRequest, check_histories
from service.lookups import diagnosis_or_404
from service.plot_responses import PLOT_RESPONSES, plot_response
from service.presenters import plot_links
from service.problems import problem_responses
from service.schemas import StoredDiagnosis

router = APIRouter(prefix="/v1/diagnoses", tags=["diagnoses"])
_ERRORS = problem_responses(401, 404, 422, 429, 507)


def _resource(record: dict[str, Any]) -> dict[str, Any]:
    base = f"/v1/diagnoses/{record['id']}"
    return {
        **record["diagnosis"],
        "id": record["id"],
        "task": record["task"],
        "created_at": record["created_at"],
        "expires_at": record.get("expires_at"),
        "links": {"self": base, "plots": plot_links(base, available_metrics(record["runs"]))},
    }


@router.post("", status_code=201, response_model=StoredDiagnosis, responses=_ERRORS)
def create_diagnosis(body: DiagnosisRequest, response: Response, tenant: Tenant, container: ContainerDep) -> dict:
    histories = body.histories()
    check_histories(histories)
    diagnosis = diagnose(histories, task=body.task, baseline_loss=body.baseline_loss, final=True)
    expires_ts, expires_at = container.retention.expires_at()
    diagnosis_id = new_id("dx")
    record = {
        "id": diagnosis_id,
        "task": body.task,
        "created_at": now(),
        "expires_at": expires_at,
        "runs": histories,
        "diagnosis": diagnosis,
    }
    try:
        container.diagnoses.create(tenant, record, max_count=container.settings.max_diagnoses, expires_ts=expires_ts)
    except quota.Full as exc:
        raise quotas.full(exc, container.settings) from None
    response.headers["Location"] = f"/v1/diagnoses/{diagnosis_id}"
    return _resource(record)


@router.get("/{diagnosis_id}", response_model=StoredDiagnosis, responses=_ERRORS)
def get_diagnosis(diagnosis_id: str, tenant: Tenant, container: ContainerDep) -> dict:
    return _resource(diagnosis_or_404(container.diagnoses, tenant, diagnosis_id))


@router.get("/{diagnosis_id}/plots/{filename}", responses={**PLOT_RESPONSES, **_ERRORS})
def get_diagnosis_plot(
    diagnosis_id: str, filename: str, request: Request, tenant: Tenant, container: ContainerDep, plots: Plots
):
    record = diagnosis_or_404(container.diagnoses, tenant, diagnosis_id)
    return plot_response(request, plots, f"dx:{tenant}:{diagnosis_id}", record["runs"], record["diagnosis"], filename)
