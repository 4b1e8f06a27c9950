"""Reading one run: from a Keras history to a verdict with reasons, flags, confidence and evidence.

The checks run in API.md's order of precedence: instability first (nothing else can be read
from a broken run), then underfitting (readable from the training curve alone), then
overfitting (needs validation), then a good fit, and "inconclusive" when the history cannot
carry a verdict. The numbers they turn on live in ``diagnosis.thresholds``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from diagnosis import curves
from diagnosis.history import History, accuracy_key, as_array
from diagnosis.thresholds import (
    BLOW_UP, DIVERGE_SHARE, DIVERGE_VAL_SHARE, FEW_EPOCHS, GAP_GROWTH, HIGH_LOSS_TRAIN_FLOOR, HIGH_TRAIN_SHARE,
    HIGH_VAL_SHARE, LEARNED_IN_FIRST_EPOCH, MIN_EPOCHS, NOISY_VALIDATION, OSCILLATION_STEP, OSCILLATION_UPS,
    RISE_NOISE_MULTIPLE, RISE_OF_LEARNED, RISE_SHARE, SPIKE_SHARE, STILL_IMPROVING, TRAINED_OUT, TREND_EPOCHS,
    VAL_BELOW_TRAIN, VAL_SCATTER, VAL_SWING,
)

# Losses a history may carry when it has no plain `loss`, most telling first.
_LOSS_FALLBACKS = ("mse", "mean_squared_error", "mae", "mean_absolute_error", "rmse", "root_mean_squared_error")


@dataclass
class Curves:
    """The arrays of one run, and which keys they came from."""

    loss_key: str | None
    loss: np.ndarray
    val_loss: np.ndarray | None
    accuracy: np.ndarray | None
    val_accuracy: np.ndarray | None
    learning_rate: float | None


@dataclass
class RunReading:
    verdict: str
    confidence: float
    reasons: list[str]
    flags: list[str]
    evidence: dict[str, float | int | None]
    # Numbers the summary and recommendations quote that are not part of the evidence.
    notes: dict[str, float | int | str | None] = field(default_factory=dict)


@dataclass
class _Measures:
    """What the checks look at: the curves, smoothed, and their levels against references."""

    epochs: int
    loss: np.ndarray
    smooth_loss: np.ndarray
    val: np.ndarray | None
    smooth_val: np.ndarray | None
    baseline: float | None
    train_start: float  # first-epoch training loss: what the model scored knowing almost nothing
    val_reference: float  # the trivial predictor's loss, or the first-epoch losses standing in
    train_share: float  # final smoothed training loss / train_start
    val_share: float | None  # final smoothed validation loss / val_reference


def extract_curves(history: History) -> Curves:
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
    return Curves(
        loss_key=loss_key,
        loss=loss,
        val_loss=val_loss,
        accuracy=curve(acc_key) if acc_key else None,
        val_accuracy=curve(f"val_{acc_key}") if acc_key else None,
        learning_rate=float(finite_lr[-1]) if len(finite_lr) else None,
    )


def read_run(history: History, *, baseline_loss: float | None = None) -> RunReading:
    c = extract_curves(history)
    epochs = len(c.loss)
    baseline = baseline_loss if baseline_loss is not None and math.isfinite(baseline_loss) else None
    evidence: dict[str, float | int | None] = {
        "epochs": epochs, "best_epoch": None,
        "final_loss": _last(c.loss), "final_val_loss": _last(c.val_loss), "min_val_loss": None,
        "val_loss_rise": None, "generalization_gap": None,
        "baseline_loss": baseline, "loss_vs_baseline": None, "train_slope": None, "val_slope": None,
        "final_accuracy": _last(c.accuracy), "final_val_accuracy": _last(c.val_accuracy),
    }
    notes: dict[str, float | int | str | None] = {"learning_rate": c.learning_rate, "loss_key": c.loss_key}
    flags = ["few_epochs"] if 0 < epochs < FEW_EPOCHS else []

    # A non-finite loss anywhere is unstable, NaN at epoch 1 included.
    bad = [i for i, v in enumerate(c.loss) if not math.isfinite(v)]
    bad += [i for i, v in enumerate(c.val_loss if c.val_loss is not None else []) if not math.isfinite(v)]
    if bad:
        notes["first_bad_epoch"] = min(bad) + 1
        return RunReading("unstable", 0.97, ["nan_loss"], flags, evidence, notes)
    if epochs < MIN_EPOCHS:
        return RunReading("inconclusive", 0.9, ["too_few_epochs"], flags, evidence, notes)

    m = _measure(c, baseline, evidence)
    notes.update(train_share=m.train_share, val_share=m.val_share)
    unstable = _instability(m, evidence, notes, flags)
    if unstable:
        return unstable
    # A model that has not learned the training data is underfit whatever its validation curve
    # does; a validation rise beats "still improving" (a curve that rose and falls again) and
    # a high loss read from validation alone (the training loss fell well below its start: a
    # validation loss that rose materially since its best is overfitting, not a weak model).
    underfit = _underfitting(m, evidence, notes, flags)
    if underfit and "high_training_loss" in underfit.reasons and notes["high_train"]:
        return underfit
    overfit = _overfitting(m, evidence, notes, flags)
    if overfit or underfit:
        return overfit or underfit
    if m.smooth_val is None:
        return RunReading("inconclusive", 0.8, ["no_validation"], flags, evidence, notes)
    if epochs < TREND_EPOCHS:
        return RunReading("inconclusive", 0.8, ["too_few_epochs"], flags, evidence, notes)
    # The further every underfit/overfit measure is from its threshold, the surer the good fit.
    closeness = max(m.val_share / HIGH_VAL_SHARE if m.val_share is not None else 0.0,
                    notes["still_to_gain"] / STILL_IMPROVING,
                    (evidence["val_loss_rise"] or 0.0) / RISE_SHARE)
    confidence = 0.6 + 0.35 * float(np.clip(1.0 - closeness, 0.0, 1.0))
    return RunReading("good_fit", _penalise(confidence, flags), [], flags, evidence, notes)


def _measure(c: Curves, baseline: float | None, evidence: dict) -> _Measures:
    """Smooth the curves, fill in the evidence, and put the final levels against their references."""
    epochs = len(c.loss)
    loss = c.loss
    val = c.val_loss[:epochs] if c.val_loss is not None and len(c.val_loss) >= MIN_EPOCHS else None
    smooth_loss = curves.smooth(loss)
    smooth_val = curves.smooth(val) if val is not None else None
    tail = curves.tail_length(epochs)
    evidence["train_slope"] = curves.slope(loss[-tail - 1 :])
    if baseline and baseline > 0:
        evidence["loss_vs_baseline"] = float(loss[-1] / baseline)
    if smooth_val is not None:
        best = int(np.argmin(smooth_val))
        evidence["best_epoch"] = best + 1
        evidence["min_val_loss"] = float(np.min(val))
        if smooth_val[best] > 0:
            evidence["val_loss_rise"] = float((smooth_val[-1] - smooth_val[best]) / smooth_val[best])
        evidence["generalization_gap"] = float(smooth_val[-1] - smooth_loss[len(smooth_val) - 1])
        evidence["val_slope"] = curves.slope(val[-tail - 1 :])

    train_start = float(max(loss[0], smooth_loss[0]))
    # Validation is judged against the trivial predictor on the same data; without one, the
    # first epoch's losses stand in for it.
    first_val = float(val[0]) if val is not None else 0.0
    val_reference = baseline if baseline and baseline > 0 else max(train_start, first_val)
    return _Measures(
        epochs=epochs, loss=loss, smooth_loss=smooth_loss, val=val, smooth_val=smooth_val, baseline=baseline,
        train_start=train_start, val_reference=val_reference,
        train_share=float(smooth_loss[-1] / train_start) if train_start > 0 else 0.0,
        val_share=float(smooth_val[-1] / val_reference) if smooth_val is not None and val_reference > 0 else None,
    )


def _instability(m: _Measures, evidence: dict, notes: dict, flags: list[str]) -> RunReading | None:
    """Losses that climb back up (diverging) or are thrown around (oscillating)."""
    train_rise = float(m.smooth_loss[-1] - np.min(m.smooth_loss)) / m.train_start if m.train_start > 0 else 0.0
    step, ups = curves.roughness(m.loss, m.train_start)
    spike = curves.late_spike(m.loss, m.train_start)
    val_swing = val_scatter = 0.0
    if m.val is not None and m.epochs >= TREND_EPOCHS:
        learned = max(m.val_reference - float(np.min(m.smooth_val)), 0.1 * m.val_reference)
        val_swing = float(np.median(np.abs(np.diff(m.val[len(m.val) // 2 :])))) / learned if learned > 0 else 0.0
        val_scatter = curves.scatter(m.val, m.smooth_val) / learned if learned > 0 else 0.0
    notes.update(train_rise=train_rise, train_roughness=step, train_ups=ups, train_spike=spike, val_swing=val_swing,
                 val_scatter=val_scatter)

    val_blown = m.val_share is not None and m.val_share >= DIVERGE_VAL_SHARE and m.train_share >= HIGH_TRAIN_SHARE
    # A blow-up still says the optimiser is not in control when the model did not get well
    # past it: the training or validation loss shot past BLOW_UP times its reference at some
    # epoch after the first, and the training loss ended high. (A run that blew up early and
    # then learned its training data — training loss under HIGH_LOSS_TRAIN_FLOOR of its
    # start — is read from the rest of its curves; so is a memorising model's validation loss.)
    train_peak = float(np.max(m.loss[1:])) / m.train_start if m.train_start > 0 else 0.0
    val_peak = float(np.max(m.val[1:])) / m.val_reference if m.val is not None and m.val_reference > 0 else 0.0
    # "Ended high" against the trivial predictor too, when known: a first epoch thrown far up
    # makes any later training loss look low against it.
    train_ended_high = m.train_share >= HIGH_LOSS_TRAIN_FLOOR or bool(
        m.baseline and m.smooth_loss[-1] >= HIGH_LOSS_TRAIN_FLOOR * m.baseline)
    blew_up = max(train_peak, val_peak) >= BLOW_UP and train_ended_high
    notes.update(train_peak=train_peak, val_peak=val_peak)
    if m.epochs > MIN_EPOCHS and (train_rise >= DIVERGE_SHARE or val_blown or blew_up):
        strength = max(_share(train_rise, DIVERGE_SHARE), _share(m.val_share, DIVERGE_VAL_SHARE) if val_blown else 0.0,
                       _share(max(train_peak, val_peak), BLOW_UP) if blew_up else 0.0)
        return RunReading("unstable", 0.6 + 0.35 * strength, ["diverging"], flags, evidence, notes)
    zigzag = step >= OSCILLATION_STEP and ups >= OSCILLATION_UPS
    if m.epochs >= TREND_EPOCHS and (spike >= SPIKE_SHARE or zigzag or val_swing >= VAL_SWING
                                     or val_scatter >= VAL_SCATTER):
        strength = max(_share(spike, SPIKE_SHARE), _share(step, OSCILLATION_STEP) if zigzag else 0.0,
                       _share(val_swing, VAL_SWING), _share(val_scatter, VAL_SCATTER))
        return RunReading("unstable", 0.55 + 0.4 * strength, ["oscillating"], flags, evidence, notes)
    return None


def _underfitting(m: _Measures, evidence: dict, notes: dict, flags: list[str]) -> RunReading | None:
    """A high training loss, or curves still clearly falling. Needs no validation curve.

    Records ``still_to_gain`` in the notes either way: the good-fit confidence uses it.
    """
    # A model that learned its fill in the first epoch also has a flat training curve; the
    # baseline, when known, tells it from one that learned nothing.
    high_train = m.train_share >= HIGH_TRAIN_SHARE and not (
        m.baseline and m.smooth_loss[-1] < LEARNED_IN_FIRST_EPOCH * m.baseline)
    # Judged on the best validation level: one that dipped well below the trivial predictor's and
    # came back up learned something, and is read as rising, not as never having learned.
    best_val_share = (float(np.min(m.smooth_val)) / m.val_reference
                      if m.smooth_val is not None and m.val_reference > 0 else None)
    high_val = (best_val_share is not None and best_val_share >= HIGH_VAL_SHARE
                and m.train_share >= HIGH_LOSS_TRAIN_FLOOR)
    reasons = ["high_training_loss"] if high_train or high_val else []
    notes["high_train"] = bool(high_train)

    # Still improving: the curve the user cares about (validation, else training) would fall a
    # good part of the way left to the trivial predictor's level, were training to go on.
    watched = m.smooth_val if m.smooth_val is not None else m.smooth_loss
    watched_raw = m.val if m.val is not None else m.loss
    tail = 1 if m.epochs <= 4 else curves.tail_length(m.epochs)
    remaining = curves.projected_fall(watched, tail)
    asymptote = watched[-1] - remaining
    # Capped: next to a curve sitting on the baseline the room left is ~0.
    still_to_gain = min(10.0, remaining / max(m.val_reference - asymptote, 1e-12)) if remaining > 0 else 0.0
    # A fall counts when it beats the curve's own wobble and is at least 1 % of its level.
    last_fall = watched[-tail - 1] - watched[-1]
    fall_is_real = last_fall > max(RISE_NOISE_MULTIPLE * curves.noise(watched_raw, watched), 0.01 * abs(watched[-1]))
    train_falling = curves.projected_fall(m.smooth_loss, tail) > 0
    notes.update(still_to_gain=still_to_gain, best_val_share=best_val_share, projected_drop=remaining / watched[-1] if watched[-1] > 0 else None,
                 watched="validation" if m.smooth_val is not None else "training")
    if still_to_gain >= STILL_IMPROVING and fall_is_real and train_falling and m.train_share >= TRAINED_OUT:
        reasons.append("still_improving")
    if not reasons:
        return None
    strength = max(_share(m.train_share, HIGH_TRAIN_SHARE) if high_train else 0.0,
                   _share(best_val_share, HIGH_VAL_SHARE) if high_val else 0.0,
                   _share(still_to_gain, STILL_IMPROVING) if "still_improving" in reasons else 0.0)
    _validation_flags(m, flags)
    return RunReading("underfit", _penalise(0.6 + 0.35 * strength, flags), reasons, flags, evidence, notes)


def _overfitting(m: _Measures, evidence: dict, notes: dict, flags: list[str]) -> RunReading | None:
    """Validation loss rose materially from its minimum while the training loss kept falling."""
    _validation_flags(m, flags)
    if m.smooth_val is None or m.epochs <= MIN_EPOCHS:
        return None
    best = int(evidence["best_epoch"]) - 1
    floor = float(m.smooth_val[best])
    rise = float(m.smooth_val[-1] - floor)
    noise = curves.noise(m.val, m.smooth_val)
    # A noise-free curve still needs a rise larger than rounding.
    noise_floor = max(RISE_NOISE_MULTIPLE * noise / math.sqrt(curves.smoothing_window(m.epochs)), 1e-9)
    learned = (m.baseline - floor) if m.baseline and m.baseline > floor else floor
    train_kept_falling = m.smooth_loss[-1] <= m.smooth_loss[best] + 0.02 * abs(m.smooth_loss[best])
    if not (rise > noise_floor and (evidence["val_loss_rise"] or 0.0) >= RISE_SHARE
            and rise >= RISE_OF_LEARNED * learned and best < len(m.val) - 1 and train_kept_falling):
        return None
    reasons = ["val_loss_rising"]
    gap_at_best = m.smooth_val[best] - m.smooth_loss[best]
    if evidence["generalization_gap"] > max(GAP_GROWTH * gap_at_best, 2 * RISE_OF_LEARNED * learned):
        reasons.append("generalization_gap")
    confidence = 0.6 + 0.35 * _share(float(evidence["val_loss_rise"]), RISE_SHARE)
    return RunReading("overfit", _penalise(confidence, flags), reasons, flags, evidence, notes)


def _validation_flags(m: _Measures, flags: list[str]) -> None:
    """Side observations that do not change the verdict (added once)."""
    found = []
    if m.smooth_val is not None and m.epochs > MIN_EPOCHS:
        level = float(np.median(np.abs(m.val[len(m.val) // 2 :]))) or 1.0
        if curves.noise(m.val, m.smooth_val) / level >= NOISY_VALIDATION:
            found.append("noisy_validation")
        if m.smooth_val[-1] < m.smooth_loss[-1] * VAL_BELOW_TRAIN:
            found.append("val_below_train")
    final = m.smooth_val[-1] if m.smooth_val is not None else m.smooth_loss[-1]
    if m.baseline and final >= m.baseline:
        found.append("baseline_not_beaten")
    flags.extend(f for f in found if f not in flags)


def _last(values: np.ndarray | None) -> float | None:
    if values is None or not len(values):
        return None
    value = float(values[-1])
    return value if math.isfinite(value) else None


def _share(value: float, threshold: float) -> float:
    """How far past a threshold a value is, 0 at the threshold and 1 at double it."""
    if threshold <= 0:
        return 1.0
    return float(np.clip((value - threshold) / threshold, 0.0, 1.0))


def _penalise(confidence: float, flags: list[str]) -> float:
    """Less sure when the reading rests on few epochs or a validation curve that jumps about."""
    if "few_epochs" in flags:
        confidence *= 0.85
    if "noisy_validation" in flags:
        confidence *= 0.9
    return float(np.clip(confidence, 0.05, 0.99))
