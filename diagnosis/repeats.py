"""Several runs of one configuration: their spread, and whether they tell the same story.

A verdict that flips with the seed is itself the finding: the overall verdict is then
`unstable` with reason `runs_disagree`, whatever the majority says.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from diagnosis.single_run import RunReading

# The majority verdict must hold in at least this share of the (decisive) runs.
AGREEMENT_SHARE = 0.75
# Runs that disagree only count when they are this sure of their own verdict.
CONFIDENT = 0.6


@dataclass
class Combined:
    verdict: str
    confidence: float
    reasons: list[str]
    flags: list[str]
    representative: int  # index of the run whose evidence and words stand for the whole
    spread: dict


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.array(values, dtype=float)
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()), "std": float(a.std())}


def spread(readings: list[RunReading]) -> dict:
    def collect(key: str) -> list[float]:
        return [float(v) for r in readings if (v := r.evidence[key]) is not None]

    counts = Counter(r.verdict for r in readings)
    return {
        "verdicts": dict(counts),
        "final_loss": _stats(collect("final_loss")),
        "final_val_loss": _stats(collect("final_val_loss")),
        "min_val_loss": _stats(collect("min_val_loss")),
        "best_epoch": _stats(collect("best_epoch")),
        "final_val_accuracy": _stats(collect("final_val_accuracy")),
    }


def _median_run(readings: list[RunReading], members: list[int]) -> int:
    """The member whose final (validation, else training) loss is the median one."""

    def level(i: int) -> float:
        e = readings[i].evidence
        value = e["final_val_loss"] if e["final_val_loss"] is not None else e["final_loss"]
        return value if value is not None else float("inf")

    ordered = sorted(members, key=level)
    return ordered[(len(ordered) - 1) // 2]


def combine(readings: list[RunReading]) -> Combined:
    # An inconclusive run has no opinion to disagree with; it only votes when all are.
    voters = [i for i, r in enumerate(readings) if r.verdict != "inconclusive"] or list(range(len(readings)))
    counts = Counter(readings[i].verdict for i in voters)
    majority, count = counts.most_common(1)[0]
    share = count / len(voters)
    members = [i for i in voters if readings[i].verdict == majority]
    dissenters = [i for i in voters if readings[i].verdict != majority]
    flags = sorted({f for r in readings for f in r.flags})
    representative = _median_run(readings, members)

    material = share < AGREEMENT_SHARE and any(readings[i].confidence >= CONFIDENT for i in dissenters)
    if material:
        # Instability seen in any run (NaN, divergence) is worth naming next to the disagreement.
        own = [reason for r in readings if r.verdict == "unstable" for reason in r.reasons]
        reasons = ["runs_disagree", *dict.fromkeys(own)]
        confidence = float(np.clip(0.6 + 0.7 * (AGREEMENT_SHARE - share), 0.6, 0.95))
        return Combined("unstable", confidence, reasons, flags, representative, spread(readings))

    reason_counts = Counter(reason for i in members for reason in readings[i].reasons)
    reasons = [reason for reason, _ in reason_counts.most_common()]
    confidence = float(np.mean([readings[i].confidence for i in members]) * share)
    return Combined(majority, confidence, reasons, flags, representative, spread(readings))
