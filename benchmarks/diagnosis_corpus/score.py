"""Score the engine and two reference diagnosers leave-one-task-out; write RESULTS.md.

    .venv/bin/python -m benchmarks.diagnosis_corpus.score

Pure numpy, well under a minute: the histories are in ``corpus.json``, no training happens
here. Only runs on learnable tasks with a label of underfit, overfit, good_fit or unstable
are scored (DIAGNOSIS-TRUTH.md). For each task, the engine's thresholds and the references'
knobs are fitted on the *other* tasks' runs and the held-out task is diagnosed with them;
every number below pools those held-out predictions.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.diagnosis_corpus import fit, references
from diagnosis.history import as_array
from diagnosis.rules import decide
from diagnosis.thresholds import DEFAULT, START, TUNED, Thresholds, with_values

HERE = Path(__file__).parent
CORPUS_FILE = HERE / "corpus.json"
RESULTS_FILE = HERE / "RESULTS.md"
CLASSES = fit.CLASSES
PREDICTIONS = (*CLASSES, "inconclusive")
COMMAND = ".venv/bin/python -m benchmarks.diagnosis_corpus.score"
# Every threshold that can change a verdict and is not a whole number: the fitted ones and the
# fixed ones (diagnosis/thresholds.py).
MOVED = (*TUNED, "blow_up", "train_rise", "train_still_falling", "noise_multiple")
CONFIDENCE_BANDS = ((0.0, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


def load_corpus(path: Path = CORPUS_FILE) -> dict:
    return json.loads(path.read_text())


def scored_runs(corpus: dict) -> list[dict]:
    return [e for e in corpus["runs"] if e["label"] in CLASSES]


def tally(labels: Sequence[str], predictions: Sequence[str]) -> dict:
    confusion = {truth: Counter() for truth in CLASSES}
    for truth, said in zip(labels, predictions):
        confusion[truth][said] += 1
    per_class = {truth: (row[truth], sum(row.values())) for truth, row in confusion.items()}
    correct = sum(c for c, _ in per_class.values())
    recalls = [c / n for c, n in per_class.values() if n]
    return {"accuracy": correct / max(1, len(labels)), "n": len(labels), "per_class": per_class,
            "balanced": sum(recalls) / max(1, len(recalls)),
            "confusion": {truth: dict(row) for truth, row in confusion.items()}}


def _reference_loto(entries: list[dict], factory: Callable, grid: dict) -> list[str]:
    settings = references.settings(grid)
    # Histories as arrays once; every setting's verdicts once; folds then only pick a setting.
    histories = [{k: as_array(v) for k, v in e["history"].items()} for e in entries]
    said = [[factory(**s)(h, e["baseline_loss"]) for h, e in zip(histories, entries)] for s in settings]
    out: dict[int, str] = {}
    for task in sorted({e["task"] for e in entries}):
        train = [i for i, e in enumerate(entries) if e["task"] != task]
        labels = [entries[i]["label"] for i in train]
        best = max(range(len(settings)), key=lambda k: fit.balanced(labels, [said[k][i] for i in train]))
        out.update({i: said[best][i] for i, e in enumerate(entries) if e["task"] == task})
    return [out[i] for i in range(len(entries))]


def evaluate(corpus: dict) -> dict:
    entries = scored_runs(corpus)
    data = fit.samples(entries)
    labels = [s.label for s in data]
    fitted, with_b, without_b = fit.leave_one_task_out(data)
    engine = [with_b[s.id] for s in data]
    engine_no_baseline = [without_b[s.id] for s in data]
    confidences = {
        baseline: [decide(s.features if baseline else s.features_no_baseline, fitted[s.task]).confidence for s in data]
        for baseline in (True, False)
    }

    # Each threshold moved ±10 % from its fitted value in every fold, both readings.
    robustness = {}
    for name in MOVED:
        for factor in (0.9, 1.1):
            for baseline in (True, False):
                moved = [
                    decide(
                        s.features if baseline else s.features_no_baseline,
                        with_values(fitted[s.task], **{name: getattr(fitted[s.task], name) * factor}),
                    ).verdict
                    for s in data
                ]
                robustness[(name, factor, baseline)] = tally(labels, moved)

    rows = {
        "engine (leave-one-task-out)": tally(labels, engine),
        "engine, no baseline given (leave-one-task-out)": tally(labels, engine_no_baseline),
        "engine as shipped (thresholds fitted on all tasks; in-sample)": tally(labels, fit.predict(data, DEFAULT)),
        "engine untuned (thresholds at their starting values, nothing fitted)": tally(labels, fit.predict(data, START)),
    }
    for name, (factory, grid) in references.GRIDS.items():
        rows[f"{name} (leave-one-task-out)"] = tally(labels, _reference_loto(entries, factory, grid))
    return {"entries": entries, "data": data, "fitted": fitted, "engine": engine,
            "engine_no_baseline": engine_no_baseline, "confidences": confidences[True],
            "confidences_no_baseline": confidences[False],
            "rows": rows, "robustness": robustness, "validation_ceiling": validation_ceiling(entries)}


def validation_ceiling(entries: list[dict]) -> tuple[int, int]:
    """How often the truth's own overfit rule, read off the *validation* curve, agrees with the label.

    (overfit or not, on the scored runs). No diagnoser that sees only training and validation
    curves can be expected to beat this much on the overfit/not-overfit question: it is how far
    the validation block tells what the test block does.
    """
    agree = 0
    for e in entries:
        val = as_array(e["history"].get("val_loss", []))
        said = False
        if len(val) and np.isfinite(val).all():
            lowest, best = float(val.min()), int(val.argmin()) + 1
            said = (val[-1] >= 1.15 * lowest and val[-1] - lowest > 0.01 * (e["baseline_loss"] or lowest)
                    and best <= 0.7 * len(val))
        agree += said == (e["label"] == "overfit")
    return agree, len(entries)


def calibration(labels: Sequence[str], predictions: Sequence[str], confidences: Sequence[float]) -> list[tuple]:
    out = []
    for low, high in CONFIDENCE_BANDS:
        members = [(t, p) for t, p, c in zip(labels, predictions, confidences) if low <= c < high]
        right = sum(t == p for t, p in members)
        out.append((low, min(high, 1.0), len(members), right))
    return out


def rate(correct: int, total: int) -> str:
    return f"{100 * correct / total:.0f} % ({correct}/{total})" if total else "–"


def _table(rows: dict[str, dict]) -> list[str]:
    lines = ["| diagnoser | overall | balanced | " + " | ".join(CLASSES) + " |",
             "|---|---|---|" + "---|" * len(CLASSES)]
    for name, r in rows.items():
        correct = round(r["accuracy"] * r["n"])
        overall = f"{100 * r['accuracy']:.1f} % ({correct}/{r['n']})"
        lines.append(f"| {name} | {overall} | {100 * r['balanced']:.1f} % | "
                     + " | ".join(rate(*r["per_class"][c]) for c in CLASSES) + " |")
    return lines


def _confusion(result: dict) -> list[str]:
    lines = ["| truth \\ said | " + " | ".join(PREDICTIONS) + " |", "|---|" + "---|" * len(PREDICTIONS)]
    for truth in CLASSES:
        row = result["confusion"][truth]
        lines.append(f"| {truth} | " + " | ".join(str(row.get(p, 0)) for p in PREDICTIONS) + " |")
    return lines


def _sure(truth: Sequence[str], predictions: Sequence[str], confidences: Sequence[float]) -> tuple[int, int]:
    """(right, all) among the verdicts given with confidence ≥ 0.8."""
    sure = [(t, p) for t, p, c in zip(truth, predictions, confidences) if c >= 0.8]
    return sum(t == p for t, p in sure), len(sure)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _min_recall(r: dict) -> float:
    return min(c / n for c, n in r["per_class"].values() if n)


def report(corpus: dict, results: dict) -> str:
    runs = corpus["runs"]
    entries, data = results["entries"], results["data"]
    labels = Counter(e["label"] for e in runs)
    tasks = sorted({e["task"] for e in runs})
    yard = corpus["yardsticks"]
    main = results["rows"]["engine (leave-one-task-out)"]
    no_b = results["rows"]["engine, no baseline given (leave-one-task-out)"]
    truth = [s.label for s in data]
    lines = [
        "# Diagnosis engine, leave-one-task-out",
        "",
        f"Produced by `{COMMAND}` from `corpus.json` (made by `generate.py`, then `labels.py`; see README.md). "
        "Nothing here is typed by hand.",
        "",
        f"**Corpus**: {len(runs)} real Keras LSTM runs on {len(tasks)} tasks, each split in time order "
        "train 64 % | validation 16 % | test 20 %. Labels come from the test block by DIAGNOSIS-TRUTH.md's rules "
        "(`labels.py`), fixed before any scoring: " + ", ".join(f"{labels[c]} {c}" for c in (*CLASSES, "ambiguous"))
        + (f", {labels['unlearnable']} on unlearnable tasks" if labels.get("unlearnable") else "")
        + f". **{len(entries)} runs are scored** (ambiguous and unlearnable ones are not).",
        "",
        "**How the figure is obtained**: for each task, the engine's tunable thresholds "
        f"({', '.join(f'`{n}`' for n in TUNED)}) are fitted by `fit.py` on the other tasks' scored runs only "
        "(coordinate descent over a fixed grid, maximising balanced accuracy plus accuracy, the reading with the "
        "trivial loss counting twice the one without), then the held-out task is diagnosed with them. Every fit "
        "starts from `diagnosis.thresholds.START`, values fixed by meaning (DIAGNOSIS-TRUTH.md's numbers, round "
        "values) before any fitting, so no fold's start owes anything to the task it holds out. The references' "
        "knobs are fitted the same way. Per-class numbers are recall; `inconclusive` counts as wrong. The "
        "engine's rule structure (which measures exist, how rules combine) was designed looking at the whole "
        "corpus; see README.md, Honest scoring.",
        "",
        "## Result",
        "",
        *_table(results["rows"]),
        "",
        "## Confusion matrix, engine, leave-one-task-out",
        "",
        *_confusion(main),
        "",
        "Without the trivial loss (a bare history posted to `/v1/diagnoses`):",
        "",
        *_confusion(no_b),
        "",
        "## Calibration (engine, leave-one-task-out)",
        "",
        "| confidence | with the trivial loss: runs | right | without it: runs | right |",
        "|---|---|---|---|---|",
    ]
    bands = calibration(truth, results["engine"], results["confidences"])
    bands_no_b = calibration(truth, results["engine_no_baseline"], results["confidences_no_baseline"])
    lines += [f"| {low:.1f}–{high:.1f} | {n} | {rate(right, n)} | {n2} | {rate(right2, n2)} |"
              for (low, high, n, right), (_, _, n2, right2) in zip(bands, bands_no_b)]
    sure = _sure(truth, results["engine"], results["confidences"])
    sure_no_b = _sure(truth, results["engine_no_baseline"], results["confidences_no_baseline"])
    lines += ["", f"Verdicts with confidence ≥ 0.8: {rate(*sure)} right with the trivial loss, "
              f"{rate(*sure_no_b)} without it.", ""]
    lines += [
        "## Robustness: each threshold moved ±10 % (in every fold, from that fold's fitted value)",
        "",
        "Overall / lowest class recall, the other thresholds left at their fitted values. Besides the fitted "
        "thresholds, the fixed ones that can change a verdict are moved too (marked fixed); whole-number ones "
        "(epochs, jump counts) do not move by 10 %, and `gap`, `noisy_validation`, `val_below_train` only change "
        "reasons and flags.",
        "",
        "| threshold | × 0.9 | × 1.1 | × 0.9, no trivial loss | × 1.1, no trivial loss |",
        "|---|---|---|---|---|",
        f"| (none moved) | {100 * main['accuracy']:.1f} % / {100 * _min_recall(main):.1f} % | | "
        f"{100 * no_b['accuracy']:.1f} % / {100 * _min_recall(no_b):.1f} % | |",
    ]
    worst = {True: 1.0, False: 1.0}
    for name in MOVED:
        cells = []
        for baseline in (True, False):
            for factor in (0.9, 1.1):
                r = results["robustness"][(name, factor, baseline)]
                worst[baseline] = min(worst[baseline], _min_recall(r))
                cells.append(f"{100 * r['accuracy']:.1f} % / {100 * _min_recall(r):.1f} %")
        fixed = "" if name in TUNED else " (fixed)"
        lines.append(f"| `{name}`{fixed} | " + " | ".join(cells) + " |")
    agree, total = results["validation_ceiling"]
    recalls = {c: main["per_class"][c][0] / max(1, main["per_class"][c][1]) for c in CLASSES}
    lines += [
        "",
        "## Against the targets of issue 11",
        "",
        f"- Overall ≥ 93 %: **{100 * main['accuracy']:.1f} %** — {_met(main['accuracy'] >= 0.93)}.",
        "- Every class ≥ 85 %: " + ", ".join(f"{c} {100 * r:.0f} %" for c, r in recalls.items())
        + f" — {_met(min(recalls.values()) >= 0.85)}.",
        f"- Every class still ≥ 85 % with any one threshold moved ±10 %: lowest class recall under any such move "
        f"{100 * worst[True]:.1f} % — {_met(worst[True] >= 0.85)}.",
        f"- Confidence ≥ 0.8 right ≥ 90 %: {rate(*sure)} — {_met(sure[0] >= 0.9 * sure[1])}.",
        f"- With the trivial loss no worse than without: overall {100 * main['accuracy']:.1f} % vs "
        f"{100 * no_b['accuracy']:.1f} %, balanced {100 * main['balanced']:.1f} % vs {100 * no_b['balanced']:.1f} % — "
        f"{_met(main['accuracy'] >= no_b['accuracy'] and main['balanced'] >= no_b['balanced'])}.",
        f"- What the validation curve can tell at all: the truth's own overfit rule (≥ 1.15 × the minimum, "
        f"minimum in the first 70 %, material) read off the validation curve instead of the test curve agrees "
        f"with the label on {rate(agree, total)} of the scored runs (overfit or not). Validation and test are "
        "different blocks of a series in time; where they disagree no curve reader can be right, and that bounds "
        "the overfit/good-fit boundary well below 93 %.",
        "- How far readers given *more* than the engine get (the truth's rules read off the validation curve with "
        "an oracle from the grid's validation curves; learned readers, also told each task's oracle levels): "
        "CEILING.md, written by `ceiling.py`.",
    ]
    lines += ["", "## Per task (held out in turn)", "",
              "| task | kind | source | oracle / trivial test loss | scored | engine right |", "|---|---|---|---|---|---|"]
    for task in tasks:
        members = [(s, p) for s, p in zip(data, results["engine"]) if s.task == task]
        y = yard[task]
        kind = next(e["kind"] for e in runs if e["task"] == task)
        source = next(e.get("source") for e in runs if e["task"] == task)
        lines.append(f"| {task} | {kind} | {source} | {y['oracle_test']:.3g} / {y['trivial']:.3g} | {len(members)} | "
                     f"{rate(sum(s.label == p for s, p in members), len(members))} |")
    lines += ["", "## Per recipe family (engine, leave-one-task-out)", "", "| family | scored | right |", "|---|---|---|"]
    by_family: dict[str, list[bool]] = defaultdict(list)
    for e, p in zip(entries, results["engine"]):
        by_family[e["family"]].append(e["label"] == p)
    lines += [f"| {fam} | {len(v)} | {rate(sum(v), len(v))} |" for fam, v in sorted(by_family.items())]
    lines += ["", "## Thresholds", "", "| threshold | shipped (fitted on all tasks) | range over the folds |", "|---|---|---|"]
    for name in TUNED:
        values = [getattr(t, name) for t in results["fitted"].values()]
        lines.append(f"| `{name}` | {getattr(DEFAULT, name):g} | {min(values):g}–{max(values):g} |")
    return "\n".join(lines) + "\n"


def refit_defaults(corpus: dict) -> Thresholds:
    """The thresholds fitted on every task: what ``diagnosis/thresholds.py`` ships."""
    return fit.fit(fit.samples(scored_runs(corpus)))


def main() -> None:
    corpus = load_corpus()
    results = evaluate(corpus)
    RESULTS_FILE.write_text(report(corpus, results))
    for name, r in results["rows"].items():
        print(f"{name:60s} {100 * r['accuracy']:5.1f} %  balanced {100 * r['balanced']:5.1f} %  "
              + "  ".join(f"{c} {rate(*r['per_class'][c])}" for c in CLASSES))


if __name__ == "__main__":
    main()
