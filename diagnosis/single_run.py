"""Reading one run: from a Keras history to a verdict with reasons, flags, confidence and evidence.

The curves are measured once (``diagnosis.features``), the verdict is decided from the
measures (``diagnosis.rules``), and the evidence API.md promises is filled in here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from diagnosis import curves
from diagnosis.features import Features, RunCurves, extract_curves, measure
from diagnosis.history import History
from diagnosis.rules import decide
from diagnosis.thresholds import DEFAULT, Thresholds


@dataclass
class RunReading:
    verdict: str
    confidence: float
    reasons: list[str]
    flags: list[str]
    evidence: dict[str, float | int | None]
    features: Features
    learning_rate: float | None = None  # the last value of a `learning_rate`/`lr` curve, if any
    # Numbers the summary and recommendations quote that are not part of the evidence.
    notes: dict[str, float | int | str | None] = field(default_factory=dict)


def read_run(history: History, *, baseline_loss: float | None = None, thresholds: Thresholds = DEFAULT) -> RunReading:
    c = extract_curves(history)
    baseline = baseline_loss if baseline_loss is not None and math.isfinite(baseline_loss) else None
    f = measure(c, baseline)
    decision = decide(f, thresholds)
    flags = list(decision.flags)
    evidence = _evidence(c, f, baseline)
    if f.first_bad_epoch is None and f.epochs >= thresholds.min_epochs:
        flags += [flag for flag in _side_flags(f, thresholds) if flag not in flags]
    notes: dict[str, float | int | str | None] = {"loss_key": c.loss_key, "first_bad_epoch": f.first_bad_epoch}
    return RunReading(
        decision.verdict, round(decision.confidence, 3), decision.reasons, flags, evidence, f, c.learning_rate, notes
    )


def _evidence(c: RunCurves, f: Features, baseline: float | None) -> dict[str, float | int | None]:
    loss = c.loss
    val = c.val_loss[: len(loss)] if c.val_loss is not None else None
    finite = f.first_bad_epoch is None and len(loss) > 0
    evidence: dict[str, float | int | None] = {
        "epochs": f.epochs,
        "best_epoch": f.best_epoch,
        "final_loss": _last(loss),
        "final_val_loss": _last(val),
        "min_val_loss": float(np.nanmin(val)) if val is not None and np.isfinite(val).any() else None,
        "val_loss_rise": f.rise if finite and f.has_validation else None,
        "generalization_gap": f.gap * f.reference if finite and f.gap is not None else None,
        "baseline_loss": baseline,
        "loss_vs_baseline": float(loss[-1] / baseline) if baseline and finite else None,
        "train_slope": None,
        "val_slope": None,
        "final_accuracy": _last(c.accuracy),
        "final_val_accuracy": _last(c.val_accuracy),
    }
    if finite and len(loss) >= 2:
        tail = curves.tail_length(len(loss))
        evidence["train_slope"] = curves.slope(loss[-tail - 1 :])
        if val is not None:
            evidence["val_slope"] = curves.slope(val[-tail - 1 :])
    return evidence


def _side_flags(f: Features, t: Thresholds) -> list[str]:
    """Observations that do not change the verdict."""
    found = []
    if f.has_validation and f.epochs > 3 and f.noise >= t.noisy_validation:
        found.append("noisy_validation")
    if f.gap is not None and f.val_level is not None and f.val_level < f.train_level * t.val_below_train:
        found.append("val_below_train")
    final = f.val_level if f.val_level is not None else f.train_level
    if f.reference_known and final >= 1.0:
        found.append("baseline_not_beaten")
    return found


def _last(values: np.ndarray | None) -> float | None:
    if values is None or not len(values):
        return None
    value = float(values[-1])
    return value if math.isfinite(value) else None
