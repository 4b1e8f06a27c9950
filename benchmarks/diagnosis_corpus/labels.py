"""The truth about each run, read from its held-out test block — never from the curves the engine sees.

    .venv/bin/python -m benchmarks.diagnosis_corpus.labels

Reads ``runs.jsonl``, writes ``corpus.json``: per run the train/validation history (what the
engine is given), the validation baseline, the label and the numbers the label rests on.

All losses of a task are put on one scale: runs trained on raw units (MSE in the series'
own units) are divided by the factor their trivial-predictor loss is larger. Per task:

* ``oracle`` — the best test loss any run reaches at its best *validation* epoch, i.e. the
  model a user following early stopping would keep. It is what the task allows.
* ``gap`` — trivial test loss minus oracle: what can be learned at all.

Per run, with the test curve smoothed over 3 epochs (``end`` = mean of the last 3):

1. **unstable** — a non-finite loss anywhere (training stopped on NaN included); or the test
   loss blew up past twice the trivial predictor's while the training loss stayed high (a
   memorising model's test loss can climb that far too, and that is overfitting); or the
   second half of the test curve swings by a quarter of the gap from epoch to epoch.
2. **overfit** — the end is materially worse than the best earlier point: by ≥ 15 % and
   ≥ 10 % of the gap, the best lying in the first 80 % of the run, *and the model learned
   its training data*: its training loss kept falling (end below its level at the test's
   best epoch) and ended closer to the oracle's test loss than to the trivial predictor's.
   That is API.md's overfitting. A test rise with a training loss that rose too, or stayed
   high, has signs of instability or underfitting as well and is ambiguous; so is a rise of
   half the size. (The training-loss conditions were added after the large-learning-rate
   runs showed such cases; ``RESULTS.md`` also scores those runs as overfit.)
3. **good_fit** — the end is within 15 % of the gap from the oracle.
4. **underfit** — the end is ≥ 30 % of the gap above the oracle *and* the run's own final
   training loss is ≥ 20 % of the gap above the oracle's test loss (it does not even fit what
   it is shown).
5. Anything else — between those bands, or far from the oracle with a low training loss — is
   **ambiguous** and left out of the score.

These thresholds were fixed before the engine was scored and are not tuned.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RUNS_FILE = HERE / "runs.jsonl"
CORPUS_FILE = HERE / "corpus.json"


def _array(values) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _smooth3(values: np.ndarray) -> np.ndarray:
    if len(values) < 3:
        return values
    return np.convolve(values, np.ones(3) / 3, mode="valid")


def load_runs(path: Path = RUNS_FILE) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _unit_scale(run: dict, standard_test_baseline: float) -> float:
    """How many times larger this run's losses are than the task's standardised ones."""
    return run["test_baseline_loss"] / standard_test_baseline if run["config"].get("raw_units") else 1.0


def task_yardsticks(runs: list[dict]) -> dict[str, dict[str, float]]:
    yardsticks: dict[str, dict[str, float]] = {}
    for task in sorted({r["task"] for r in runs}):
        members = [r for r in runs if r["task"] == task]
        standard = next(r["test_baseline_loss"] for r in members if r["config"]["family"] == "oracle")
        at_best_val = []
        for r in members:
            val, test = _array(r["history"]["val_loss"]), _array(r["test_loss"])
            if len(val) and np.isfinite(val).all() and np.isfinite(test).all():
                at_best_val.append(test[int(np.argmin(val))] / _unit_scale(r, standard))
        yardsticks[task] = {"oracle": float(min(at_best_val)), "standard_test_baseline": float(standard)}
    return yardsticks


def label(run: dict, yardstick: dict[str, float]) -> tuple[str, dict[str, float | bool | None]]:
    """(label, the numbers it rests on) for one run."""
    scale = _unit_scale(run, yardstick["standard_test_baseline"])
    test = _array(run["test_loss"]) / scale
    train = _array(run["history"]["loss"]) / scale
    val = _array(run["history"].get("val_loss", []))
    trivial = run["test_baseline_loss"] / scale
    oracle = yardstick["oracle"]
    gap = trivial - oracle
    facts: dict[str, float | bool | None] = {"oracle": oracle, "gap": gap, "trivial": trivial}
    stopped_early = len(test) < run["config"]["epochs"]
    if stopped_early or not (np.isfinite(test).all() and np.isfinite(train).all() and np.isfinite(val).all()):
        return "unstable", facts

    smoothed = _smooth3(test)
    end = float(smoothed[-1])
    train_end = float(np.mean(train[-3:]))
    facts.update(test_end=end, train_end=train_end)
    if np.max(test[1:], initial=-np.inf) > 2 * trivial and train_end > 0.5 * trivial:
        return "unstable", facts
    second_half = test[len(test) // 2 :]
    if len(second_half) >= 4:
        swing = float(np.median(np.abs(np.diff(second_half))) / gap)
        facts["swing"] = swing
        if swing >= 0.25:
            return "unstable", facts
    else:
        swing = 0.0

    best = int(np.argmin(smoothed))
    rise = end - float(smoothed[best])
    relative_rise = rise / float(smoothed[best]) if smoothed[best] > 0 else math.inf
    facts.update(rise_of_gap=rise / gap, relative_rise=relative_rise)
    early_enough = best <= 0.8 * (len(smoothed) - 1)
    # smoothed[i] averages epochs i..i+2; compare the training loss over the same epochs.
    train_at_best = float(np.mean(train[best : best + 3]))
    learned_training = train_end < train_at_best and train_end - oracle < 0.5 * gap
    if rise >= 0.10 * gap and relative_rise >= 0.15 and early_enough:
        facts["overfit_by_test_alone"] = not learned_training
        return ("overfit" if learned_training else "ambiguous"), facts
    if (rise >= 0.05 * gap and relative_rise >= 0.075) or swing >= 0.125:
        return "ambiguous", facts

    excess = (end - oracle) / gap
    train_excess = (train_end - oracle) / gap
    facts.update(excess=excess, train_excess=train_excess)
    if excess <= 0.15:
        return "good_fit", facts
    if excess >= 0.30 and train_excess >= 0.20:
        return "underfit", facts
    return "ambiguous", facts


def _fact(value: float | bool | None) -> float | bool | None:
    if isinstance(value, bool) or value is None:
        return value
    return round(value, 5) if math.isfinite(value) else None


def split_of(run_id: str) -> str:
    """Even-numbered runs of each task tuned the engine; odd ones (and the oracles) are held out."""
    suffix = run_id.rsplit("/", 1)[1]
    return "tune" if suffix.isdigit() and int(suffix) % 2 == 0 else "holdout"


def build_corpus(runs: list[dict]) -> dict:
    yardsticks = task_yardsticks(runs)
    entries = []
    for run in sorted(runs, key=lambda r: r["id"]):
        truth, facts = label(run, yardsticks[run["task"]])
        entries.append({
            "id": run["id"], "task": run["task"], "kind": run["kind"], "seed": run["seed"],
            "split": split_of(run["id"]), "family": run["config"]["family"], "config": run["config"],
            "label": truth, "label_facts": {k: _fact(v) for k, v in facts.items()},
            "baseline_loss": run["baseline_loss"], "history": run["history"],
        })
    return {"yardsticks": yardsticks, "runs": entries}


def main() -> None:
    corpus = build_corpus(load_runs())
    CORPUS_FILE.write_text(json.dumps(corpus, separators=(",", ":")) + "\n")
    counts: dict[str, int] = {}
    for entry in corpus["runs"]:
        counts[entry["label"]] = counts.get(entry["label"], 0) + 1
    print(f"{len(corpus['runs'])} runs → {CORPUS_FILE.name}: {counts}")


if __name__ == "__main__":
    main()
