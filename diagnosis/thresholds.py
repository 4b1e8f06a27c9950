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
    best_position: float = 1.05
    # ...and the rise is this share of the trivial loss (material, not rounding).
    rise_material: float = 0.01375
    # The gap (validation − training, over the trivial loss) that also names `generalization_gap`.
    gap: float = 0.15

    # Underfit: a final training loss this share of the trivial predictor's or more...
    high_loss: float = 0.5
    # ...that fell no more than this share below its first epoch's level (without a known
    # trivial loss this alone says "near the reference": the reference is that first level).
    # A fall, not a level: its natural scale starts at zero (±10 % moves it by about 2 points,
    # where ±10 % of the level 0.78 would move it by 8)...
    little_fall_from_start: float = 0.22
    # ...or fell more, but the best validation loss got no more than this share below the
    # reference: nothing that generalises was learned (a gain, not a level, for the same reason)...
    val_gain_little: float = 0.15
    # ...with the best validation loss no lower than this share of the reference either.
    high_val_loss: float = 0.2
    # ...or the watched curve (validation, else training) is still falling at the end: over
    # the last quarter of the epochs it fell this share of its final level, or this share of
    # everything it fell in the whole run (a converged curve did its falling early)...
    still_improving: float = 0.1
    still_improving_share: float = 0.1125
    # ...or its trend projects a further fall of this share of its final level...
    projected_gain: float = 0.66
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
    "little_fall_from_start",
    "high_val_loss",
    "val_gain_little",
    "still_improving",
    "still_improving_share",
    "projected_gain",
    "still_improving_material",
)

DEFAULT = Thresholds()

# Where every fit starts (``benchmarks/diagnosis_corpus/fit.py``), fixed by meaning before any
# fitting so that no task's runs shape the start of a fold that holds it out: DIAGNOSIS-TRUTH.md's
# own numbers (a 15 % rise, the first 70 % of the epochs, material = 1 % of the trivial loss,
# underfit = 30 % above the achievable), a tail that falls by its share of the epochs (a quarter)
# for a curve falling in a straight line, and round values for the rest.
START = replace(
    DEFAULT,
    rise=0.15,
    best_position=0.7,
    rise_material=0.01,
    high_loss=0.5,
    little_fall_from_start=0.2,
    high_val_loss=0.2,
    val_gain_little=0.1,
    still_improving=0.1,
    still_improving_share=0.25,
    projected_gain=0.3,
    still_improving_material=0.01,
)


def with_values(base: Thresholds, **values: float) -> Thresholds:
    return replace(base, **values)  # type: ignore[arg-type]  # int fields take whole numbers only


def as_dict(t: Thresholds) -> dict[str, float]:
    return {f.name: getattr(t, f.name) for f in fields(t)}
