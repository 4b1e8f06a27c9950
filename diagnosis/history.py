"""Reading Keras-style histories: metric names, their validation twins, and NaN spelt many ways.

A *history* is what ``model.fit(...).history`` holds: metric name → per-epoch values, with the
validation twin of ``m`` under ``val_m``. A *run* is one such history. Everything in
``diagnosis`` takes a list of runs, so one run and several repeats share one code path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

History = Mapping[str, Sequence[float | None]]

# The "accuracy" a user asks for may be spelt any of these ways, depending on Keras version,
# the metric object used and the loss (most specific last, so the first hit is the generic one).
ACCURACY_ALIASES = (
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
)


def to_float(value: object) -> float:
    """A history value as a float; ``None``, ``"NaN"``, ``"inf"`` and the like become NaN/inf."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    return float(value)  # type: ignore[arg-type]


def as_array(values: Sequence[object]) -> np.ndarray:
    return np.array([to_float(v) for v in values], dtype=float)


def train_metrics(history: History) -> list[str]:
    """Metric names that have a training curve (``val_*`` twins are not listed separately)."""
    return [k for k in history if not k.startswith("val_")] + [
        k[4:] for k in history if k.startswith("val_") and k[4:] not in history
    ]


def resolve_metric(history: History, metric: str) -> str | None:
    """The key under which ``metric`` is stored, accepting any accuracy spelling."""
    candidates = ACCURACY_ALIASES if metric in ACCURACY_ALIASES else (metric,)
    for name in candidates:
        if name in history or f"val_{name}" in history:
            return name
    return None


def accuracy_key(history: History) -> str | None:
    return resolve_metric(history, "accuracy")


def available_metrics(runs: Sequence[History]) -> list[str]:
    """Metric names a client may ask a plot for; any accuracy spelling is offered as ``accuracy``."""
    names: list[str] = []
    for history in runs:
        for name in train_metrics(history):
            public = "accuracy" if name in ACCURACY_ALIASES else name
            if public not in names:
                names.append(public)
    return names
