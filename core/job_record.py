"""What a job is, as stored: its status and its record.

The record lives in a Redis hash with one JSON-encoded field per attribute (see ``core.keys.job``)
so a transition can set a few fields without rewriting the rest. Only ``core.lifecycle`` writes
it; everything else reads it through this type.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in ACTIVE

    @property
    def finished(self) -> bool:
        return self in FINISHED


ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobRecord(BaseModel):
    """One job as stored. ``config`` is the validated job config as JSON (validated once, at submit).

    ``attempts`` counts the times a trainer claimed the job; the current value is the attempt's
    fencing token: a trainer holding an older one can no longer write anything.
    The webhook a caller asked for lives in ``config`` (``config["webhook"]``), the trained models'
    records beside the record (``core.trained_models``). A field a newer version adds rides along
    unvalidated (``extra="allow"``), so a rolling upgrade reads old and new records alike.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    status: JobStatus
    dataset_id: str
    config: dict[str, Any]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    device: dict[str, Any] | None = None
    verdict: str | None = None
    error: dict[str, Any] | None = None
    data_spec: dict[str, Any] | None = None
    cudnn: dict[str, Any] | None = None
    attempts: int = 0
    progress: dict[str, Any] | None = None
    baseline_loss: float | None = None
    expires_at: str | None = None
    estimate: dict[str, Any] | None = None
    queue: str | None = None
    queued_at: str | None = None
    reason: str | None = None
    # Issue 17: data checks the worker made before the first epoch (None until then), and the runs
    # a health rule stopped early (``stop_on``).
    data_findings: list[dict[str, Any]] | None = None
    stopped: list[dict[str, Any]] = []

    @property
    def runs(self) -> int:
        return int(self.config["training"]["repeats"])

    @property
    def epochs(self) -> int:
        return int(self.config["training"]["epochs"])

    @property
    def seed(self) -> int:
        return int(self.config["training"]["seed"])

    @property
    def task(self) -> str | None:
        return self.config.get("task")

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> JobRecord:
        return cls.model_validate({name: json.loads(value) for name, value in raw.items()})

    def to_hash(self) -> dict[str, str]:
        return encode_fields(self.model_dump(mode="json"))


def encode_fields(fields: dict[str, Any]) -> dict[str, str]:
    """Hash field values as stored: JSON, so ``null`` and numbers survive the round trip."""
    return {name: json.dumps(value) for name, value in fields.items()}
