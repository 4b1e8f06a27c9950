"""The data checks at submit: ``diagnosis.findings.data``'s rules on the sketch stored at upload
(``core.data.sketch``) and the job's config. NumPy only, no file read, no TensorFlow, bounded work.

The job's data is resolved from the sketch exactly as the worker resolves it from the file, so a
rule decided here is decided as the worker would. What cannot be decided here is
``not_evaluated``, marked as left to the worker (``rules.DEFERRED``) with the reason, and the
worker fills it in before the first epoch
(``worker.data_checks``): a table too large for the sketch, an NPZ dataset (no sketch), a rule
whose work would pass ``MAX_WORK`` on this dataset and config.

A table too large for the sketch still has its profile (per-column facts, and the distinct values
of low-cardinality columns with their first and last rows). The rules judge the *training part*
of the target and features, which whole-column facts cannot measure, so from the profile alone
submit decides only what needs no values (``from_profile``): ``too_few_windows`` (the training
window count and the parameter count), ``feature_scales`` when the job scales its inputs, the
rules that do not apply (``class_imbalance`` for a regression; ``duplicate_windows`` and
``label_shift`` without a validation part), and ``constant_target`` when the first/last rows prove
the training part's targets hold one value. Each is the rule function itself on facts whose
values it never reads, so it is the worker's finding to the byte; the rest waits for the worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.cost import parameter_count
from core.data.labels import encode_targets
from core.data.sketch import with_values
from core.data.spec import resolve_from_profile, resolve_scan
from core.data.windowing import target_rows
from core.job_config import JobConfig
from core.logging import get_logger
from diagnosis.findings import data as rules

log = get_logger("service.data_findings")

# Element operations a rule may take at submit (a few ms of NumPy); past it, the worker decides.
MAX_WORK = 1e6
# Training targets a proven-constant target is materialised for (the rule's own std and unique on
# them, so the evidence is the worker's exactly); past it, the worker decides.
MAX_CONSTANT_SAMPLES = 1 << 21

LATER = "Checked by the worker before the first epoch: "


def submit_findings(
    profile: dict[str, Any] | None, config: JobConfig, fmt: str, spec: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One finding per data rule for a job whose config was accepted against the dataset's
    ``profile`` (None: none stored) in format ``fmt``; ``spec``: its resolved ``data_spec``, when
    the caller has it (used only for a table past the sketch's bound)."""
    scan = with_values(profile) if profile else None
    if scan is None or profile is None:
        if fmt == "npz":
            why = "NPZ datasets keep no upload sketch."
        elif profile is None or "sketch" not in profile:
            why = "the dataset was uploaded before upload sketches existed."
        else:
            return from_profile(profile, config, spec)
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


def from_profile(profile: dict[str, Any], config: JobConfig, spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The findings of a table past the sketch's bound: those its profile decides exactly, the
    rest left to the worker (see the module's docstring)."""
    reason = LATER + "the dataset is too large for the upload sketch, and this rule needs its values."
    try:
        if spec is None:
            spec = resolve_from_profile(profile, config.data, config.task)
        if spec is None:
            return rules.all_deferred(reason)
        samples, train = int(spec["samples"]), int(spec["train_samples"])
        regression = config.task == "regression"
        constant = _training_target_value(profile, spec) if regression and train <= MAX_CONSTANT_SAMPLES else None
        if constant is not None:
            # Encoded as the worker encodes the column, so the rule sees the worker's numbers.
            value = encode_targets(np.array([constant]), config.task, what="target", field="target").y[0]
            y = np.broadcast_to(value, (samples,))
        else:
            y = np.broadcast_to(np.float32(np.nan), (samples,))
        names = list(spec["features"])
        # Never read by the rules run below (each decides from the sizes, the config or the one
        # target value): zero-stride views, no memory.
        features = np.broadcast_to(np.nan, (int(profile["rows"]), len(names)))
        facts = rules.DataFacts(
            task=config.task,
            y=y,
            train=train,
            scale=str(spec["scale"]),
            inputs=rules.Rows(features, names, int(spec["window"]), int(spec["horizon"])),
            parameters=parameter_count(config, spec),
        )
        decidable = {rules.TOO_FEW_WINDOWS}
        if constant is not None:
            decidable.add(rules.CONSTANT_TARGET)
        if regression:
            decidable.add(rules.CLASS_IMBALANCE)
        if spec["scale"] != "none":
            decidable.add(rules.FEATURE_SCALES)
        if train == samples:
            decidable |= {rules.DUPLICATE_WINDOWS, rules.LABEL_SHIFT}
        return rules.evaluate(facts, skip={rule: reason for rule in rules.RULES if rule not in decidable})
    except Exception as exc:  # noqa: BLE001 - advice: a check that cannot run here is the worker's
        log.warning("submit_profile_checks_failed", error=str(exc), exc_info=True)
        return rules.all_deferred(LATER + f"the submit-time check could not run ({type(exc).__name__}).")


def _training_target_value(profile: dict[str, Any], spec: dict[str, Any]) -> float | None:
    """The one value every training target holds, when the target column's profiled values
    (each with its first and last row) prove it: one value occurs within the training targets'
    rows and no other value's rows span them. None when they do not prove it."""
    column = next((c for c in profile["columns"] if c["name"] == spec["target"]), None)
    labels = column and column.get("labels")
    if not labels:
        return None
    rows = target_rows(int(spec["window"]), int(spec["horizon"]), int(spec["samples"]))
    start, end = rows.start, rows.start + int(spec["train_samples"])
    possible = [
        i for i, (first, last) in enumerate(zip(labels["first"], labels["last"])) if first < end and last >= start
    ]
    if len(possible) != 1:
        return None
    # Every training row holds some value (a regression target has no missing ones), and a value
    # at a row of the part has its first row before the part's end and its last row at or after
    # its start: with one such value, it fills the part.
    value = labels["values"][possible[0]]
    return float(value) if not isinstance(value, str) else None
