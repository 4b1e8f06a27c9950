"""The data checks made before training: the job's data resolved against the dataset, then the
rules of ``diagnosis.findings.data`` run on it (NumPy only, on raw rows, no TensorFlow).

The worker runs them when it picks a job up, before the first epoch: submit resolves the config
from the profile stored at upload and reads no file, and these checks need the values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.cost import parameter_count
from core.data.spec import ACCEPTED, resolve
from core.data.tables import scan_table
from core.job_config import JobConfig
from core.logging import get_logger
from diagnosis.findings import data as rules

log = get_logger("worker.data_checks")


def resolve_and_check(path: Path, fmt: str, config: JobConfig) -> tuple[dict, list[dict]]:
    """(the resolved data spec, the data findings). A config that cannot work with the dataset
    raises ``DatasetError`` as ``resolve_spec`` does; a check that fails on odd data is reported
    as not evaluated, never as an error of the request."""
    resolved = resolve(path, fmt, config.data, config.task)
    spec = resolved.spec
    try:
        findings = rules.evaluate(_facts(path, fmt, config, resolved))
    except Exception as exc:  # noqa: BLE001 - the checks advise; they must never refuse a valid job
        log.warning("data_checks_failed", error=str(exc), exc_info=True)
        findings = rules.not_evaluated(f"The data checks could not run on this dataset ({type(exc).__name__}).")
    return spec, findings


def _facts(path: Path, fmt: str, config: JobConfig, resolved) -> rules.DataFacts:
    spec = resolved.spec
    if resolved.X is not None:
        inputs: rules.Rows | rules.Windows = rules.Windows(np.asarray(resolved.X))
    else:
        names = spec["features"]
        scan = scan_table(path, fmt, max_bytes=ACCEPTED, numbers=frozenset(names))
        rows = np.column_stack([scan.values[n] for n in names]).astype(np.float64)
        inputs = rules.Rows(rows, list(names), int(spec["window"]), int(spec["horizon"]))
    mapping = spec.get("class_mapping")
    class_names = [label for label, _ in sorted(mapping.items(), key=lambda item: item[1])] if mapping else None
    parameters = parameter_count(config, spec)
    return rules.DataFacts(
        task=config.task,
        y=np.asarray(resolved.targets.y),
        train=int(spec["train_samples"]),
        scale=config.data.scale,
        inputs=inputs,
        parameters=parameters,
        class_names=class_names or [],
    )
