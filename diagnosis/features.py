"""The numbers a verdict is read from: one pass over a run's curves, no thresholds.

``measure`` turns a Keras history (+ the trivial predictor's loss, when known) into
``Features``; ``diagnosis.rules`` turns features and ``Thresholds`` into a verdict. Keeping
the two apart is what lets the corpus fit thresholds leave-one-task-out in seconds: the
curves are read once, the cheap decision is replayed for every candidate threshold.

Every level is relative — to the trivial predictor's loss (``reference``), to a curve's own
minimum or its own level — so one reading holds for a cross-entropy near 0.7 and for an MSE
in the thousands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from diagnosis import curves
from diagnosis.history import History, accuracy_key, as_array

# Losses a history may carry when it has no plain `loss`, most telling first.
_LOSS_FALLBACKS = ("mse", "mean_squared_error", "mae", "mean_absolute_error", "rmse", "root_mean_squared_error")


@dataclass(frozen=True)
class RunCurves:
    """The arrays of one run, and which keys they came from."""

    loss_key: str | None
    loss: np.ndarray
    val_loss: np.ndarray | None
    accuracy: np.ndarray | None
    val_accuracy: np.ndarray | None
    learning_rate: float | None


@dataclass(frozen=True)
class Features:
    """What one pass over a run's curves measured; the defaults are a run with nothing to read.

    A run with no epochs, or with a NaN/inf loss, keeps the defaults past the first five fields
    (``measure`` fills in only what the curves show), so this class is the one home of the list
    of measures and of their neutral values.
    """

    epochs: int
    has_validation: bool
    first_bad_epoch: int | None  # 1-based epoch of the first NaN/inf loss
    reference: float  # the trivial predictor's loss, or a stand-in read from the first epoch
    reference_known: bool
    # Instability, read from the training curve as DIAGNOSIS-TRUTH.md reads it from its own.
    jumps: int = 0  # epochs whose loss jumped > 25 % and by > a quarter of the reference
    peak: float = 0.0  # highest training loss / reference
    ended_above_start: bool = False  # final training loss above min(first epoch's, reference)
    train_rise: float = 0.0  # final smoothed training loss / its minimum − 1
    val_peak: float = 0.0  # highest validation loss after the first epoch / reference
    # Overfitting.
    best_epoch: int | None = None  # 1-based epoch of the minimum raw validation loss (earliest on ties)
    best_position: float = 1.0  # best_epoch / epochs (1.0 = the last epoch)
    rise: float = 0.0  # final smoothed validation loss / its minimum − 1
    rise_of_reference: float = 0.0  # the same difference / reference (is it material?)
    smooth_best_position: float = 1.0  # where the smoothed validation minimum lies, 0..1
    train_fell_after_best: float = 0.0  # relative fall of the smoothed training loss since the smoothed best
    # Underfitting / good fit.
    train_level: float = 1.0  # final smoothed training loss / reference
    # final smoothed training loss / the first epoch's level (the higher of its two losses)
    train_share_of_start: float = 1.0
    val_level: float | None = None  # final smoothed validation loss / reference
    best_val_level: float | None = None  # minimum smoothed validation loss / reference
    val_tail_fall: float = 0.0  # relative fall of the watched curve (validation, else training) over the tail
    train_tail_fall: float = 0.0  # relative fall of the smoothed training loss over the tail
    tail_fall_of_reference: float = 0.0  # the watched curve's fall over the tail / reference
    tail_share: float = 0.0  # the watched curve's fall over the tail / its whole fall (≈ tail/epochs if linear)
    projected_gain: float = 0.0  # further fall the watched curve's trend projects / its final level
    tail: int = 0  # epochs the tail falls are read over
    gap: float | None = None  # (final smoothed validation − training loss) / reference
    noise: float = 0.0  # robust epoch-to-epoch wobble of the validation curve / its level


def extract_curves(history: History) -> RunCurves:
    """The loss (or the best stand-in for it), its validation twin and accuracy, if any."""
    loss_key = "loss" if "loss" in history or "val_loss" in history else None
    if loss_key is None:
        loss_key = next((k for k in _LOSS_FALLBACKS if k in history or f"val_{k}" in history), None)
    acc_key = accuracy_key(history)

    def curve(key: str | None) -> np.ndarray | None:
        if key is None or key not in history:
            return None
        values = as_array(list(history[key]))
        return values if len(values) else None

    if loss_key is not None:
        loss, val_loss = curve(loss_key), curve(f"val_{loss_key}")
    elif acc_key is not None:
        # A history with accuracy only: its error rate behaves like a loss.
        acc, val_acc = curve(acc_key), curve(f"val_{acc_key}")
        loss = 1.0 - acc if acc is not None else None
        val_loss = 1.0 - val_acc if val_acc is not None else None
        loss_key = "error_rate"
    else:
        loss = val_loss = None
    if loss is None:
        # Validation without a training curve still shows instability and rises; read it as both.
        loss = val_loss if val_loss is not None else np.array([], dtype=float)
    lr = curve("learning_rate") if "learning_rate" in history else curve("lr")
    finite_lr = lr[np.isfinite(lr)] if lr is not None else np.array([])
    return RunCurves(
        loss_key=loss_key,
        loss=loss,
        val_loss=val_loss,
        accuracy=curve(acc_key) if acc_key else None,
        val_accuracy=curve(f"val_{acc_key}") if acc_key else None,
        learning_rate=float(finite_lr[-1]) if len(finite_lr) else None,
    )


def reference_level(loss: np.ndarray, val: np.ndarray | None, baseline: float | None) -> tuple[float, bool]:
    """The trivial predictor's loss, or — without it — the higher of the first epoch's losses.

    A first epoch has learned little, so its loss is the nearest stand-in a history offers.
    """
    if baseline is not None and math.isfinite(baseline) and baseline > 0:
        return float(baseline), True
    firsts = [float(loss[0])] if len(loss) else []
    if val is not None and len(val):
        firsts.append(float(val[0]))
    firsts = [f for f in firsts if math.isfinite(f) and f > 0]
    return (max(firsts) if firsts else 1.0), False


def measure(c: RunCurves, baseline: float | None) -> Features:
    loss = c.loss
    epochs = len(loss)
    val = c.val_loss[:epochs] if c.val_loss is not None and len(c.val_loss) else None
    bad = [i for i, v in enumerate(loss) if not math.isfinite(v)]
    bad += [i for i, v in enumerate(val if val is not None else []) if not math.isfinite(v)]
    reference, known = reference_level(loss, val, baseline)
    # Materiality of a late fall is judged against the higher of the trivial loss and the first
    # epoch's level, so knowing the trivial loss never makes a creeping curve look material.
    start_level = reference_level(loss, val, None)[0]
    material_reference = max(reference, start_level)
    if bad or epochs == 0:
        return Features(epochs, val is not None, min(bad) + 1 if bad else None, reference, known)

    steps = np.diff(loss)
    jumps = int(np.sum((loss[1:] > 1.25 * loss[:-1]) & (steps > 0.25 * reference)))
    start = min(float(loss[0]), reference)
    smooth_loss = curves.smooth(loss)
    tail = curves.tail_length(epochs)
    train_tail_fall = _relative_fall(smooth_loss, tail)
    # Without validation the training curve is the watched one; with it, the keys below are
    # read again from the validation curve.
    features: dict[str, Any] = dict(
        jumps=jumps,
        peak=float(np.max(loss)) / reference,
        ended_above_start=bool(loss[-1] > start),
        train_rise=float(smooth_loss[-1] / np.min(smooth_loss) - 1.0) if np.min(smooth_loss) > 0 else 0.0,
        train_level=float(smooth_loss[-1]) / reference,
        train_share_of_start=float(smooth_loss[-1]) / start_level,
        val_tail_fall=train_tail_fall,
        train_tail_fall=train_tail_fall,
        tail_fall_of_reference=_fall(smooth_loss, tail) / material_reference,
        tail_share=_tail_share(smooth_loss, tail),
        projected_gain=_projected_gain(smooth_loss, tail),
        tail=tail,
    )
    if val is not None:
        smooth_val = curves.smooth(val)
        best = int(np.argmin(val))
        smooth_best = int(np.argmin(smooth_val))
        lowest = float(smooth_val[smooth_best])
        features.update(
            val_peak=float(np.max(val[1:])) / reference if len(val) > 1 else 0.0,
            best_epoch=best + 1,
            best_position=(best + 1) / epochs,
            rise=float(smooth_val[-1] / lowest - 1.0) if lowest > 0 else 0.0,
            rise_of_reference=float(smooth_val[-1] - lowest) / reference,
            smooth_best_position=(smooth_best + 1) / epochs,
            train_fell_after_best=(
                float(smooth_loss[smooth_best] - smooth_loss[-1]) / abs(smooth_loss[smooth_best])
                if smooth_loss[smooth_best] != 0
                else 0.0
            ),
            val_level=float(smooth_val[-1]) / reference,
            best_val_level=lowest / reference,
            val_tail_fall=_relative_fall(smooth_val, tail),
            tail_fall_of_reference=_fall(smooth_val, tail) / material_reference,
            tail_share=_tail_share(smooth_val, tail),
            projected_gain=_projected_gain(smooth_val, tail),
            gap=float(smooth_val[-1] - smooth_loss[-1]) / reference,
            noise=curves.noise(val, smooth_val) / max(abs(float(np.median(val))), 1e-12),
        )
    return Features(epochs, val is not None, None, reference, known, **features)


def _fall(smoothed: np.ndarray, tail: int) -> float:
    """How much the curve fell over its last ``tail`` epochs, in its own units."""
    if len(smoothed) < 2:
        return 0.0
    return float(smoothed[max(0, len(smoothed) - 1 - tail)] - smoothed[-1])


def _projected_gain(smoothed: np.ndarray, tail: int) -> float:
    """How much lower the curve's own trend says it would end with more training, as a share of its end."""
    end = float(smoothed[-1])
    if end <= 0:
        return 0.0
    return min(10.0, curves.projected_fall(smoothed, max(1, tail // 2 if len(smoothed) < 8 else tail)) / end)


def _tail_share(smoothed: np.ndarray, tail: int) -> float:
    """The tail's share of everything the curve fell since its highest point (0 if it never fell).

    A converged curve did most of its falling early (a small share); one held back by a tiny
    learning rate or too few epochs falls about evenly, so the tail carries its own share of
    the epochs or more.
    """
    top = int(np.argmax(smoothed))
    whole = float(smoothed[top] - smoothed[-1])
    if whole <= 0:
        return 0.0
    return max(0.0, _fall(smoothed, tail)) / whole


def _relative_fall(smoothed: np.ndarray, tail: int) -> float:
    """How much the curve fell over its last ``tail`` epochs, as a share of where it ended."""
    if len(smoothed) < 2:
        return 0.0
    before = float(smoothed[max(0, len(smoothed) - 1 - tail)])
    end = float(smoothed[-1])
    return (before - end) / abs(end) if end != 0 else 0.0
