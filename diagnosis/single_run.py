"""Reading one run: from a Keras history to a verdict with reasons, flags, confidence and evidence.

The order of the checks is API.md's precedence: instability first (nothing else can be read
from a broken run), then underfitting (readable from the training curve alone), then
overfitting (needs validation), then a good fit, and "inconclusive" when the history cannot
carry a verdict.

Every threshold is relative — to the trivial predictor's loss, to the curve's own fall or
noise — so the same reading holds for cross-entropy near 0.7 and for an MSE in the thousands.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from diagnosis import curves
from diagnosis.history import History, accuracy_key, as_array

MIN_EPOCHS = 3
# Below this many epochs a flat curve is not yet a trend: good fit and overfit are not called.
TREND_EPOCHS = 6
# Verdicts reached on fewer epochs than this carry the `few_epochs` flag.
FEW_EPOCHS = 10

# Losses a history may carry when it has no plain `loss`, most telling first.
_LOSS_FALLBACKS = ("mse", "mean_squared_error", "mae", "mean_absolute_error", "rmse", "root_mean_squared_error")

# --- thresholds (chosen on the corpus' tuning half, see benchmarks/diagnosis_corpus) ---
# Training loss still this share of its first-epoch level: the model has barely learned.
HIGH_TRAIN_SHARE = 0.85
# Validation loss still this share of the trivial predictor's: nothing that generalises was learned.
HIGH_VAL_SHARE = 0.75
# Projected further fall of the validation loss, as a share of what is left to learn below
# the trivial predictor: this much still to gain means training stopped too early...
STILL_IMPROVING = 0.20
# ...unless the training loss is already below this share of its first-epoch level: more
# epochs would then mostly widen the gap.
TRAINED_OUT = 0.20
# The validation-based reading of a high loss needs a training loss that has not fallen
# below this share of its first-epoch level (else it is a memorising model, not a weak one).
HIGH_LOSS_TRAIN_FLOOR = 0.50
# Validation loss above its minimum by this fraction, and by more than its own noise: rising.
RISE_SHARE = 0.10
RISE_NOISE_MULTIPLE = 2.0
# Diverging: the smoothed training loss climbed back up by this share of its first-epoch
# level (a memorising model's loss near zero may double and still be nowhere near), or the
# validation loss ended this many times the trivial predictor's while training loss stayed high.
DIVERGE_SHARE = 0.30
DIVERGE_VAL_SHARE = 1.5
# Validation loss swinging from epoch to epoch (median step, second half) by this share of
# everything it learned below the trivial predictor: too erratic to read.
VAL_SWING = 0.70
# Erratic training loss: a late one-epoch climb this share of the first epoch's loss, or a
# zig-zag whose median step is this share of its level with steps up about as often as down
# (dropout on a small training set jitters by up to about 0.2).
SPIKE_SHARE = 0.40
OSCILLATION_STEP = 0.30
OSCILLATION_UPS = 0.35
# Validation noise (robust std / level) above which the validation curve is flagged noisy.
NOISY_VALIDATION = 0.08


@dataclass
class Curves:
    """The aligned arrays of one run, and which keys they came from."""

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
    notes: dict[str, float | int | None] = field(default_factory=dict)


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
        # Validation without training curve still tells instability and rises; read it as both.
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


def read_run(history: History, *, task: str | None = None, baseline_loss: float | None = None) -> RunReading:
    c = extract_curves(history)
    epochs = len(c.loss)
    evidence: dict[str, float | int | None] = {
        "epochs": epochs, "best_epoch": None,
        "final_loss": _last(c.loss), "final_val_loss": _last(c.val_loss), "min_val_loss": None,
        "val_loss_rise": None, "generalization_gap": None,
        "baseline_loss": baseline_loss if baseline_loss is not None and math.isfinite(baseline_loss) else None,
        "loss_vs_baseline": None, "train_slope": None, "val_slope": None,
        "final_accuracy": _last(c.accuracy), "final_val_accuracy": _last(c.val_accuracy),
    }
    notes: dict[str, float | int | None] = {"learning_rate": c.learning_rate, "loss_key": c.loss_key}
    baseline = evidence["baseline_loss"]

    # --- unstable: a non-finite loss anywhere, NaN at epoch 1 included ---
    bad = [i for i, v in enumerate(c.loss) if not math.isfinite(v)]
    if c.val_loss is not None:
        bad += [i for i, v in enumerate(c.val_loss) if not math.isfinite(v)]
    if bad:
        notes["first_bad_epoch"] = min(bad) + 1
        flags = ["few_epochs"] if epochs < FEW_EPOCHS else []
        return RunReading("unstable", 0.97, ["nan_loss"], flags, evidence, notes)

    if epochs < MIN_EPOCHS:
        return RunReading("inconclusive", 0.9, ["too_few_epochs"], [], evidence, notes)

    loss = c.loss
    val = c.val_loss[:epochs] if c.val_loss is not None and len(c.val_loss) >= MIN_EPOCHS else None
    smooth_loss = curves.smooth(loss)
    tail = curves.tail_length(epochs)
    evidence["train_slope"] = curves.slope(loss[-tail - 1 :])
    if baseline and baseline > 0:
        evidence["loss_vs_baseline"] = float(loss[-1] / baseline)
    # Without a baseline, the first epoch's training loss stands in for it: it is what the
    # model scored while it knew almost nothing.
    reference = baseline if baseline and baseline > 0 else float(max(loss[0], smooth_loss[0]))

    smooth_val = None
    if val is not None:
        smooth_val = curves.smooth(val)
        best = int(np.argmin(smooth_val))
        min_smooth = float(smooth_val[best])
        evidence["best_epoch"] = best + 1
        evidence["min_val_loss"] = float(np.min(val))
        if min_smooth > 0:
            evidence["val_loss_rise"] = float((smooth_val[-1] - min_smooth) / min_smooth)
        evidence["generalization_gap"] = float(smooth_val[-1] - smooth_loss[min(len(smooth_loss), len(smooth_val)) - 1])
        evidence["val_slope"] = curves.slope(val[-tail - 1 :])

    flags: list[str] = []
    if epochs < FEW_EPOCHS:
        flags.append("few_epochs")

    train_start = float(max(loss[0], smooth_loss[0]))
    train_share = float(smooth_loss[-1] / train_start) if train_start > 0 else 0.0
    # Validation is judged against the trivial predictor on the same data; without one, the
    # first epoch's losses stand in for it.
    val_reference = baseline if baseline and baseline > 0 else float(max(loss[0], val[0] if val is not None else 0))
    val_share = float(smooth_val[-1] / val_reference) if smooth_val is not None and val_reference > 0 else None

    # --- unstable: the losses climb back up, or are thrown around ---
    train_rise = float(smooth_loss[-1] - np.min(smooth_loss)) / train_start if train_start > 0 else 0.0
    step, ups = curves.roughness(loss)
    spike = curves.late_spike(loss, train_start)
    val_swing = 0.0
    if val is not None and epochs >= TREND_EPOCHS:
        learned = max(val_reference - float(np.min(smooth_val)), 0.1 * val_reference)
        val_swing = float(np.median(np.abs(np.diff(val[len(val) // 2 :])))) / learned if learned > 0 else 0.0
    notes.update(train_share=train_share, val_share=val_share, train_rise=train_rise, train_roughness=step,
                 train_ups=ups, train_spike=spike, val_swing=val_swing)
    val_blown = val_share is not None and val_share >= DIVERGE_VAL_SHARE and train_share >= HIGH_TRAIN_SHARE
    if epochs >= MIN_EPOCHS + 1 and (train_rise >= DIVERGE_SHARE or val_blown):
        strength = max(_share(train_rise, DIVERGE_SHARE), _share(val_share, DIVERGE_VAL_SHARE) if val_blown else 0.0)
        return RunReading("unstable", 0.6 + 0.35 * strength, ["diverging"], flags, evidence, notes)
    zigzag = step >= OSCILLATION_STEP and ups >= OSCILLATION_UPS
    if epochs >= TREND_EPOCHS and (spike >= SPIKE_SHARE or zigzag or val_swing >= VAL_SWING):
        strength = max(_share(spike, SPIKE_SHARE), _share(step, OSCILLATION_STEP) if zigzag else 0.0,
                       _share(val_swing, VAL_SWING))
        return RunReading("unstable", 0.55 + 0.4 * strength, ["oscillating"], flags, evidence, notes)

    # --- underfit: read from the training curve (validation confirms when present) ---
    reasons: list[str] = []
    # A model that learned everything in its first epoch also has a flat training curve; the
    # baseline, when known, tells it from one that learned nothing.
    high_train = train_share >= HIGH_TRAIN_SHARE and not (baseline and smooth_loss[-1] < 0.5 * baseline)
    high_loss = high_train or (
        val_share is not None and val_share >= HIGH_VAL_SHARE and train_share >= HIGH_LOSS_TRAIN_FLOOR
    )
    if high_loss:
        reasons.append("high_training_loss")
    # Still improving: the curve the user cares about (validation, else training) would fall
    # a good part of the way that is left to the trivial predictor's level, were training to go on.
    watched = smooth_val if smooth_val is not None else smooth_loss
    watched_raw = val if val is not None else loss
    trend_tail = 1 if epochs <= 4 else curves.tail_length(epochs)
    remaining = curves.projected_fall(watched, trend_tail)
    room = val_reference if smooth_val is not None else reference
    # Capped: next to a curve sitting on the baseline the remaining room is ~0.
    still_to_gain = min(10.0, remaining / max(room - (watched[-1] - remaining), 1e-12)) if remaining > 0 else 0.0
    last_fall = watched[-trend_tail - 1] - watched[-1]
    # A fall counts when it beats the curve's own wobble and is at least 1 % of its level;
    # near the baseline a wobble would otherwise project a large share of a tiny room.
    fall_is_real = last_fall > max(RISE_NOISE_MULTIPLE * curves.noise(watched_raw, watched), 0.01 * abs(watched[-1]))
    train_falling = curves.projected_fall(smooth_loss, trend_tail) > 0
    notes.update(still_to_gain=still_to_gain,
                 projected_drop=remaining / watched[-1] if watched[-1] > 0 else None,
                 watched="validation" if smooth_val is not None else "training")
    if still_to_gain >= STILL_IMPROVING and fall_is_real and train_falling and train_share >= TRAINED_OUT:
        reasons.append("still_improving")

    # --- overfit: needs validation ---
    rise_reasons: list[str] = []
    rise_strength = 0.0
    if smooth_val is not None and epochs >= MIN_EPOCHS + 1:
        best = int(evidence["best_epoch"]) - 1
        min_smooth = float(smooth_val[best])
        rise = float(smooth_val[-1] - min_smooth)
        val_noise = curves.noise(val, smooth_val)
        # A noise-free curve still needs a rise larger than rounding.
        noise_floor = max(RISE_NOISE_MULTIPLE * val_noise / math.sqrt(curves.smoothing_window(epochs)), 1e-9)
        learnable = (baseline - min_smooth) if baseline and baseline > min_smooth else min_smooth
        train_kept_falling = smooth_loss[-1] <= smooth_loss[best] + 0.02 * abs(smooth_loss[best])
        notes.update(val_noise=val_noise, rise=rise, learnable=learnable)
        if (
            rise > noise_floor
            and evidence["val_loss_rise"] is not None
            and evidence["val_loss_rise"] >= RISE_SHARE
            and rise >= 0.05 * learnable
            and best < len(val) - 1
            and train_kept_falling
        ):
            rise_reasons.append("val_loss_rising")
            rise_strength = _share(float(evidence["val_loss_rise"]), RISE_SHARE)
            gap_at_best = smooth_val[best] - smooth_loss[best]
            if evidence["generalization_gap"] > max(2 * gap_at_best, 0.1 * learnable):
                rise_reasons.append("generalization_gap")
        level = float(np.median(np.abs(val[len(val) // 2 :]))) or 1.0
        if val_noise / level >= NOISY_VALIDATION:
            flags.append("noisy_validation")
        if smooth_val[-1] < smooth_loss[-1] * 0.9:
            flags.append("val_below_train")
        if baseline and smooth_val[-1] >= baseline:
            flags.append("baseline_not_beaten")
    elif baseline and smooth_loss[-1] >= baseline:
        flags.append("baseline_not_beaten")

    # A model that has not learned the training data is underfit whatever its validation
    # curve does; a rise only means overfitting once the training loss is low.
    if rise_reasons and not high_loss:
        confidence = 0.6 + 0.35 * rise_strength
        return RunReading("overfit", _penalise(confidence, flags), rise_reasons, flags, evidence, notes)
    if reasons:
        strength = max(_share(train_share, HIGH_TRAIN_SHARE) if high_train else 0.0,
                       _share(val_share, HIGH_VAL_SHARE) if high_loss and val_share is not None else 0.0,
                       _share(still_to_gain, STILL_IMPROVING) if "still_improving" in reasons else 0.0)
        return RunReading("underfit", _penalise(0.6 + 0.35 * strength, flags), reasons, flags, evidence, notes)

    # --- nothing wrong seen: a good fit needs validation and a trend long enough to read ---
    if smooth_val is None:
        return RunReading("inconclusive", 0.8, ["no_validation"], flags, evidence, notes)
    if epochs < TREND_EPOCHS:
        return RunReading("inconclusive", 0.8, ["too_few_epochs"], flags, evidence, notes)
    # The further every underfit/overfit measure is from its threshold, the surer the good fit.
    closeness = max(val_share / HIGH_VAL_SHARE if val_share is not None else 0.0,
                    still_to_gain / STILL_IMPROVING,
                    (evidence["val_loss_rise"] or 0.0) / RISE_SHARE)
    confidence = 0.6 + 0.35 * float(np.clip(1.0 - closeness, 0.0, 1.0))
    return RunReading("good_fit", _penalise(confidence, flags), [], flags, evidence, notes)


def _penalise(confidence: float, flags: list[str]) -> float:
    """Less sure when the reading rests on few epochs or a validation curve that jumps about."""
    if "few_epochs" in flags:
        confidence *= 0.85
    if "noisy_validation" in flags:
        confidence *= 0.9
    return float(np.clip(confidence, 0.05, 0.99))
