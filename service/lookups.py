"""A tenant's resource by id, or a 404 problem: one wording for every route.

Another tenant's resource is looked up under this tenant's keys, so it answers exactly like an id
that never existed.
"""

from __future__ import annotations

from typing import Any

from core.datasets import DatasetStore
from core.diagnoses import DiagnosisStore
from core.job_record import JobRecord
from core.jobs import JobStore
from service.problems import Problem


def not_found(kind: str, resource_id: str) -> Problem:
    return Problem(404, f"There is no {kind} {resource_id!r}.")


def job_or_404(jobs: JobStore, tenant: str, job_id: str) -> JobRecord:
    record = jobs.get(tenant, job_id)
    if record is None:
        raise not_found("job", job_id)
    return record


def dataset_or_404(datasets: DatasetStore, tenant: str, dataset_id: str) -> dict[str, Any]:
    meta = datasets.get(tenant, dataset_id)
    if meta is None:
        raise not_found("dataset", dataset_id)
    return meta


def diagnosis_or_404(diagnoses: DiagnosisStore, tenant: str, diagnosis_id: str) -> dict[str, Any]:
    record = diagnoses.get(tenant, diagnosis_id)
    if record is None:
        raise not_found("diagnosis", diagnosis_id)
    return record
