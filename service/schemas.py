"""Response models: the docs/api.md contract as pydantic types, from which OpenAPI is generated."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from core.job_config import JobConfig, Task
from core.job_record import JobStatus

Verdict = Literal["underfit", "overfit", "good_fit", "unstable", "inconclusive"]
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Dataset(BaseModel):
    id: str
    name: str
    format: Literal["csv", "npz", "parquet"]
    size_bytes: int
    sha256: str
    rows: int | None = None
    columns: list[str] | None = None
    shape: dict[str, list[int]] | None = None
    created_at: str
    expires_at: str | None = Field(None, description="When the dataset (record and bytes) will be removed.")


class Progress(BaseModel):
    run: int
    runs: int
    epoch: int
    epochs: int
    fraction: float


class Device(BaseModel):
    type: Literal["gpu", "cpu"]
    name: str
    worker: str


class JobError(BaseModel):
    type: str
    message: str


class CudnnReport(BaseModel):
    """Whether the LSTM layers can run on the fused cuDNN kernel on a GPU, and why not."""

    eligible: bool
    reasons: list[str]


class CostEstimate(BaseModel):
    """What the job was estimated to cost when it was accepted (checked against the server's limits)."""

    parameters: int
    memory_mb: float = Field(description="Peak: data + model + optimizer + one batch.")
    data_mb: float
    model_mb: float
    batch_mb: float
    epoch_seconds: float
    total_seconds: float


class Finding(BaseModel):
    """A named check with its parameters, status and evidence (diagnosis.findings)."""

    rule: str = Field(description="e.g. class_imbalance, saturated_gates, exploding_gradients")
    status: Literal["ok", "issue_found", "not_evaluated"]
    parameters: dict[str, Any]
    evidence: dict[str, Any]
    message: str
    recommendation: str | None = None


class RuleStop(BaseModel):
    """A run that ``training.stop_on`` ended early."""

    run: int
    rule: str
    stop_on: Literal["nan", "exploding_gradients", "overfit"]
    epoch: int
    restored_epoch: int | None = Field(None, description="overfit: the epoch whose weights were restored")


class JobLinks(BaseModel):
    self: str
    history: str
    diagnosis: str
    events: str
    plots: dict[str, str]
    model: str | None = Field(None, description="The trained model zip (`?run=N`), once the job ended.")
    predictions: str | None = Field(None, description="POST rows here to run the trained model.")
    deliveries: str | None = Field(None, description="Webhook deliveries of this job.")


class Job(BaseModel):
    id: str
    status: JobStatus
    reason: str | None = Field(
        None,
        description="Why a queued job waits (no worker for its queue, requeued "
        "after a lost worker, not sent yet); null once it runs.",
    )
    dataset_id: str
    config: JobConfig
    created_at: str
    expires_at: str | None = Field(None, description="When the job and everything it produced will be removed.")
    started_at: str | None = None
    finished_at: str | None = None
    progress: Progress
    device: Device | None = None
    verdict: Verdict | None = None
    error: JobError | None = None
    data_spec: dict[str, Any] | None = Field(
        None, description="What was trained on: features, samples, class mapping, scaler statistics."
    )
    estimate: CostEstimate | None = None
    cudnn: CudnnReport | None = None
    findings: list[Finding] = Field(
        default_factory=list,
        description="Data checks: decided at submit from the upload's sketch where it can; the rest "
        '(not_evaluated, evidence {"deferred_to": "worker"}) by the worker before the first epoch.',
    )
    stopped: list[RuleStop] = Field(default_factory=list, description="Runs that training.stop_on ended early.")
    links: JobLinks


class Event(BaseModel):
    id: str = Field(description="Event id; pass it as `after` to read on from here.")
    type: Literal["status", "epoch"]
    created_at: str
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[Event]
    next_cursor: str | None = Field(
        None,
        description="`after` for the next page; null when this page reaches "
        "the end (poll again with the last id for newer events).",
    )


class RunHistory(BaseModel):
    run: int
    seed: int
    epochs_completed: int
    history: dict[str, list[float | None]]
    health: dict[str, list[Any]] | None = Field(
        None,
        description="Per-epoch numeric health (epoch 0 = before training): gradient norms, update ratios, "
        "gate saturation, dead units per layer (`name/layer`).",
    )


class JobHistory(BaseModel):
    """GET /v1/jobs/{id}/history: one entry per run (diagnosis.History is one run's Keras history)."""

    runs: list[RunHistory]


class Evidence(BaseModel):
    model_config = {"extra": "allow"}

    epochs: int | None = None
    best_epoch: int | None = None
    final_loss: float | None = None
    final_val_loss: float | None = None
    min_val_loss: float | None = None
    val_loss_rise: float | None = None
    generalization_gap: float | None = None
    baseline_loss: float | None = None
    loss_vs_baseline: float | None = None
    train_slope: float | None = None
    val_slope: float | None = None
    final_accuracy: float | None = None
    final_val_accuracy: float | None = None


class Diagnosis(BaseModel):
    model_config = {"extra": "allow"}

    verdict: Verdict
    final: bool
    confidence: float = Field(ge=0, le=1)
    reasons: list[str]
    flags: list[str]
    summary: str
    recommendations: list[str]
    evidence: Evidence
    runs: list[dict[str, Any]] = []
    spread: dict[str, Any] | None = None
    findings: list[Finding] = []


class DiagnosisLinks(BaseModel):
    self: str
    plots: dict[str, str]


class StoredDiagnosis(Diagnosis):
    id: str
    task: Task | None = None
    created_at: str
    expires_at: str | None = Field(None, description="When the stored diagnosis will be removed.")
    links: DiagnosisLinks
