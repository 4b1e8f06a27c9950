"""The verdict engine: Keras histories (+ the trivial predictor's loss) in, API.md's diagnosis out.

Pure: numpy only, no Redis, Keras or HTTP, so the API, the worker and a user's notebook all
call the same function and get the same answer.

    from diagnosis.engine import diagnose
    diagnose([model.fit(...).history], task="binary_classification", baseline_loss=0.69)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from diagnosis import advice, findings, repeats
from diagnosis.history import History
from diagnosis.single_run import RunReading, read_run
from diagnosis.thresholds import DEFAULT, MIN_EPOCHS, Thresholds

__all__ = ["MIN_EPOCHS", "diagnose"]


def diagnose(
    runs: Sequence[History],
    *,
    task: str | None = None,
    baseline_loss: float | None = None,
    final: bool = True,
    seeds: list[int] | None = None,
    config: Mapping | None = None,
    thresholds: Thresholds = DEFAULT,
    data_findings: Sequence[Mapping] | None = None,
    health: Sequence[Sequence[Mapping]] | None = None,
    stop_on: Sequence[str] = (),
) -> dict:
    """The diagnosis object of API.md for one or several runs of one configuration.

    ``runs`` are Keras-style histories (metric → per-epoch values; NaN may be given as
    ``None``, ``"NaN"`` or a float). ``baseline_loss`` is the trivial predictor's loss on the
    validation part (see ``diagnosis.baseline``); without it the first epoch's loss stands in.
    ``final`` is false while training goes on. ``seeds`` label the runs in ``runs``.
    ``config`` is the job's config when there is one (API.md's ``training``/``model``
    sections): recommendations then start from its learning rate, epochs, units and dropout.
    The result is JSON-safe: no NaN or infinite floats, ``None`` where a number is unknown.
    ``findings`` (``diagnosis.findings``) come from ``data_findings`` (checked before training),
    ``health`` (per run, the records of ``worker.health``) and ``stop_on``; they never change
    the verdict.
    """
    # Histories with values near the float limits overflow in differences and fits; the result
    # is made JSON-safe (None for what is not finite), so numpy need not warn about it.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = _diagnose(
            runs, task=task, baseline_loss=baseline_loss, final=final, seeds=seeds, config=config, thresholds=thresholds
        )
        histories = [runs] if isinstance(runs, Mapping) else runs
        found = findings.collect(histories, data_findings=data_findings, health=health, stop_on=stop_on)
    return {**result, "findings": _json_safe(found)}


def _diagnose(
    runs: Sequence[History] | History,
    *,
    task: str | None,
    baseline_loss: float | None,
    final: bool,
    seeds: list[int] | None,
    config: Mapping | None,
    thresholds: Thresholds,
) -> dict:
    if isinstance(runs, Mapping):
        runs = [runs]
    training = advice.Training.from_config(config)
    readings = [read_run(history, baseline_loss=baseline_loss, thresholds=thresholds) for history in runs]
    if not readings:
        readings = [read_run({}, baseline_loss=baseline_loss, thresholds=thresholds)]
    if len(readings) == 1:
        reading = readings[0]
        result = _describe(
            reading, reading.verdict, reading.confidence, reading.reasons, reading.flags, final, task, training
        )
        result.update(runs=[], spread=None)
        return _json_safe(result)

    combined = repeats.combine(readings)
    representative = readings[combined.representative]
    result = _describe(
        representative, combined.verdict, combined.confidence, combined.reasons, combined.flags, final, task, training
    )
    if "runs_disagree" in combined.reasons:
        result["summary"] = _disagreement_summary(readings)
        result["recommendations"] = _disagreement_advice(readings, training)
    else:
        result["summary"] = f"All {len(readings)} runs read alike; the median one: {result['summary']}"
    result["runs"] = [
        {
            "run": i + 1,
            "seed": seeds[i] if seeds and i < len(seeds) else None,
            "verdict": r.verdict,
            "confidence": r.confidence,
            "reasons": r.reasons,
            "flags": r.flags,
            "evidence": r.evidence,
        }
        for i, r in enumerate(readings)
    ]
    result["spread"] = combined.spread
    return _json_safe(result)


def _describe(
    reading: RunReading,
    verdict: str,
    confidence: float,
    reasons: list[str],
    flags: list[str],
    final: bool,
    task: str | None,
    training: advice.Training,
) -> dict:
    text = advice.summary(reading)
    if not final:
        text = f"So far ({reading.evidence['epochs']} epochs, training continues): {text}"
    return {
        "verdict": verdict,
        "final": final,
        "confidence": round(confidence, 3),
        "reasons": list(reasons),
        "flags": list(flags),
        "summary": text,
        "recommendations": advice.recommendations(reading, task=task, training=training),
        "evidence": dict(reading.evidence),
    }


def _disagreement_summary(readings: list[RunReading]) -> str:
    counts = Counter(r.verdict for r in readings)
    told = ", ".join(f"{count} {verdict}" for verdict, count in counts.most_common())
    finals = [float(f) for r in readings if (f := r.evidence["final_val_loss"] or r.evidence["final_loss"]) is not None]
    text = f"The {len(readings)} runs disagree ({told}): the outcome depends on the seed."
    if len(finals) > 1:
        text += f" Final validation loss ranges {min(finals):.3g}–{max(finals):.3g}."
    return text


def _disagreement_advice(readings: list[RunReading], training: advice.Training) -> list[str]:
    lr = training.learning_rate or next((r.learning_rate for r in readings if r.learning_rate), None)
    return [
        f"Lower the learning rate {lr:.2g} → {lr / 3:.2g} to make runs more alike"
        if lr
        else "Lower the learning rate 3× (e.g. Adam's 0.001 → 0.0003) to make runs more alike",
        f"Run at least {max(5, len(readings))} repeats and judge the spread, not one run",
        "Use early stopping with restore_best_weights so each run keeps its best epoch",
    ]


def _json_safe(value):
    """Plain Python types only, with NaN/inf replaced by None and floats kept to 6 significant digits."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return None
    if number.is_integer() and not isinstance(value, float) and abs(number) < 2**53:
        return int(number)
    return float(f"{number:.6g}")
