"""Words for a reading: one summary sentence with its numbers, and recommendations a user can act on.

Recommendations start from the run's own configuration when it is known (the job's learning
rate, epochs, units, dropout, batch size — ``Training``), else from what the history shows
(a `learning_rate` curve), and name a number whenever the curves give one: the epoch to stop
at, how much longer to train and why, the learning rate to use. Generic advice is the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from diagnosis.features import Features
from diagnosis.single_run import RunReading


@dataclass(frozen=True)
class Training:
    """What the run was trained with, as far as known (a job's config; nothing for a bare history)."""

    learning_rate: float | None = None
    optimizer: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    units: int | None = None
    layers: int | None = None
    dropout: float | None = None

    @classmethod
    def from_config(cls, config: Mapping | None) -> Training:
        """From a job config as API.md spells it (``training``, ``model`` sections), missing parts tolerated."""
        if not config:
            return cls()
        training = config.get("training") or {}
        model = config.get("model") or {}
        layers = model.get("layers") or []
        return cls(
            learning_rate=training.get("learning_rate"),
            optimizer=training.get("optimizer"),
            epochs=training.get("epochs"),
            batch_size=training.get("batch_size"),
            units=layers[0].get("units") if layers else None,
            layers=len(layers) or None,
            dropout=max((layer.get("dropout") or 0.0) for layer in layers) if layers else None,
        )


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


def _against(f: Features) -> str:
    return "the trivial predictor's loss" if f.reference_known else "the first epoch's loss"


def _verdict_sentence(reading: RunReading) -> str:
    e, f = reading.evidence, reading.features
    epochs = e["epochs"]
    verdict, reasons = reading.verdict, reading.reasons
    if verdict == "unstable":
        if "nan_loss" in reasons:
            return f"The loss became NaN or infinite at epoch {f.first_bad_epoch}: training broke down."
        if "runs_disagree" in reasons:
            return "The runs disagree: the outcome depends on the seed."
        if "diverging" in reasons:
            return (
                f"The training loss blew up to {f.peak:.3g}× {_against(f)} and ended above where it started: "
                "the optimiser is not in control."
            )
        return (
            f"The training loss jumped up {f.jumps} times by more than a quarter of {_against(f)} and ended "
            "above where it started: the optimiser is being thrown around."
        )
    if verdict == "overfit":
        text = (
            f"Validation loss bottomed out at epoch {e['best_epoch']} of {epochs} and rose {_pct(f.rise)} since, "
            f"while training loss {'kept falling' if f.train_fell_after_best > 0 else 'stayed flat'}."
        )
        if "generalization_gap" in reasons:
            text += f" Validation loss now sits {_num(float(e['generalization_gap'] or 0.0))} above training loss."
        return text
    if verdict == "underfit":
        parts = []
        if "high_training_loss" in reasons:
            parts.append(
                f"training loss ended at {_pct(f.train_level)} of {_against(f)}: the model has barely "
                "learned the training data"
            )
        if "still_improving" in reasons:
            watched = "validation" if f.has_validation else "training"
            parts.append(
                f"the {watched} loss was still falling at the end ({_pct(f.val_tail_fall)} over the last "
                f"{f.tail} epochs of {epochs})"
            )
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."
    if verdict == "good_fit":
        level = (
            f"validation loss ended at {_pct(f.val_level)} of the trivial predictor's"
            if f.reference_known and f.val_level is not None
            else "validation loss tracks it"
        )
        return (
            f"Training loss came down to {_pct(f.train_level)} of {_against(f)} and flattened; {level} "
            f"(best at epoch {e['best_epoch']}, {_pct(max(f.rise, 0.0))} above that at the end)."
        )
    if "no_validation" in reasons:
        return (
            "There is no validation curve and the training curve shows no underfitting, "
            "so overfitting cannot be judged."
        )
    return f"Only {epochs} epoch{'s' if epochs != 1 else ''}: too few to read a trend."


def recommendations(reading: RunReading, *, task: str | None = None, training: Training | None = None) -> list[str]:
    e, f = reading.evidence, reading.features
    training = training or Training()
    epochs = int(e["epochs"] or 0)
    lr = training.learning_rate or reading.learning_rate
    verdict, reasons = reading.verdict, reading.reasons
    advice: list[str] = []
    if verdict == "unstable":
        factor = 10 if "nan_loss" in reasons or "diverging" in reasons else 3
        if lr:
            advice.append(f"Lower the learning rate {factor}×: {_lr(lr)} → {_lr(lr / factor)}")
        else:
            advice.append(f"Lower the learning rate {factor}× (e.g. Adam's 0.001 → {_lr(0.001 / factor)})")
        if "runs_disagree" in reasons:
            advice.append("Judge the spread of several repeats, not one run")
        elif factor == 3:
            batch = training.batch_size
            advice.append(
                f"Use larger batches ({batch} → {batch * 2}) to steady the gradient"
                if batch
                else "Use larger batches (64–128) to steady the gradient"
            )
        else:
            advice.append("Clip gradients (clipnorm = 1.0)")
            advice.append("Scale inputs and targets (scale: standard) and check the data for NaN/inf")
    elif verdict == "overfit":
        advice.append(
            f"Stop at epoch {e['best_epoch']}: validation loss rose {_pct(f.rise)} after it "
            f"(early stopping on val_loss, patience ≈ {patience(epochs)}, restore_best_weights)"
        )
        if training.dropout is not None and training.dropout >= 0.2:
            advice.append(
                f"Raise dropout ({training.dropout:g} → {min(0.5, training.dropout + 0.2):g}) "
                "or add recurrent_dropout 0.1–0.3"
            )
        else:
            advice.append("Add dropout 0.2–0.5 (and recurrent_dropout 0.1–0.3)")
        advice.append(
            f"Reduce capacity: {training.units} → {max(1, training.units // 2)} LSTM units"
            if training.units
            else "Reduce capacity: halve the LSTM units or drop a layer"
        )
        advice.append("Train on more data if you have it")
    elif verdict == "underfit":
        if "still_improving" in reasons:
            times = 3 if f.val_tail_fall >= 0.2 or epochs < 10 else 2
            target = max(times * epochs, 20)
            watched = "validation" if f.has_validation else "training"
            advice.append(
                f"Train ~{max(2, round(target / max(epochs, 1)))}× longer ({target} epochs): {watched} loss "
                f"still fell {_pct(f.val_tail_fall)} over the last {f.tail} epochs"
            )
            if lr and lr < 5e-4:
                advice.append(f"Raise the learning rate: {_lr(lr)} → {_lr(lr * 3)}")
        if "high_training_loss" in reasons:
            if training.units:
                advice.append(f"Add capacity: {training.units} → {training.units * 2} LSTM units, or a second layer")
            else:
                advice.append("Add capacity: double the LSTM units or add a second LSTM layer")
            if training.dropout:
                advice.append(f"Lower dropout ({training.dropout:g} → {training.dropout / 2:g})")
            if lr and lr < 3e-4 and "still_improving" not in reasons:
                advice.append(f"Raise the learning rate: {_lr(lr)} → {_lr(lr * 3)}")
            advice.append("Check the inputs are scaled and the window covers the pattern")
    elif verdict == "good_fit":
        advice.append(
            f"Keep this configuration; early stopping (patience ≈ {patience(epochs)}) around epoch "
            f"{e['best_epoch']} guards against drifting into overfitting"
        )
        advice.append("To improve further, add data, then try more units with dropout 0.2")
    elif "no_validation" in reasons:
        advice.append("Hold out validation data (validation_split 0.2) so overfitting can be judged")
    else:
        advice.append(f"Train at least 20 epochs before judging the fit (this run has {epochs})")
    if "noisy_validation" in reading.flags:
        advice.append("The validation curve is noisy: use a larger validation split (0.2–0.3)")
    # An overfit model ends above the trivial predictor because it overfits; the data are not to blame.
    if "baseline_not_beaten" in reading.flags and verdict not in ("overfit", "unstable"):
        trivial = {
            "regression": "the training mean",
            "binary_classification": "the class prior",
            "multiclass_classification": "the class prior",
        }.get(task or "", "the trivial predictor")
        advice.append(
            f"Validation loss is no better than predicting {trivial}: check the features, "
            "the window and that targets line up with inputs"
        )
    return advice
