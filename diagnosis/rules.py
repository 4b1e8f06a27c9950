"""From features to a verdict: API.md's precedence, DIAGNOSIS-TRUTH.md's meaning of each word.

Read in this order — unstable (nothing else can be read from a broken run), overfit
(validation bottomed out early and rose materially), underfit (the training loss has not
come down, or the curves are still clearly falling), then a good fit; ``inconclusive`` when
the history cannot carry any of these. Each rule mirrors the truth rule it predicts, with the
validation curve standing in for the test curve the engine never sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diagnosis.features import Features
from diagnosis.thresholds import Thresholds


@dataclass
class Decision:
    verdict: str
    reasons: list[str]
    confidence: float
    flags: list[str] = field(default_factory=list)
    # How far past (positive) or short of (negative) its threshold each deciding measure was.
    margins: dict[str, float] = field(default_factory=dict)


def _excess(value: float, threshold: float) -> float:
    """Relative distance of a value past its threshold: 0 at the threshold, 1 at double it."""
    return (value - threshold) / threshold if threshold > 0 else 1.0


# The highest confidence a verdict reaches when its kind of evidence can be sure, and when it
# cannot (below 0.8, the level API users read as "act on it": see RESULTS.md, Calibration).
_SURE = 0.97
_UNSURE = 0.75


def _confidence(margin: float, low: float = 0.55, high: float = _SURE, span: float = 1.0) -> float:
    """Sure in proportion to how far the deciding measure cleared its threshold."""
    share = min(max(margin / span, 0.0), 1.0)
    return low + (high - low) * share


def decide(f: Features, t: Thresholds) -> Decision:
    flags = ["few_epochs"] if 0 < f.epochs < t.few_epochs else []
    if f.first_bad_epoch is not None:
        return Decision("unstable", ["nan_loss"], 0.97, flags)
    if f.epochs < t.min_epochs:
        return Decision("inconclusive", ["too_few_epochs"], 0.9, flags)

    # Unstable: the training loss blew up and ended above where it started (diverging), or was
    # thrown up by big jumps again and again (oscillating) — the truth's own reading of the
    # training curve. (Jumps in a run that still ended low are "ambiguous" to the truth; a
    # user still cannot read such curves, so they are called unstable too.)
    # A training loss that climbed back far above its own minimum and past where it started
    # diverges even without jumps.
    blew_up = f.peak >= t.blow_up or f.train_rise >= t.train_rise
    if (blew_up and f.ended_above_start) or f.jumps >= t.jumps:
        reason = "diverging" if blew_up and f.ended_above_start else "oscillating"
        margin = max(_excess(f.peak, t.blow_up), 0.5 * (f.jumps - t.jumps + 1))
        # Swings in a run that still ended low are "ambiguous" to the truth, so an oscillating
        # verdict is never sure; a loss that ended above its start is.
        top = _SURE if reason == "diverging" else _UNSURE
        return Decision("unstable", [reason], _confidence(margin, 0.55, top), flags)

    # Overfit: the validation minimum came early and the end is materially above it.
    if (
        f.has_validation
        and f.epochs >= t.trend_epochs
        and f.rise >= t.rise
        and f.best_position <= t.best_position
        and f.rise_of_reference >= t.rise_material
    ):
        reasons = ["val_loss_rising"]
        if f.gap is not None and f.gap >= t.gap:
            reasons.append("generalization_gap")
        margin = min(_excess(f.rise, t.rise), _excess(t.best_position, f.best_position) if f.best_position else 1.0)
        # A rise with training and validation still close may be the validation block drifting
        # in time rather than memorising; a rise with a large gap is the textbook case.
        top = _SURE if "generalization_gap" in reasons else _UNSURE
        return Decision("overfit", reasons, _confidence(margin, high=top, span=1.5), flags)

    # Underfit: still near the trivial predictor, or clearly still falling at the end.
    reasons = []
    margins = {}
    # A training loss still near the trivial one, with a validation loss that never got well
    # below it either (a validation block much easier than training can sit low while the
    # training loss stays high: that model did learn what generalises).
    # Without the trivial loss the reference is the first epoch's level, and "near it" is read
    # as "fell little from it" (the same measure as ``near_start``).
    high_level = t.high_loss if f.reference_known else 1.0 - t.little_fall_from_start
    val_high = f.best_val_level is None or f.best_val_level >= t.high_val_loss
    # With the trivial loss known, the training loss must also still be near where it started:
    # a model that learned a lot from a bad first epoch is not stuck, whatever the level.
    near_start = not f.reference_known or 1.0 - f.train_share_of_start <= t.little_fall_from_start
    # ...unless the validation loss never got even this close below the reference: however much
    # the training loss fell from its first epoch, nothing that generalises was learned.
    nothing_learned = f.best_val_level is not None and 1.0 - f.best_val_level <= t.val_gain_little
    if f.train_level >= high_level and val_high and (near_start or nothing_learned):
        reasons.append("high_training_loss")
        margins["high_training_loss"] = _excess(f.train_level, high_level)
    falling = (
        f.val_tail_fall >= t.still_improving
        or f.tail_share >= t.still_improving_share
        or f.projected_gain >= t.projected_gain
    )
    # A fall within the validation curve's own epoch-to-epoch wobble is no trend.
    beyond_noise = f.val_tail_fall >= t.noise_multiple * f.noise
    if (
        falling
        and beyond_noise
        and f.tail_fall_of_reference >= t.still_improving_material
        and f.train_tail_fall >= t.train_still_falling
    ):
        reasons.append("still_improving")
        margins["still_improving"] = max(
            _excess(f.val_tail_fall, t.still_improving),
            _excess(f.tail_share, t.still_improving_share),
            _excess(f.projected_gain, t.projected_gain),
        )
    if reasons:
        return Decision("underfit", reasons, _confidence(max(margins.values()), span=2.0), flags, margins)

    if not f.has_validation:
        return Decision("inconclusive", ["no_validation"], 0.8, flags)
    if f.epochs < t.trend_epochs:
        return Decision("inconclusive", ["too_few_epochs"], 0.8, flags)
    closeness = max(f.rise / t.rise, f.val_tail_fall / t.still_improving, f.train_level / max(high_level, 1e-9))
    # A good fit is read from the absence of the other signs: the engine never sees the loss
    # careful training reaches, so a good fit is never called sure.
    return Decision("good_fit", [], _confidence(1.0 - closeness, 0.55, _UNSURE, 0.6), flags)
