"""Stored records → API resources (links, defaults, column-wise histories, why a job waits)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from core import worker_registry
from core.job_config import main_metric
from core.job_record import JobRecord, JobStatus


def plot_links(base: str, metrics: list[str]) -> dict[str, str]:
    return {metric: f"{base}/plots/{metric}.png" for metric in metrics}


_FIELDS = (
    "id",
    "status",
    "dataset_id",
    "config",
    "created_at",
    "expires_at",
    "started_at",
    "finished_at",
    "device",
    "verdict",
    "error",
    "data_spec",
    "estimate",
    "cudnn",
)


def job_resource(record: JobRecord, reason: str | None = None) -> dict[str, Any]:
    base = f"/v1/jobs/{record.id}"
    return {
        **{name: getattr(record, name) for name in _FIELDS},
        "reason": reason if reason is not None else (record.reason if record.status == JobStatus.QUEUED else None),
        "progress": record.progress
        or {"run": 1, "runs": record.runs, "epoch": 0, "epochs": record.epochs, "fraction": 0.0},
        # Data checks made before the first epoch; the diagnosis carries them with the training findings.
        "findings": record.data_findings or [],
        "stopped": record.stopped or [],
        "links": {
            "self": base,
            "history": f"{base}/history",
            "diagnosis": f"{base}/diagnosis",
            "events": f"{base}/events",
            "plots": plot_links(base, ["loss", main_metric(record.task), "gradients"]),
            "model": f"{base}/model",
            "predictions": f"{base}/predictions",
            "deliveries": f"{base}/deliveries",
        },
    }


def waiting_reasons(client: redis.Redis, records: Iterable[JobRecord]) -> dict[str, str]:
    """Why each queued job waits, in words: what the lifecycle recorded (requeued after a lost
    worker, message not sent yet), else whether any online worker serves its queue at all."""
    queued = [r for r in records if r.status == JobStatus.QUEUED]
    if not queued:
        return {}
    online = worker_registry.online(client)
    reasons = {}
    for record in queued:
        if record.reason:
            reasons[record.id] = record.reason
            continue
        queue = worker_registry.route(record.config.get("device", "auto"), online)
        if not any(queue in w.get("queues", []) for w in online):
            reasons[record.id] = f"no worker online serves the '{queue}' queue; the job starts when one comes online"
        else:
            reasons[record.id] = f"waiting for a free worker on the '{queue}' queue"
    return reasons


def columns(epochs: list[dict[str, float | None]]) -> dict[str, list[float | None]]:
    """Per-epoch dicts → Keras' ``history.history`` layout (metric → list)."""
    names: list[str] = []
    for entry in epochs:
        names += [name for name in entry if name not in names]
    return {name: [entry.get(name) for entry in epochs] for name in names}


def is_final(record: JobRecord) -> bool:
    return record.status.finished
