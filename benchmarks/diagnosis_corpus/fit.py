"""Fit the engine's tunable thresholds on labelled runs, and score leave-one-task-out.

The curves are read once per run (``diagnosis.features.measure``); fitting replays only the
cheap decision (``diagnosis.rules.decide``) for each candidate value. The search is
coordinate descent over a fixed grid around each threshold's current value, maximising
balanced accuracy (mean per-class recall) plus overall accuracy, the reading with the trivial
loss weighted twice the one without, a few sweeps until nothing moves. Every fit starts from
``diagnosis.thresholds.START``, values fixed by meaning before any fitting, so a fold's start
owes nothing to the task it holds out (until 2026-12 folds started from the thresholds fitted
on *all* tasks, which leaked the held-out task into its own fold: worth about a point).
Leave-one-task-out (DIAGNOSIS-TRUTH.md, Scoring): for each task, thresholds are fitted on the
other tasks' runs only, then the held-out task's runs are diagnosed with them; the pooled
predictions are the reported figure.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diagnosis.features import Features, extract_curves, measure
from diagnosis.rules import decide
from diagnosis.thresholds import START, TUNED, Thresholds, as_dict, with_values

CLASSES = ("underfit", "overfit", "good_fit", "unstable")
# Candidate values: the current value times these factors (fine near it, coarse further out).
FACTORS = (0.5, 0.65, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
SWEEPS = 4


@dataclass(frozen=True)
class Sample:
    id: str
    task: str
    label: str
    features: Features  # with the trivial predictor's loss given
    features_no_baseline: Features


def samples(entries: Sequence[dict]) -> list[Sample]:
    out = []
    for e in entries:
        c = extract_curves(e["history"])
        out.append(Sample(e["id"], e["task"], e["label"], measure(c, e["baseline_loss"]), measure(c, None)))
    return out


def predict(data: Sequence[Sample], t: Thresholds, baseline: bool = True) -> list[str]:
    return [decide(s.features if baseline else s.features_no_baseline, t).verdict for s in data]


def balanced(labels: Sequence[str], predictions: Sequence[str]) -> tuple[float, float]:
    labels_a, pred_a = np.array(labels), np.array(predictions)
    recalls = [float(np.mean(pred_a[labels_a == c] == c)) for c in CLASSES if np.any(labels_a == c)]
    return float(np.mean(recalls)) if recalls else 0.0, float(np.mean(labels_a == pred_a)) if len(labels_a) else 0.0


def objective(data: Sequence[Sample], t: Thresholds) -> float:
    """Balanced accuracy plus accuracy, with the trivial loss given (what every job has) counting
    twice as much as the reading without it (a bare history posted to /v1/diagnoses)."""
    labels = [s.label for s in data]
    with_b = balanced(labels, predict(data, t, True))
    without_b = balanced(labels, predict(data, t, False))
    return sum(with_b) + 0.5 * sum(without_b)


def fit(data: Sequence[Sample], start: Thresholds = START) -> Thresholds:
    best, best_score = start, objective(data, start)
    for _ in range(SWEEPS):
        moved = False
        for name in TUNED:
            current = getattr(best, name)
            for factor in FACTORS:
                value = round(current * factor) if isinstance(current, int) else round(current * factor, 6)
                candidate = with_values(best, **{name: value})
                score = objective(data, candidate)
                if score > best_score:
                    best, best_score, moved = candidate, score, True
        if not moved:
            break
    return best


def leave_one_task_out(data: Sequence[Sample]) -> tuple[dict[str, Thresholds], dict[str, str], dict[str, str]]:
    """(thresholds per held-out task, prediction per run id with and without the trivial loss)."""
    fitted: dict[str, Thresholds] = {}
    with_b: dict[str, str] = {}
    without_b: dict[str, str] = {}
    for task in sorted({s.task for s in data}):
        train = [s for s in data if s.task != task]
        held = [s for s in data if s.task == task]
        t = fit(train)
        fitted[task] = t
        for s, p in zip(held, predict(held, t, True)):
            with_b[s.id] = p
        for s, p in zip(held, predict(held, t, False)):
            without_b[s.id] = p
    return fitted, with_b, without_b


def describe(t: Thresholds) -> dict[str, float]:
    return {k: v for k, v in as_dict(t).items() if k in TUNED}
