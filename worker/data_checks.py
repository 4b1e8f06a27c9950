"""The worker's data checks: the job's data resolved against the dataset file, then the rules of
``diagnosis.findings.data`` run on it (NumPy only, on raw rows, no TensorFlow).

Submit already ran them on the sketch stored at upload (``service.data_findings``) where the
sketch could decide. The worker, reading the file anyway, is the authority for the rest: it runs
before the first epoch and fills in what submit left ``not_evaluated``; when submit decided every
rule it reads nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.cost import parameter_count
from core.data.spec import ACCEPTED, resolve
from core.data.tables import scan_table
from core.job_config import JobConfig
from core.logging import get_logger
from diagnosis.findings import data as rules

log = get_logger("worker.data_checks")


def check_data(path: Path, fmt: str, config: JobConfig, submitted: Sequence[dict[str, Any]] | None) -> list[dict]:
    """The job's data findings: ``submitted`` (those of the submit-time check, None for a job
    submitted before it existed) completed by a full check of the file. A check that fails on odd
    data is reported as not evaluated, never as an error of the job."""
    if not rules.undecided(submitted):
        return [dict(f) for f in submitted or []]
    try:
        resolved = resolve(path, fmt, config.data, config.task)
        spec = resolved.spec
        columns = None
        if resolved.X is None:
            scan = scan_table(path, fmt, max_bytes=ACCEPTED, numbers=frozenset(spec["features"]))
            columns = scan.values
        facts = rules.facts_for(
            config.task,
            resolved.targets.y,
            spec,
            parameters=parameter_count(config, spec),
            columns=columns,
            X=resolved.X,
        )
        checked = rules.evaluate(facts)
    except Exception as exc:  # noqa: BLE001 - the checks advise; they must never fail a valid job
        log.warning("data_checks_failed", error=str(exc), exc_info=True)
        checked = rules.not_evaluated(f"The data checks could not run on this dataset ({type(exc).__name__}).")
    return rules.merge(submitted, checked)
