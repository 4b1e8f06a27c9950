"""/v1/diagnoses: diagnose a Keras history trained elsewhere, then read it and its plots."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import Task
from core.ids import new_id, now
from diagnosis.engine import diagnose
from diagnosis.history import available_metrics
from service.deps import ContainerDep, Plots, Tenant
from service.plot_responses import PLOT_RESPONSES, plot_response
from service.presenters import plot_links
from service.problems import Problem, ProblemDetails
from service.schemas import StoredDiagnosis

router = APIRouter(prefix="/v1/diagnoses", tags=["diagnoses"])
_ERRORS = {code: {"model": ProblemDetails} for code in (401, 404, 422)}

MAX_EPOCHS = 100_000
MAX_RUNS = 100
MAX_METRICS = 64

# A value is a number, null, or NaN/Infinity spelt as a string (JSON has no NaN literal).
Value = float | None | Annotated[str, Field(pattern=r"^\s*[+-]?(?i:nan|inf|infinity)\s*$")]
KerasHistory = Annotated[dict[Annotated[str, Field(min_length=1, max_length=200)],
                              Annotated[list[Value], Field(max_length=MAX_EPOCHS)]],
                         Field(min_length=1, max_length=MAX_METRICS)]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    history: KerasHistory


class DiagnosisRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    history: KerasHistory | None = Field(None, description="One run's `history.history`.")
    runs: list[RunIn] | None = Field(None, min_length=1, max_length=MAX_RUNS, description="Several runs instead.")
    task: Task | None = None
    baseline_loss: float | None = Field(None, gt=0, description="Loss of the trivial predictor, if you know it.")

    @model_validator(mode="after")
    def _one_of(self) -> "DiagnosisRequest":
        if (self.history is None) == (self.runs is None):
            raise ValueError("send either 'history' (one run) or 'runs' (several), not both or neither")
        return self

    def histories(self) -> list[dict[str, list[Any]]]:
        return [self.history] if self.history is not None else [run.history for run in self.runs or []]


def _check(histories: list[dict[str, list[Any]]]) -> None:
    errors = []
    for i, history in enumerate(histories):
        where = ["body", "history"] if len(histories) == 1 else ["body", "runs", i, "history"]
        if "loss" not in history:
            errors.append({"loc": where, "msg": "a history needs 'loss' (and 'val_loss' to judge overfitting)"})
            continue
        lengths = {name: len(values) for name, values in history.items()}
        if lengths["loss"] == 0:
            errors.append({"loc": [*where, "loss"], "msg": "'loss' has no epochs"})
        for name, length in lengths.items():
            if length != lengths["loss"]:
                errors.append({"loc": [*where, name],
                               "msg": f"has {length} epochs but 'loss' has {lengths['loss']}"})
    if errors:
        raise Problem(422, "The history cannot be read: " + "; ".join(
            f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errors[:5]) + ".",
            title="Validation failed", errors=errors)


def _resource(record: dict[str, Any]) -> dict[str, Any]:
    base = f"/v1/diagnoses/{record['id']}"
    return {**record["diagnosis"], "id": record["id"], "task": record["task"], "created_at": record["created_at"],
            "links": {"self": base, "plots": plot_links(base, available_metrics(record["runs"]))}}


@router.post("", status_code=201, response_model=StoredDiagnosis, responses=_ERRORS)
async def create_diagnosis(body: DiagnosisRequest, response: Response, tenant: Tenant,
                           container: ContainerDep) -> dict:
    histories = body.histories()
    _check(histories)
    diagnosis = await run_in_threadpool(diagnose, histories, task=body.task, baseline_loss=body.baseline_loss,
                                        final=True)
    record = {"id": new_id("dx"), "task": body.task, "created_at": now(), "runs": histories,
              "diagnosis": diagnosis}
    container.diagnoses.create(tenant, record)
    response.headers["Location"] = f"/v1/diagnoses/{record['id']}"
    return _resource(record)


def _load(container: ContainerDep, tenant: str, diagnosis_id: str) -> dict[str, Any]:
    record = container.diagnoses.get(tenant, diagnosis_id)
    if record is None:
        raise Problem(404, f"There is no diagnosis {diagnosis_id!r}.")
    return record


@router.get("/{diagnosis_id}", response_model=StoredDiagnosis, responses=_ERRORS)
def get_diagnosis(diagnosis_id: str, tenant: Tenant, container: ContainerDep) -> dict:
    return _resource(_load(container, tenant, diagnosis_id))


@router.get("/{diagnosis_id}/plots/{filename}", responses={**PLOT_RESPONSES, **_ERRORS})
def get_diagnosis_plot(diagnosis_id: str, filename: str, request: Request, tenant: Tenant, container: ContainerDep,
                       plots: Plots):
    record = _load(container, tenant, diagnosis_id)
    return plot_response(request, plots, f"dx:{tenant}:{diagnosis_id}", record["runs"], record["diagnosis"], filename)
