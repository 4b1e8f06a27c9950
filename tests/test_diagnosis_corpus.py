"""The engine on the committed corpus of real Keras runs (no TensorFlow needed: histories are stored).

The targets of issue 5 are asserted on the holdout half, which tuned nothing; the four
classic configurations are golden runs picked from the corpus.
"""

import pytest

from benchmarks.diagnosis_corpus import labels, score
from diagnosis.engine import diagnose


@pytest.fixture(scope="module")
def corpus():
    return score.load_corpus()


@pytest.fixture(scope="module")
def results(corpus):
    return score.evaluate(corpus)


def test_labels_follow_from_the_committed_runs_and_rules(corpus):
    rebuilt = labels.build_corpus(labels.load_runs())
    assert [(e["id"], e["label"]) for e in rebuilt["runs"]] == [(e["id"], e["label"]) for e in corpus["runs"]]


def test_every_verdict_class_is_in_the_holdout(corpus):
    holdout = score.scored_runs(corpus, "holdout")
    for label in score.CLASSES:
        assert sum(e["label"] == label for e in holdout) >= 5, label


def test_engine_meets_the_issue_targets_on_the_holdout(results):
    engine = results["holdout"]["engine"]
    assert engine["accuracy"] >= 0.90
    for label, (correct, total) in engine["per_class"].items():
        assert correct / total >= 0.85, label


def test_engine_does_not_fall_below_what_it_reached(results):
    """A guard against regressions at the levels RESULTS.md reports (holdout of 147 runs: 91 % overall;
    underfit 30/34, overfit 29/34, good_fit 52/54, unstable 23/25). Underfit and overfit sit one
    run above the issue's 85 %, so their floors are the targets themselves."""
    engine = results["holdout"]["engine"]
    assert engine["accuracy"] >= 0.90
    floors = {"underfit": 0.85, "overfit": 0.85, "good_fit": 0.92, "unstable": 0.88}
    for label, (correct, total) in engine["per_class"].items():
        assert correct / total >= floors[label], label


def test_engine_is_clearly_above_both_references(results):
    engine = results["holdout"]["engine"]["accuracy"]
    for name in ("rule of thumb", "early stopping"):
        assert engine >= results["holdout"][name]["accuracy"] + 0.10, name


def test_results_file_is_current(corpus, results):
    assert score.RESULTS_FILE.read_text() == score.report(corpus, results)


def _run(corpus, run_id):
    entry = next(e for e in corpus["runs"] if e["id"] == run_id)
    return entry, diagnose([entry["history"]], task=entry["kind"], baseline_loss=entry["baseline_loss"])


GOLDEN = {
    # configuration: (run id, truth from its test block)
    "too few epochs": ("sunspots/02", "underfit"),  # 16 units, 3 epochs
    "too little capacity": ("binary_sums/04", "underfit"),  # 1 unit, 30 epochs
    "good fit": ("sunspots/10", "good_fit"),  # 8 units, 60 epochs
    "too many epochs": ("binary_sums/16", "overfit"),  # 32 units, 80 epochs on 160 samples
}


@pytest.mark.parametrize("configuration", GOLDEN)
def test_the_four_classic_configurations(corpus, configuration):
    run_id, verdict = GOLDEN[configuration]
    entry, result = _run(corpus, run_id)
    assert entry["label"] == verdict
    assert result["verdict"] == verdict
    evidence = result["evidence"]
    if configuration == "too few epochs":
        assert "few_epochs" in result["flags"]
        assert result["recommendations"][0].startswith("Train at least 20 epochs")
    if configuration == "too little capacity":
        assert "high_training_loss" in result["reasons"]
        assert any("double the LSTM units" in r for r in result["recommendations"])
    if configuration == "good fit":
        assert result["reasons"] == []
        assert evidence["loss_vs_baseline"] < 0.5
    if configuration == "too many epochs":
        assert "val_loss_rising" in result["reasons"]
        assert evidence["best_epoch"] < evidence["epochs"] / 2
        assert result["recommendations"][0].startswith(f"Stop at epoch {evidence['best_epoch']} ")
