"""The verdict engine on hand-made histories: one per verdict and per reason code, plus the contract."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis.engine import MIN_EPOCHS, diagnose

EVIDENCE_KEYS = {
    "epochs", "best_epoch", "final_loss", "final_val_loss", "min_val_loss", "val_loss_rise",
    "generalization_gap", "baseline_loss", "loss_vs_baseline", "train_slope", "val_slope",
    "final_accuracy", "final_val_accuracy",
}
LN2 = math.log(2)
rng = np.random.default_rng(0)


def decay(start: float, end: float, epochs: int, pace: float) -> np.ndarray:
    t = np.arange(epochs)
    return end + (start - end) * np.exp(-t / pace)


def history(loss, val_loss=None, **more) -> dict:
    h = {"loss": [float(v) for v in loss]}
    if val_loss is not None:
        h["val_loss"] = [float(v) for v in val_loss]
    h.update({k: [float(v) for v in vs] for k, vs in more.items()})
    return h


def good_fit_history(epochs: int = 40, seed: int = 0) -> dict:
    noise = np.random.default_rng(seed).normal(0, 0.004, epochs)
    return history(decay(0.69, 0.25, epochs, 5), decay(0.69, 0.29, epochs, 5) + noise,
                   accuracy=decay(0.5, 0.9, epochs, 5), val_accuracy=decay(0.5, 0.88, epochs, 5))


def overfit_history(epochs: int = 40) -> dict:
    t = np.arange(epochs)
    val = 0.40 + 0.3 * np.exp(-t / 3) + 0.012 * np.maximum(t - 12, 0)
    return history(decay(0.69, 0.02, epochs, 8), val,
                   acc=decay(0.5, 1.0, epochs, 8), val_acc=decay(0.5, 0.8, epochs, 3))


def one(result: dict) -> tuple[str, list[str]]:
    return result["verdict"], result["reasons"]


# --- one history per verdict and reason code ---

def test_good_fit():
    result = diagnose([good_fit_history()], task="binary_classification", baseline_loss=LN2)
    assert one(result) == ("good_fit", [])
    assert result["confidence"] >= 0.6


def test_overfit_val_loss_rising_says_where_to_stop():
    result = diagnose([overfit_history()], task="binary_classification", baseline_loss=LN2)
    assert result["verdict"] == "overfit"
    assert "val_loss_rising" in result["reasons"]
    best = result["evidence"]["best_epoch"]
    assert 10 <= best <= 16
    assert any(r.startswith(f"Stop at epoch {best}") for r in result["recommendations"])
    assert any("dropout 0.2–0.5" in r for r in result["recommendations"])
    assert f"epoch {best}" in result["summary"]


def test_overfit_with_a_growing_gap_names_it():
    result = diagnose([overfit_history(60)], task="binary_classification", baseline_loss=LN2)
    assert result["reasons"] == ["val_loss_rising", "generalization_gap"]
    assert result["evidence"]["generalization_gap"] > 0.5


def test_underfit_high_training_loss():
    flat = LN2 - 0.005 + rng.normal(0, 0.001, 30)
    result = diagnose([history(flat, flat + 0.003)], task="binary_classification", baseline_loss=LN2)
    assert one(result) == ("underfit", ["high_training_loss"])
    assert any("double the LSTM units" in r for r in result["recommendations"])


def test_underfit_still_improving_recommends_more_epochs():
    loss = np.linspace(0.69, 0.40, 20)
    result = diagnose([history(loss, loss + 0.02)], task="binary_classification", baseline_loss=LN2)
    assert result["verdict"] == "underfit"
    assert "still_improving" in result["reasons"]
    first = result["recommendations"][0]
    assert first.startswith(("Train ~2× longer (40 epochs)", "Train ~3× longer (60 epochs)"))
    assert "still fell" in first


def test_three_epochs_falling_steeply_near_baseline_is_underfit_not_inconclusive():
    result = diagnose([history([0.69, 0.62, 0.55], [0.68, 0.61, 0.55])], baseline_loss=LN2)
    assert result["verdict"] == "underfit"
    assert "still_improving" in result["reasons"]
    assert "few_epochs" in result["flags"]


@pytest.mark.parametrize("bad", [None, "NaN", float("nan"), float("inf"), "inf"])
def test_nan_at_epoch_one_is_unstable(bad):
    result = diagnose([{"loss": [bad, bad], "val_loss": [bad, bad]}])
    assert one(result) == ("unstable", ["nan_loss"])
    assert "epoch 1" in result["summary"]


def test_nan_after_a_good_start_is_unstable_and_names_the_learning_rate():
    h = good_fit_history(12)
    h["loss"][-1] = None
    h["learning_rate"] = [0.001] * 12
    result = diagnose([h])
    assert one(result) == ("unstable", ["nan_loss"])
    assert "Lower the learning rate 10×: 0.001 → 0.0001" in result["recommendations"]


def test_diverging():
    loss = np.concatenate([decay(0.69, 0.3, 15, 3), np.linspace(0.3, 1.5, 15)])
    result = diagnose([history(loss, loss + 0.05)], baseline_loss=LN2)
    assert one(result) == ("unstable", ["diverging"])


def test_a_smooth_validation_rise_of_a_model_that_never_got_far_below_guessing_is_overfit():
    # Training loss fell to a third of its start; validation dipped only to 0.8× the trivial
    # predictor's and climbed back above it: overfitting, not a model too weak to learn.
    epochs = 30
    t = np.arange(epochs)
    val = LN2 * (0.8 + 0.2 * np.exp(-t / 2) + 0.012 * np.maximum(t - 6, 0))
    result = diagnose([history(decay(0.69, 0.2, epochs, 6), val)], baseline_loss=LN2)
    assert result["verdict"] == "overfit"
    assert "val_loss_rising" in result["reasons"]


def test_an_early_blow_up_the_model_fully_recovered_from_is_read_from_the_rest():
    loss, val = decay(0.69, 0.1, 30, 4), decay(0.69, 0.15, 30, 4)
    loss[2], val[2] = 2.5, 3.0
    assert diagnose([history(loss, val)], baseline_loss=LN2)["verdict"] == "good_fit"


def test_a_blow_up_whose_training_loss_ends_worse_than_guessing_is_diverging():
    # The first epoch was thrown so high that the end looks low against it; against the
    # trivial predictor it is not.
    loss = np.concatenate([[20.0, 5.0], np.full(18, 1.8)])
    val = np.concatenate([[4.0, 5.0], np.full(18, 2.0)])
    result = diagnose([history(loss, val)], baseline_loss=0.9)
    assert one(result) == ("unstable", ["diverging"])


def test_one_late_spike_is_no_instability_but_repeated_jumps_are():
    # DIAGNOSIS-TRUTH.md: unstable needs at least two big jumps (> 25 % and > a quarter of the
    # trivial loss in one epoch) or a blow-up.
    loss = decay(0.69, 0.2, 30, 4)
    loss[24] = 0.6
    assert diagnose([history(loss, loss + 0.03)], baseline_loss=LN2)["verdict"] != "unstable"
    loss[16] = 0.6
    result = diagnose([history(loss, loss + 0.03)], baseline_loss=LN2, config={"training": {"learning_rate": 0.01}})
    assert one(result) == ("unstable", ["oscillating"])
    assert "jumped up 2 times" in result["summary"]
    assert result["recommendations"][0] == "Lower the learning rate 3×: 0.01 → 0.0033"


def test_a_validation_curve_swinging_over_a_steady_training_curve_is_not_read_as_progress():
    t = np.arange(30)
    val = 0.35 + 0.06 * (-1) ** t
    result = diagnose([history(decay(0.69, 0.3, 30, 3), val)], baseline_loss=LN2)
    assert result["verdict"] == "good_fit"
    assert "noisy_validation" in result["flags"]


def test_best_epoch_is_the_raw_validation_minimum_earliest_on_ties():
    val = [0.9, 0.7, 0.5, 0.45, 0.45, 0.5, 0.48, 0.52, 0.6, 0.62, 0.66, 0.7]
    result = diagnose([history(decay(0.9, 0.1, 12, 3), val)], baseline_loss=0.9)
    assert result["evidence"]["best_epoch"] == 4


def test_recommendations_start_from_the_jobs_own_config():
    config = {"training": {"learning_rate": 0.005, "epochs": 40, "batch_size": 32},
              "model": {"layers": [{"units": 64, "dropout": 0.0}]}}
    overfit = diagnose([overfit_history()], baseline_loss=LN2, config=config)
    assert "Reduce capacity: 64 → 32 LSTM units" in overfit["recommendations"]
    slow = decay(0.69, 0.2, 40, 60)
    underfit = diagnose([history(slow, slow + 0.02)], baseline_loss=LN2,
                        config={"training": {"learning_rate": 0.0001}, "model": {"layers": [{"units": 8}]}})
    assert underfit["verdict"] == "underfit"
    assert "Raise the learning rate: 0.0001 → 0.0003" in underfit["recommendations"]


def test_a_memorising_model_whose_tiny_loss_doubles_is_not_unstable():
    loss = decay(0.69, 0.002, 60, 5)
    loss[40:] *= 2.5
    val = 0.40 + 0.3 * np.exp(-np.arange(60) / 3) + 0.01 * np.maximum(np.arange(60) - 12, 0)
    assert diagnose([history(loss, val)], baseline_loss=LN2)["verdict"] == "overfit"


def test_oscillating():
    t = np.arange(30)
    loss = 0.6 + 0.25 * (-1) ** t + rng.normal(0, 0.02, 30)
    result = diagnose([history(loss, loss[::-1])], baseline_loss=LN2)
    assert one(result) == ("unstable", ["oscillating"])
    assert any("Lower the learning rate 3×" in r for r in result["recommendations"])


def test_runs_that_disagree_are_unstable():
    result = diagnose([good_fit_history(), overfit_history()], baseline_loss=LN2, seeds=[7, 8])
    assert result["verdict"] == "unstable"
    assert result["reasons"][0] == "runs_disagree"
    assert [r["seed"] for r in result["runs"]] == [7, 8]
    assert result["spread"]["verdicts"] == {"good_fit": 1, "overfit": 1}
    assert "disagree" in result["summary"]


def test_runs_that_agree_keep_their_verdict_and_report_the_spread():
    runs = [good_fit_history(seed=s) for s in range(3)]
    result = diagnose(runs, baseline_loss=LN2)
    assert one(result) == ("good_fit", [])
    assert [r["run"] for r in result["runs"]] == [1, 2, 3]
    assert all(r["verdict"] == "good_fit" and set(r["evidence"]) == EVIDENCE_KEYS for r in result["runs"])
    spread = result["spread"]
    assert spread["verdicts"] == {"good_fit": 3}
    assert spread["final_val_loss"]["min"] <= spread["final_val_loss"]["max"]


def test_no_validation_cannot_judge_overfitting():
    result = diagnose([history(decay(0.69, 0.1, 30, 3))], baseline_loss=LN2)
    assert one(result) == ("inconclusive", ["no_validation"])
    assert result["evidence"]["best_epoch"] is None


def test_no_validation_still_reads_underfitting():
    result = diagnose([history(np.full(20, 0.69))], baseline_loss=LN2)
    assert one(result) == ("underfit", ["high_training_loss"])


def test_few_flat_epochs_well_below_baseline_are_too_few():
    result = diagnose([history([0.21, 0.2, 0.2, 0.2], [0.22, 0.21, 0.21, 0.21])], baseline_loss=LN2)
    assert one(result) == ("inconclusive", ["too_few_epochs"])


def test_fewer_than_min_epochs_is_inconclusive():
    result = diagnose([history([0.5] * (MIN_EPOCHS - 1), [0.5] * (MIN_EPOCHS - 1))])
    assert one(result) == ("inconclusive", ["too_few_epochs"])


# --- flags ---

def test_val_below_train_flag():
    h = good_fit_history()
    h["val_loss"] = [v - 0.1 for v in h["loss"]]
    assert "val_below_train" in diagnose([h], baseline_loss=LN2)["flags"]


def test_noisy_validation_flag_does_not_change_the_verdict():
    h = good_fit_history()
    h["val_loss"] = list(np.array(h["val_loss"]) + np.random.default_rng(3).normal(0, 0.05, 40))
    result = diagnose([h], baseline_loss=LN2)
    assert result["verdict"] == "good_fit"
    assert "noisy_validation" in result["flags"]


def test_baseline_not_beaten_flag():
    loss = decay(1.2, 0.3, 30, 4)
    result = diagnose([history(loss, np.full(30, 1.05))], task="regression", baseline_loss=1.0)
    assert "baseline_not_beaten" in result["flags"]
    assert any("the training mean" in r for r in result["recommendations"])


# --- any Keras history ---

@pytest.mark.parametrize("acc_key", ["accuracy", "acc", "binary_accuracy", "sparse_categorical_accuracy",
                                     "categorical_accuracy"])
def test_every_accuracy_spelling_is_read(acc_key):
    h = good_fit_history()
    h[acc_key], h[f"val_{acc_key}"] = h.pop("accuracy"), h.pop("val_accuracy")
    evidence = diagnose([h], baseline_loss=LN2)["evidence"]
    assert evidence["final_accuracy"] == pytest.approx(0.9, abs=0.01)
    assert evidence["final_val_accuracy"] == pytest.approx(0.88, abs=0.01)


def test_regression_with_mae_and_no_baseline():
    h = history(decay(5.0, 1.0, 40, 5), decay(5.2, 1.1, 40, 5), mae=decay(2, 0.8, 40, 5), val_mae=decay(2, 0.85, 40, 5))
    result = diagnose([h], task="regression")
    assert result["verdict"] == "good_fit"
    assert result["evidence"]["baseline_loss"] is None and result["evidence"]["loss_vs_baseline"] is None


def test_history_without_loss_falls_back_to_another_loss_metric():
    h = {"mae": list(decay(2, 0.5, 30, 4)), "val_mae": list(decay(2, 0.55, 30, 4))}
    result = diagnose([h])
    assert result["evidence"]["final_loss"] == pytest.approx(0.5, abs=0.01)
    assert result["verdict"] == "good_fit"
    assert "Read from `mae`" in result["summary"]


def test_history_with_accuracy_only_reads_the_error_rate():
    h = {"accuracy": list(decay(0.5, 0.9, 30, 4)), "val_accuracy": list(decay(0.5, 0.85, 30, 4))}
    result = diagnose([h])
    assert result["verdict"] == "good_fit"
    assert "Read from `error_rate`" in result["summary"]


def test_empty_history_and_no_runs_are_inconclusive():
    assert one(diagnose([{}])) == ("inconclusive", ["too_few_epochs"])
    assert one(diagnose([])) == ("inconclusive", ["too_few_epochs"])


# --- the contract ---

CASES = {
    "good": [good_fit_history()],
    "overfit": [overfit_history()],
    "nan": [{"loss": [0.7, "NaN", None], "val_loss": [0.7, float("nan"), float("inf")]}],
    "several": [good_fit_history(), overfit_history(), {"loss": [1, 0.9, None]}],
    "short": [{"loss": [0.5]}],
}


@pytest.mark.parametrize("case", CASES)
def test_result_is_json_safe_and_has_the_api_shape(case):
    result = diagnose(CASES[case], task="binary_classification", baseline_loss=LN2, final=False)
    json.dumps(result, allow_nan=False)
    assert result["verdict"] in {"underfit", "overfit", "good_fit", "unstable", "inconclusive"}
    assert result["final"] is False
    assert 0 <= result["confidence"] <= 1
    assert set(result["evidence"]) == EVIDENCE_KEYS
    assert isinstance(result["summary"], str) and result["summary"]
    assert result["recommendations"] and all(isinstance(r, str) for r in result["recommendations"])
    if len(CASES[case]) == 1:
        assert result["runs"] == [] and result["spread"] is None
    else:
        assert len(result["runs"]) == len(CASES[case]) and result["spread"] is not None


def test_epochs_are_one_based():
    h = history([0.9, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27], [0.9, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9])
    evidence = diagnose([h])["evidence"]
    assert evidence["epochs"] == 7
    assert evidence["best_epoch"] == 2
    assert evidence["min_val_loss"] == pytest.approx(0.3)


def test_provisional_diagnosis_says_so():
    result = diagnose([good_fit_history(12)], baseline_loss=LN2, final=False)
    assert result["final"] is False
    assert result["summary"].startswith("So far (12 epochs")


def test_min_epochs_is_a_small_int():
    assert isinstance(MIN_EPOCHS, int) and 1 <= MIN_EPOCHS <= 5


# --- any history at all: never an exception, always JSON-safe ---

_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.none(),
                    st.sampled_from(["NaN", "inf", "-inf", "nan", "garbage"]))
_histories = st.dictionaries(
    st.sampled_from(["loss", "val_loss", "acc", "val_acc", "mae", "val_mae", "learning_rate", "custom"]),
    st.lists(_values, max_size=40), max_size=6)


@settings(max_examples=300, deadline=None)
@given(runs=st.lists(_histories, min_size=1, max_size=3), baseline=st.one_of(st.none(), st.floats(0, 10)))
def test_any_history_gets_a_json_safe_diagnosis(runs, baseline):
    result = diagnose(runs, baseline_loss=baseline)
    json.dumps(result, allow_nan=False)
    assert result["verdict"] in {"underfit", "overfit", "good_fit", "unstable", "inconclusive"}


@pytest.mark.parametrize("val", [[], [0.5], [0.5, None], [0.4, 0.3]])
def test_a_validation_curve_shorter_than_training_is_read(val):
    result = diagnose([{"loss": [0.7, 0.5, 0.4, 0.35], "val_loss": val}], baseline_loss=LN2)
    assert result["verdict"] in {"underfit", "overfit", "good_fit", "unstable", "inconclusive"}
    json.dumps(result, allow_nan=False)
