"""Every number the verdicts turn on, in one place, each with the reason for its value.

Thresholds are relative — to the trivial predictor's loss, to a curve's first-epoch level,
its own fall or its noise — so one reading holds for cross-entropy near 0.7 and for an MSE
in the thousands. They were set on the tuning half of the corpus in
benchmarks/diagnosis_corpus (never on its holdout half).
"""

MIN_EPOCHS = 3
# Below this many epochs a flat curve is not yet a trend: good fit and overfit are not called.
TREND_EPOCHS = 6
# Verdicts reached on fewer epochs than this carry the `few_epochs` flag.
FEW_EPOCHS = 10

# Training loss still this share of its first-epoch level: the model has barely learned.
HIGH_TRAIN_SHARE = 0.85
# Validation loss never below this share of the trivial predictor's: nothing that generalises was learned.
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
# Diverging too: at some epoch a loss shot past this many times its reference (training: its
# first-epoch level; validation, for a model not memorising: the trivial predictor's).
BLOW_UP = 2.0
# Validation loss swinging from epoch to epoch (median step, second half) by this share of
# everything it learned below the trivial predictor: too erratic to read.
VAL_SWING = 0.70
# Validation loss scattered around its own smoothed trend (robust std, second half) by this
# share of everything it learned: a model thrown about from epoch to epoch, even where the
# trend rises as in overfitting (tune half of 142 runs: overfit runs scatter up to 0.32,
# unstable ones not caught otherwise from 0.36; set between them).
VAL_SCATTER = 0.35
# Erratic training loss: a late one-epoch climb this share of the first epoch's loss, or a
# zig-zag whose median step is this share of it with steps up about as often as down
# (dropout on a small training set jitters by up to about 0.05 of it).
SPIKE_SHARE = 0.40
OSCILLATION_STEP = 0.15
OSCILLATION_UPS = 0.35
# Validation noise (robust std / level) above which the validation curve is flagged noisy.
NOISY_VALIDATION = 0.08
# A flat training curve below this share of the trivial predictor's loss learned its fill in
# the first epoch: not a high loss.
LEARNED_IN_FIRST_EPOCH = 0.50
# A rise must also be this share of what the model learned below the trivial predictor, so
# a validation loss wobbling near its floor is not called overfitting. (0.05 until the tune
# half grew to 142 runs; anything from ~0.07 to ~0.14 scores the same there, and 0.10 is
# what the truth labels call a material rise: a tenth of what can be learned.)
RISE_OF_LEARNED = 0.10
# The generalisation gap is named when it is this many times the gap at the best epoch.
GAP_GROWTH = 2.0
# Validation loss this share of training loss or below: flag `val_below_train`.
VAL_BELOW_TRAIN = 0.90
