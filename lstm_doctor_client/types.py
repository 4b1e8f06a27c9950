"""Typed results of the lstm-doctor API. Unknown fields are kept (the server may add some)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL = ("succeeded", "failed", "cancelled")


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow")


class Dataset(_Result):
    id: str
    name: str
    format: str
    size_bytes: int
    sha256: str
    rows: int | None = None
    columns: list[str] | None = None
    shape: dict[str, list[int]] | None = None
    created_at: str


class Progress(_Result):
    run: int
    runs: int
    epoch: int
    epochs: int
    fraction: float


class JobError(_Result):
    type: str
    message: str


class Job(_Result):
    id: str
    status: JobStatus
    dataset_id: str
    config: dict[str, Any]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: Progress
    device: dict[str, Any] | None = None
    verdict: str | None = None
    error: JobError | None = None
    data_spec: dict[str, Any] | None = None
    links: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


class Evidence(_Result):
    epochs: int | None = None
    best_epoch: int | None = None
    final_loss: float | None = None
    final_val_loss: float | None = None
    baseline_loss: float | None = None


class Diagnosis(_Result):
    verdict: str
    final: bool
    confidence: float
    reasons: list[str]
    flags: list[str]
    summary: str
    recommendations: list[str]
    evidence: Evidence


class RunHistory(_Result):
    run: int
    seed: int
    epochs_completed: int
    history: dict[str, list[float | None]]


class History(_Result):
    runs: list[RunHistory]


class Prediction(_Result):
    id: str
    job_id: str
    run: int
    status: Literal["queued", "succeeded", "failed"]
    count: int
    predictions: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    links: dict[str, str]


class Event(_Result):
    id: str
    type: str
    created_at: str
    data: dict[str, Any]


class EventPage(_Result):
    items: list[Event]
    next_cursor: str | None = None


class Delivery(_Result):
    id: str
    event: str
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int = 0
    attempts: list[dict[str, Any]]
