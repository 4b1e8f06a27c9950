"""Two simple diagnosers the engine is measured against, each with a knob grid tuned like the engine.

* **Rule of thumb** — the classic reading of ``history.history``: "low training accuracy and
  high training loss → underfit; high training accuracy but low validation accuracy →
  overfit", otherwise a good fit. For regression (no accuracy) the same words in losses:
  training loss high against the trivial predictor → underfit; validation loss far above
  training loss → overfit.
* **Early stopping** — what Keras' ``EarlyStopping(monitor="val_loss")`` would do: if it
  would have stopped the run (no improvement for ``patience`` epochs), overfit; if the best
  validation loss is the last epoch's, the run was still improving → underfit; else good fit.

Both call a run with a NaN/inf loss unstable, so neither loses points on the easy part of
that class. Their knobs are chosen on the tuning half of the corpus, as the engine's were.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from diagnosis.history import History, accuracy_key, as_array

Diagnoser = Callable[[History, float | None], str]


def _curve(history: History, key: str | None) -> np.ndarray | None:
    if key is None or key not in history:
        return None
    values = history[key]
    return values if isinstance(values, np.ndarray) else as_array(list(values))


def _broken(history: History) -> bool:
    return any(not np.isfinite(_curve(history, key)).all() for key in ("loss", "val_loss") if key in history)


def rule_of_thumb(low_accuracy: float, high_loss_share: float, accuracy_gap: float, loss_ratio: float) -> Diagnoser:
    def diagnose(history: History, baseline_loss: float | None) -> str:
        if _broken(history):
            return "unstable"
        loss, val_loss = _curve(history, "loss"), _curve(history, "val_loss")
        key = accuracy_key(history)
        acc, val_acc = _curve(history, key), _curve(history, f"val_{key}" if key else None)
        reference = baseline_loss if baseline_loss else loss[0]
        high_loss = loss[-1] >= high_loss_share * reference
        if acc is not None:
            if acc[-1] < low_accuracy and high_loss:
                return "underfit"
            if val_acc is not None and acc[-1] >= low_accuracy and acc[-1] - val_acc[-1] > accuracy_gap:
                return "overfit"
            return "good_fit"
        if high_loss:
            return "underfit"
        if val_loss is not None and val_loss[-1] > loss_ratio * loss[-1]:
            return "overfit"
        return "good_fit"

    return diagnose


def early_stopping(patience: int, min_delta_share: float) -> Diagnoser:
    def diagnose(history: History, baseline_loss: float | None) -> str:
        if _broken(history):
            return "unstable"
        val_loss = _curve(history, "val_loss")
        if val_loss is None:
            return "inconclusive"
        best, wait = math.inf, 0
        for value in val_loss:
            if value < best - min_delta_share * abs(best if math.isfinite(best) else value):
                best, wait = value, 0
            else:
                wait += 1
                if wait >= patience:
                    return "overfit"
        return "underfit" if int(np.argmin(val_loss)) == len(val_loss) - 1 else "good_fit"

    return diagnose


GRIDS: dict[str, tuple[Callable[..., Diagnoser], dict[str, tuple]]] = {
    "rule of thumb": (rule_of_thumb, {
        "low_accuracy": (0.6, 0.7, 0.8, 0.9),
        "high_loss_share": (0.3, 0.5, 0.7, 0.9),
        "accuracy_gap": (0.05, 0.1, 0.2),
        "loss_ratio": (1.2, 1.5, 2.0, 3.0),
    }),
    "early stopping": (early_stopping, {
        "patience": (3, 5, 10, 20),
        "min_delta_share": (0.0, 0.01, 0.03),
    }),
}


def settings(grid: dict[str, tuple]) -> list[dict]:
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
