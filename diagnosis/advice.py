"""Words for a reading: one summary sentence with its numbers, and recommendations a user can act on.

Recommendations name a number whenever the history gives one (the epoch to stop at, how many
epochs to train, the learning rate to use); generic advice is the fallback, not the rule.
"""
from __future__ import annotations

from diagnosis.single_run import RunReading
from diagnosis.thresholds import (BLOW_UP, DIVERGE_SHARE, HIGH_TRAIN_SHARE, SPIKE_SHARE, TREND_EPOCHS, VAL_SCATTER,
                                 VAL_SWING)


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


def _num(value: float) -> str:
    return f"{value:.3g}"


def _lr(value: float) -> str:
    return f"{value:.2g}"


def patience(epochs: int) -> int:
    """Early-stopping patience scaled to the run: about a tenth of it, 3–10 epochs."""
    return int(min(10, max(3, round(epochs / 10))))


def summary(reading: RunReading) -> str:
    text = _verdict_sentence(reading)
    loss_key = reading.notes.get("loss_key")
    if loss_key not in (None, "loss"):
        text += f" (Read from `{loss_key}`: the history has no `loss`.)"
    return text


def _verdict_sentence(reading: RunReading) -> str:
    e, n = reading.evidence, reading.notes
    epochs = e["epochs"]
    verdict, reasons = reading.verdict, reading.reasons
    if verdict == "unstable":
        if "nan_loss" in reasons:
            return f"The loss became NaN or infinite at epoch {n.get('first_bad_epoch', '?')}: training broke down."
        if "diverging" in reasons:
            if max(n["train_peak"], n["val_peak"]) >= BLOW_UP:
                return (f"The loss blew up to {max(n['train_peak'], n['val_peak']):.3g}× its reference level "
                        "during training: the optimiser is not in control, even if it recovered.")
            if n["train_rise"] >= DIVERGE_SHARE:
                return (f"Training loss climbed back up by {_pct(n['train_rise'])} of its first-epoch level: "
                        "the optimiser is diverging instead of converging.")
            return (f"Validation loss ended at {n['val_share']:.1f}× the trivial predictor's while training loss "
                    "stayed high: the model's predictions are worse than guessing.")
        if n["val_swing"] >= VAL_SWING:
            return ("Validation loss swings from epoch to epoch by more than the model ever gained over the "
                    "trivial predictor: the curves are too erratic to read.")
        if n.get("val_scatter", 0.0) >= VAL_SCATTER:
            return (f"Validation loss is thrown up and down around its trend by about {_pct(n['val_scatter'])} of "
                    "what the model gained over the trivial predictor: the curves are too erratic to read.")
        if n["train_spike"] >= SPIKE_SHARE:
            return (f"Late in training the loss jumped back up by {_pct(n['train_spike'])} of its first-epoch "
                    "level in one epoch: the optimiser is being thrown around.")
        return (f"Training loss zig-zags by about {_pct(n['train_roughness'])} of its first-epoch level from "
                "epoch to epoch in the second half of training: the curves are too erratic to read.")
    if verdict == "overfit":
        text = (f"Validation loss bottomed out at epoch {e['best_epoch']} and rose {_pct(e['val_loss_rise'])} "
                f"since, while training loss kept falling.")
        if "generalization_gap" in reasons:
            text += f" The gap between validation and training loss has grown to {_num(e['generalization_gap'])}."
        return text
    if verdict == "underfit":
        parts = []
        if "high_training_loss" in reasons:
            if n["train_share"] >= HIGH_TRAIN_SHARE:
                parts.append(f"Training loss ended at {_num(e['final_loss'])}, still "
                             f"{_pct(n['train_share'])} of its first-epoch level")
            else:
                parts.append(f"Validation loss never got below {_pct(n['best_val_share'])} of "
                             + (f"the trivial predictor's {_num(e['baseline_loss'])}" if e["baseline_loss"] is not None
                                else "its first-epoch level")
                             + f", and training loss is still {_pct(n['train_share'])} of its first-epoch level")
        if "still_improving" in reasons:
            drop = n.get("projected_drop")
            projection = f"; its trend projects about {_pct(drop)} lower with more training" if drop else ""
            parts.append(f"the {n['watched']} loss was still falling clearly after {epochs} epochs{projection}")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."
    if verdict == "good_fit":
        level = (f"validation loss ended at {_pct(n['val_share'])} of the trivial predictor's"
                 if e["baseline_loss"] is not None else "validation loss tracks it")
        return (f"Training loss fell to {_pct(n['train_share'])} of its first-epoch level and flattened; {level} "
                f"(best at epoch {e['best_epoch']}, {_pct(e['val_loss_rise'] or 0.0)} above that at the end).")
    if "no_validation" in reasons:
        return ("There is no validation curve and the training curve shows no underfitting, "
                "so overfitting cannot be judged.")
    return f"Only {epochs} epochs: too few to read a trend."


def recommendations(reading: RunReading, *, task: str | None = None) -> list[str]:
    e, n = reading.evidence, reading.notes
    epochs = e["epochs"]
    lr = n.get("learning_rate")
    verdict, reasons = reading.verdict, reading.reasons
    advice: list[str] = []
    if verdict == "unstable":
        factor = 3 if "oscillating" in reasons else 10
        advice.append(f"Lower the learning rate to {_lr(lr / factor)}" if lr
                      else f"Lower the learning rate {factor}× (e.g. Adam's 0.001 → {_lr(0.001 / factor)})")
        if "oscillating" in reasons:
            advice.append("Use larger batches (64–128) to steady the gradient")
        else:
            advice.append("Clip gradients (clipnorm = 1.0)")
            advice.append("Scale inputs and targets (scale: standard) and check the data for NaN/inf")
    elif verdict == "overfit":
        advice.append(f"Stop at epoch {e['best_epoch']} (early stopping on val_loss, patience ≈ {patience(epochs)}, "
                      "restore_best_weights)")
        advice.append("Add dropout 0.2–0.5 (and recurrent_dropout 0.1–0.3)")
        advice.append("Reduce capacity: halve the LSTM units or drop a layer")
        advice.append("Train on more data if you have it")
    elif verdict == "underfit":
        if "still_improving" in reasons:
            times = 3 if n["still_to_gain"] >= 0.5 else 2
            if times * epochs >= 20:
                advice.append(f"Train ~{times}× longer ({times * epochs} epochs)")
            else:
                advice.append(f"Train at least 20 epochs (this run stopped after {epochs} while still improving)")
            if lr and lr < 5e-4:
                advice.append(f"Raise the learning rate to {_lr(lr * 3)}")
        if "high_training_loss" in reasons:
            advice.append("Add capacity: double the LSTM units or add a second LSTM layer")
            if "still_improving" not in reasons:
                advice.append("Lower dropout if any, and check the inputs are scaled and the window covers the pattern")
    elif verdict == "good_fit":
        advice.append(f"Keep this configuration; early stopping (patience ≈ {patience(epochs)}) around epoch "
                      f"{e['best_epoch']} guards against drifting into overfitting")
        advice.append("To improve further, add data, then try more units with dropout 0.2")
    elif "no_validation" in reasons:
        advice.append("Hold out validation data (validation_split 0.2) so overfitting can be judged")
    else:
        advice.append(f"Train at least {max(2 * TREND_EPOCHS, 20)} epochs before judging the fit")
    if "noisy_validation" in reading.flags:
        advice.append("The validation curve is noisy: use a larger validation split (0.2–0.3)")
    # An overfit model ends above the trivial predictor because it overfits; the data are not to blame.
    if "baseline_not_beaten" in reading.flags and verdict != "overfit":
        trivial = {"regression": "the training mean", "binary_classification": "the class prior",
                   "multiclass_classification": "the class prior"}.get(task or "", "the trivial predictor")
        advice.append(f"Validation loss is no better than predicting {trivial}: check the features, "
                      "the window and that targets line up with inputs")
    return advice
