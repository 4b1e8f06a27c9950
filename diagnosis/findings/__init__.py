"""Findings: named checks with parameters, a status and the evidence, next to the verdict.

The verdict reads the curves; findings say *why* a run went the way it did, from the data before
training (``diagnosis.findings.data``, run before training by ``worker.data_checks``) and from the
numeric health of the run while it trained (``diagnosis.findings.training``, fed by
``worker.health``). Each finding is a JSON object:

    {"rule": "saturated_gates", "status": "issue_found",
     "parameters": {"max_share": 0.5}, "evidence": {"layer": "lstm_1", "share": 0.97, ...},
     "message": "97 % of lstm_1's gate inputs sit in the saturating range ...",
     "recommendation": "Scale your inputs (data.scale: standard) ..."}

``status`` is ``ok`` (checked, nothing wrong), ``issue_found`` or ``not_evaluated`` (what the
rule needs was not there: no dataset for a history trained elsewhere, no gradients on another
Keras backend, too few epochs). Findings never change the verdict.

Pure: numpy only, like the rest of ``diagnosis``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OK = "ok"
ISSUE = "issue_found"
NOT_EVALUATED = "not_evaluated"
STATUSES = (OK, ISSUE, NOT_EVALUATED)


def finding(
    rule: str,
    status: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
    message: str,
    recommendation: str | None = None,
) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"unknown finding status {status!r}")
    out: dict[str, Any] = {
        "rule": rule,
        "status": status,
        "parameters": dict(parameters or {}),
        "evidence": dict(evidence or {}),
        "message": message,
    }
    if recommendation:
        out["recommendation"] = recommendation
    return out


def issues(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [f for f in findings if f.get("status") == ISSUE]


def collect(
    runs: Sequence[Mapping[str, Sequence[Any]]],
    *,
    data_findings: Sequence[Mapping[str, Any]] | None = None,
    health: Sequence[Sequence[Mapping[str, Any]]] | None = None,
    stop_on: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every finding for a diagnosis: the data checks made before training (or each data rule as
    not evaluated when there were none), then the training rules over each run's health records
    and history."""
    from diagnosis.findings import data, training

    before = [dict(f) for f in data_findings] if data_findings is not None else data.not_evaluated()
    return before + training.evaluate(runs, health, stop_on=stop_on)
