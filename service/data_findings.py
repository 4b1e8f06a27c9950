"""The data checks at submit: ``diagnosis.findings.data``'s rules on the sketch stored at upload
(``core.data.sketch``) and the job's config. NumPy only, no file read, no TensorFlow, bounded work.

The job's data is resolved from the sketch exactly as the worker resolves it from the file, so a
rule decided here is decided as the worker would. What cannot be decided here is
``not_evaluated``, marked as left to the worker (``rules.DEFERRED``) with the reason, and the
worker fills it in before the first epoch
(``worker.data_checks``): a table too large for the sketch, an NPZ dataset (no sketch), a rule
whose work would pass ``MAX_WORK`` on this dataset and config.
"""

from __future__ import annotations

from typing import Any

from core.cost import parameter_count
from core.data.sketch import with_values
from core.data.spec import resolve_scan
from core.job_config import JobConfig
from core.logging import get_logger
from diagnosis.findings import data as rules

log = get_logger("service.data_findings")

# Element operations a rule may take at submit (a few ms of NumPy); past it, the worker decides.
MAX_WORK = 1e6

LATER = "Checked by the worker before the first epoch: "


def submit_findings(profile: dict[str, Any] | None, config: JobConfig, fmt: str) -> list[dict[str, Any]]:
    """One finding per data rule for a job whose config was accepted against the dataset's
    ``profile`` (None: none stored) in format ``fmt``."""
    scan = with_values(profile) if profile else None
    if scan is None or profile is None:
        if fmt == "npz":
            why = "NPZ datasets keep no upload sketch."
        elif profile is None or "sketch" not in profile:
            why = "the dataset was uploaded before upload sketches existed."
        else:
            why = "the dataset is too large for the upload sketch."
        return rules.all_deferred(LATER + why)
    try:
        resolved = resolve_scan(scan, fmt, config.data, config.task)
        spec = resolved.spec
        facts = rules.facts_for(
            config.task, resolved.targets.y, spec, parameters=parameter_count(config, spec), columns=scan.values
        )
        costly = {rule: work for rule, work in rules.work(facts).items() if work > MAX_WORK}
        reason = LATER + "too much work to do at submit for this dataset and window."
        return rules.evaluate(facts, skip=dict.fromkeys(costly, reason))
    except Exception as exc:  # noqa: BLE001 - advice: a check that cannot run here is the worker's
        log.warning("submit_data_checks_failed", error=str(exc), exc_info=True)
        return rules.all_deferred(LATER + f"the submit-time check could not run ({type(exc).__name__}).")
