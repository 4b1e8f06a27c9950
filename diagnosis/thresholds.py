"""Every number the verdicts turn on, in one place, each with the reason for its value.

Thresholds are relative — to the trivial predictor's loss, to a curve's own minimum or level —
so one reading holds for cross-entropy near 0.7 and for an MSE in the thousands.

The tunable ones (``TUNED``) are fitted on the labelled corpus in
``benchmarks/diagnosis_corpus`` by ``fit.py``; the defaults below are that fit on all tasks,
and RESULTS.md reports the leave-one-task-out score, where each held-out task is diagnosed
with thresholds fitted on the other tasks only. Their starting points come from
DIAGNOSIS-TRUTH.md's own numbers (15 % rise, first 70 % of the epochs, jumps of a quarter of
the trivial loss, a blow-up at 3×).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

MIN_EPOCHS = 2


@dataclass(frozen=True)
class Thresholds:
    # Below this many epochs nothing at all is read (a single point has no shape).
    min_epochs: int = MIN_EPOCHS
    # Below this many epochs a flat curve is no trend yet: overfit and good fit are not called.
    trend_epochs: int = 6
    # Verdicts reached on fewer epochs than this carry the `few_epochs` flag.
    few_epochs: int = 10

    # Unstable: this many big jumps of the training loss (> 25 % and > a quarter of the
    # trivial loss in one epoch), or a training loss this many times the trivial one, in a
    # run whose training loss ended above where it started.
    jumps: int = 2
    blow_up: float = 3.0
    # Diverging without jumps: the training loss ended this fraction above its own minimum
    # (and above where it started).
    train_rise: float = 1.0

    # Overfit: the smoothed validation loss ended this fraction above its minimum...
    rise: float = 0.108
    # ...the raw minimum lay within this share of the epochs...
    best_position: float = 1
    # ...and the rise is this share of the trivial loss (material, not rounding).
    rise_material: float = 0.01375
    # The gap (validation − training, over the trivial loss) that also names `generalization_gap`.
    gap: float = 0.15

    # Underfit: a final training loss this share of the trivial predictor's or more...
    high_loss: float = 0.4
    # ...(without a known trivial loss, of the first epoch's level), with the best validation
    # loss no lower than this share of it either...
    high_loss_no_baseline: float = 0.825
    high_val_loss: float = 0.15
    # ...or the watched curve (validation, else training) is still falling at the end: over
    # the last quarter of the epochs it fell this share of its final level, or this share of
    # everything it fell in the whole run (a converged curve did its falling early)...
    still_improving: float = 0.1
    still_improving_share: float = 0.112
    # ...or its trend projects a further fall of this share of its final level...
    projected_gain: float = 0.7
    # ...by at least this share of the trivial loss (a curve far below it that still creeps
    # down is as good as it gets).
    still_improving_material: float = 0.0081
    # The training loss must be falling too, by this share of its level over the tail (a
    # flat training curve under a wobbling validation curve is noise, not progress).
    train_still_falling: float = 0.01
    # The fall must also exceed this many times the validation curve's own relative wobble.
    noise_multiple: float = 1.0

    # Flags only (they never change a verdict).
    noisy_validation: float = 0.08
    val_below_train: float = 0.90


# The thresholds fitted on the corpus; the others are fixed by their meaning.
TUNED = (
    "rise",
    "best_position",
    "rise_material",
    "high_loss",
    "high_loss_no_baseline",
    "high_val_loss",
    "still_improving",
    "still_improving_share",
    "projected_gain",
    "still_improving_material",
)

DEFAULT = Thresholds()


def with_values(base: Thresholds, **values: float) -> Thresholds:
    return replace(base, **values)  # type: ignore[arg-type]  # int fields take whole numbers only


def as_dict(t: Thresholds) -> dict[str, float]:
    return {f.name: getattr(t, f.name) for f in fields(t)}
