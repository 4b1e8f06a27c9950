"""Stored records → API resources (links, defaults, column-wise histories)."""

from __future__ import annotations

from typing import Any

from core.job_config import main_metric
from core.jobs import FINISHED


def plot_links(base: str, metrics: list[str]) -> dict[str, str]:
    return {metric: f"{base}/plots/{metric}.png" for metric in metrics}


def job_resource(record: dict[str, Any]) -> dict[str, Any]:
    config = record["config"]
    base = f"/v1/jobs/{record['id']}"
    runs, epochs = config["training"]["repeats"], config["training"]["epochs"]
    return {
        **{
            k: record.get(k)
            for k in (
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
        },
        "progress": record.get("progress") or {"run": 1, "runs": runs, "epoch": 0, "epochs": epochs, "fraction": 0.0},
        # Data checks made before the first epoch; the diagnosis carries them with the training findings.
        "findings": record.get("data_findings") or [],
        "stopped": record.get("stopped") or [],
        "links": {
            "self": base,
            "history": f"{base}/history",
            "diagnosis": f"{base}/diagnosis",
            "events": f"{base}/events",
            "plots": plot_links(base, ["loss", main_metric(config.get("task")), "gradients"]),
            "model": f"{base}/model",
            "predictions": f"{base}/predictions",
            "deliveries": f"{base}/deliveries",
        },
    }


def columns(epochs: list[dict[str, float | None]]) -> dict[str, list[float | None]]:
    """Per-epoch dicts → Keras' ``history.history`` layout (metric → list)."""
    names: list[str] = []
    for entry in epochs:
        names += [name for name in entry if name not in names]
    return {name: [entry.get(name) for entry in epochs] for name in names}


def is_final(record: dict[str, Any]) -> bool:
    return record["status"] in FINISHED
