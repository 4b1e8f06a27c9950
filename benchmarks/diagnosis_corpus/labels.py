"""The truth about each run, read from its held-out test block by DIAGNOSIS-TRUTH.md's rules.

    .venv/bin/python -m benchmarks.diagnosis_corpus.labels

Reads ``runs.jsonl``, writes ``corpus.json``: per run the train/validation history (what the
engine is given), the validation baseline, the label and the numbers the label rests on.
The rules below are ``../shared/DIAGNOSIS-TRUTH.md`` transcribed; they were written before
any engine was scored on this corpus and are never changed because of what the engine does.

Set-up (per task)
* Every loss is put on the task's standard scale: runs trained on raw units (regression
  targets in the series' own units) are divided by the series' variance, which is exactly
  how much larger their MSE is.
* ``B`` — the trivial loss: the constant predictor fitted on the run's own training targets
  (class prior / training mean), scored on the test block.
* **Oracle** — over the grid runs (family ``oracle``, 9 configurations trained 100 epochs),
  each run's test loss at its best *validation* epoch (minimum raw validation loss, earliest
  on ties); the lowest of them is the oracle test loss, that run's training loss and test
  accuracy at that epoch the oracle training loss and accuracy.
* **Learnable** — oracle test loss < 0.8 × the oracle run's ``B``. Runs of other tasks are
  labelled ``unlearnable`` and never scored.

Labels, in this order (``T`` test loss, ``L`` training loss, ``n`` epochs; material = more
than 1 % of ``B``)
1. **unstable** — a non-finite training, validation or test loss at any epoch; or the final
   ``L`` is above its start (the first epoch's loss or ``B``, whichever is lower) *and* the
   curve had ≥ 2 big jumps (``L[t] > 1.25·L[t−1]`` and ``L[t] − L[t−1] > 0.25·B``) or a
   blow-up (some epoch ``L ≥ 3·B``). Such jumps or a blow-up ending below the start:
   *ambiguous*.
2. **overfit** — final ``T`` ≥ 1.15 × min ``T``, the minimum within the first 70 % of the
   epochs (1-based epoch ≤ 0.7·n), the difference material. ≥ 1.15 × but later: *ambiguous*.
3. **good_fit** — final ``T`` ≤ 1.15 × oracle test loss.
4. **underfit** — final ``T`` ≥ 1.3 × oracle test loss and final ``L`` ≥ 1.3 × oracle
   training loss, both differences material; for classification also final test accuracy
   ≥ 2 points below the oracle's. Otherwise *ambiguous*.
5. Anything else: **ambiguous**, not scored.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RUNS_FILE = HERE / "runs.jsonl"
CORPUS_FILE = HERE / "corpus.json"
SCORED = ("underfit", "overfit", "good_fit", "unstable")


def _array(values) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def load_runs(path: Path = RUNS_FILE) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def loss_scale(run: dict, raw_variance: dict[str, float]) -> float:
    """How many times larger this run's losses are than the task's standardised ones."""
    if run["config"].get("raw_units") and run["kind"] == "regression":
        return raw_variance[run["task"]]
    return 1.0


def _raw_variances(tasks: set[str]) -> dict[str, float]:
    from benchmarks.diagnosis_corpus.tasks import TASKS

    return {name: TASKS[name]().raw_std ** 2 for name in tasks}


def task_yardsticks(runs: list[dict], raw_variance: dict[str, float]) -> dict[str, dict]:
    yardsticks: dict[str, dict] = {}
    for task in sorted({r["task"] for r in runs}):
        best = None
        for r in runs:
            if r["task"] != task or r["config"]["family"] != "oracle":
                continue
            scale = loss_scale(r, raw_variance)
            val, test, train = _array(r["history"]["val_loss"]), _array(r["test_loss"]), _array(r["history"]["loss"])
            if not (len(val) and np.isfinite(val).all() and np.isfinite(test).all() and np.isfinite(train).all()):
                continue
            e = int(np.argmin(val))  # earliest minimum: what restore_best_weights keeps
            candidate = {"oracle_test": float(test[e] / scale), "oracle_train": float(train[e] / scale),
                         "oracle_accuracy": (float(r["test_accuracy"][e]) if r.get("test_accuracy") else None),
                         "oracle_run": r["id"], "oracle_epoch": e + 1, "trivial": float(r["test_baseline_loss"] / scale)}
            if best is None or candidate["oracle_test"] < best["oracle_test"]:
                best = candidate
        if best is None:
            continue
        best["learnable"] = best["oracle_test"] < 0.8 * best["trivial"]
        yardsticks[task] = best
    return yardsticks


def label(run: dict, yardstick: dict, scale: float = 1.0) -> tuple[str, dict]:
    """(label, the numbers it rests on) for one run."""
    test = _array(run["test_loss"]) / scale
    train = _array(run["history"]["loss"]) / scale
    val = _array(run["history"].get("val_loss", []))
    trivial = run["test_baseline_loss"] / scale
    facts: dict = {"trivial": trivial, "oracle_test": yardstick["oracle_test"], "oracle_train": yardstick["oracle_train"]}
    if not yardstick["learnable"]:
        return "unlearnable", facts
    if not (np.isfinite(test).all() and np.isfinite(train).all() and np.isfinite(val).all()) or not len(test):
        return "unstable", facts
    material = 0.01 * trivial
    n = len(test)

    # 1. unstable
    start = min(float(train[0]), trivial)
    steps = np.diff(train)
    jumps = int(np.sum((train[1:] > 1.25 * train[:-1]) & (steps > 0.25 * trivial)))
    blow_up = bool(np.max(train) >= 3 * trivial)
    facts.update(jumps=jumps, blow_up=blow_up, final_train=float(train[-1]), train_start=start)
    if jumps >= 2 or blow_up:
        return ("unstable" if train[-1] > start else "ambiguous"), facts

    # 2. overfit
    final, lowest = float(test[-1]), float(np.min(test))
    best_epoch = int(np.argmin(test)) + 1
    facts.update(final_test=final, min_test=lowest, min_test_epoch=best_epoch, test_rise=final / lowest - 1)
    if final >= 1.15 * lowest and final - lowest > material:
        return ("overfit" if best_epoch <= 0.7 * n else "ambiguous"), facts

    # 3. good fit
    oracle_test, oracle_train = yardstick["oracle_test"], yardstick["oracle_train"]
    facts.update(test_vs_oracle=final / oracle_test, train_vs_oracle=float(train[-1]) / oracle_train)
    if final <= 1.15 * oracle_test:
        return "good_fit", facts

    # 4. underfit
    far_test = final >= 1.3 * oracle_test and final - oracle_test > material
    far_train = train[-1] >= 1.3 * oracle_train and train[-1] - oracle_train > material
    if far_test and far_train:
        if run["kind"] == "regression":
            return "underfit", facts
        accuracy = run.get("test_accuracy")
        facts["final_test_accuracy"] = accuracy[-1] if accuracy else None
        facts["oracle_accuracy"] = yardstick["oracle_accuracy"]
        if accuracy and accuracy[-1] is not None and accuracy[-1] <= yardstick["oracle_accuracy"] - 0.02:
            return "underfit", facts
    return "ambiguous", facts


def _fact(value):
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    return round(float(value), 5) if math.isfinite(value) else None


def build_corpus(runs: list[dict], raw_variance: dict[str, float] | None = None) -> dict:
    raw_variance = raw_variance or _raw_variances({r["task"] for r in runs})
    yardsticks = task_yardsticks(runs, raw_variance)
    entries = []
    for run in sorted(runs, key=lambda r: r["id"]):
        if run["task"] not in yardsticks:
            continue
        truth, facts = label(run, yardsticks[run["task"]], loss_scale(run, raw_variance))
        entries.append({
            "id": run["id"], "task": run["task"], "kind": run["kind"], "source": run.get("source"),
            "seed": run["seed"], "family": run["config"]["family"], "config": run["config"],
            "label": truth, "label_facts": {k: _fact(v) for k, v in facts.items()},
            "baseline_loss": run["baseline_loss"], "history": run["history"],
        })
    return {"yardsticks": {t: {k: _fact(v) for k, v in y.items()} for t, y in yardsticks.items()},
            # Kept so the labels can be rebuilt from runs.jsonl without statsmodels (tests do).
            "raw_variance": {t: float(v) for t, v in sorted(raw_variance.items())},
            "runs": entries}


def main() -> None:
    corpus = build_corpus(load_runs())
    CORPUS_FILE.write_text(json.dumps(corpus, separators=(",", ":")) + "\n")
    counts: dict[str, int] = {}
    for entry in corpus["runs"]:
        counts[entry["label"]] = counts.get(entry["label"], 0) + 1
    print(f"{len(corpus['runs'])} runs → {CORPUS_FILE.name}: {counts}")
    for task, y in corpus["yardsticks"].items():
        print(f"  {task}: oracle {y['oracle_test']:.4g} vs trivial {y['trivial']:.4g}"
              f" ({'learnable' if y['learnable'] else 'NOT learnable'})")


if __name__ == "__main__":
    main()
