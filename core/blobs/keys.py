"""Blob object names. Nothing else spells one; ids are ours, never a client's filename."""

from __future__ import annotations


def dataset(tenant: str, dataset_id: str) -> str:
    return f"datasets/{tenant}/{dataset_id}"


def model(tenant: str, job_id: str, run: int, attempt: int) -> str:
    """A run's trained `.keras` model, as one attempt at the job saved it: a stale trainer (its job
    requeued and claimed again) can never overwrite the file the current attempt recorded."""
    return f"models/{tenant}/{job_id}/attempt-{attempt}/run-{run}.keras"


def job_models_prefix(tenant: str, job_id: str) -> str:
    return f"models/{tenant}/{job_id}/"
