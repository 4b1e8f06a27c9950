"""Rules over the data a job will train on, checked before training (``worker.data_checks`` reads
the dataset and calls ``evaluate``). NumPy only and linear in the data, so they cost little next to
training.

Tables are checked on their rows (``Rows``: raw feature rows, window, horizon), never on
materialised windows, which would multiply the memory by the window length; NPZ samples come
windowed already (``Windows``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from diagnosis.findings import ISSUE, NOT_EVALUATED, OK, finding

CONSTANT_TARGET = "constant_target"
CLASS_IMBALANCE = "class_imbalance"
TOO_FEW_WINDOWS = "too_few_windows"
FEATURE_SCALES = "feature_scales"
DUPLICATE_WINDOWS = "duplicate_windows"
TARGET_LEAKAGE = "target_leakage"
LABEL_SHIFT = "label_shift"
RULES = (
    CONSTANT_TARGET,
    CLASS_IMBALANCE,
    TOO_FEW_WINDOWS,
    FEATURE_SCALES,
    DUPLICATE_WINDOWS,
    TARGET_LEAKAGE,
    LABEL_SHIFT,
)

CONSTANT_PARAMETERS = {"min_relative_std": 1e-6, "max_mode_share": 0.99}
IMBALANCE_PARAMETERS = {"max_ratio": 10.0}
WINDOWS_PARAMETERS = {"max_parameters_per_window": 10.0}
SCALES_PARAMETERS = {"max_ratio": 1000.0, "max_magnitude": 100.0}
DUPLICATE_PARAMETERS = {"max_share": 0.1, "min_distinct_share": 0.5}
LEAKAGE_PARAMETERS = {"min_correlation": 0.999999, "max_rows": 20_000, "extra_shifts": 4}
SHIFT_PARAMETERS = {"max_psi": 0.25}

# Checks that compare columns cost rows × columns; past these they read a prefix of the data,
# which is enough to see a copied column or a systematic shift.
_MAX_LEAK_COLUMNS = 512


@dataclass
class Rows:
    """A table as the windowing reads it: sample i is ``features[i:i+window]`` and its target
    was at row ``i + window - 1 + horizon``."""

    features: np.ndarray  # (rows, n_features), raw (unscaled), float64
    names: list[str]
    window: int
    horizon: int


@dataclass
class Windows:
    """NPZ samples: ``X`` (samples, timesteps, features), raw."""

    X: np.ndarray


@dataclass
class DataFacts:
    task: str
    y: np.ndarray  # one encoded target per sample (class index, or the regression value)
    train: int  # the first ``train`` samples are the training part
    scale: str
    inputs: Rows | Windows
    parameters: int  # trainable parameters of the model the job builds
    class_names: Sequence[str] = ()  # the original label of each class index; empty for regression


def facts_for(
    task: str,
    y: np.ndarray,
    spec: Mapping[str, Any],
    *,
    parameters: int,
    columns: Mapping[str, np.ndarray] | None = None,
    X: np.ndarray | None = None,
) -> DataFacts:
    """The facts of a resolved job (``spec``: the job's ``data_spec``; ``y``: its encoded targets):
    a table's raw ``columns`` by name, or NPZ samples ``X``. The one place both the submit-time
    and the worker's checks build them, so that both see the same numbers."""
    inputs: Rows | Windows
    if X is not None:
        inputs = Windows(np.asarray(X))
    else:
        assert columns is not None, "a table's checks need its feature columns"
        names = list(spec["features"])
        rows = np.column_stack([columns[n] for n in names]).astype(np.float64)
        inputs = Rows(rows, names, int(spec["window"]), int(spec["horizon"]))
    mapping = spec.get("class_mapping")
    class_names = [label for label, _ in sorted(mapping.items(), key=lambda item: item[1])] if mapping else []
    return DataFacts(
        task=task,
        y=np.asarray(y),
        train=int(spec["train_samples"]),
        scale=str(spec["scale"]),
        inputs=inputs,
        parameters=parameters,
        class_names=class_names,
    )


def not_evaluated(
    reason: str = "No dataset was checked before training (a history trained elsewhere, or a job "
    "submitted before these checks existed).",
) -> list[dict[str, Any]]:
    return [finding(rule, NOT_EVALUATED, message=reason) for rule in RULES]


# Marks a finding the submit-time check left to the worker (its evidence says so), as against
# one that does not apply (a regression has no classes): only the former waits for the file.
DEFERRED = {"deferred_to": "worker"}


def deferred(rule: str, reason: str) -> dict[str, Any]:
    return finding(rule, NOT_EVALUATED, evidence=DEFERRED, message=reason)


def all_deferred(reason: str) -> list[dict[str, Any]]:
    return [deferred(rule, reason) for rule in RULES]


def _waits(f: Mapping[str, Any] | None) -> bool:
    return f is None or (f.get("status") == NOT_EVALUATED and f.get("evidence") == DEFERRED)


def merge(submitted: Sequence[Mapping[str, Any]] | None, checked: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One finding per rule: what the submit-time check decided, and the worker's full check for
    what it left to the worker."""
    decided = {f["rule"]: f for f in submitted or [] if not _waits(f)}
    by_rule = {f["rule"]: f for f in checked}
    return [
        dict(decided.get(rule) or by_rule.get(rule) or finding(rule, NOT_EVALUATED, message="Not checked."))
        for rule in RULES
    ]


def undecided(findings: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether some data rule still waits for the worker's check (every one for a job submitted
    before the submit-time check existed)."""
    by_rule = {f.get("rule"): f for f in findings or []}
    return any(_waits(by_rule.get(rule)) for rule in RULES)


def evaluate(facts: DataFacts, skip: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every rule on ``facts``; ``skip`` maps rules left to the worker to the reason given."""
    skip = skip or {}
    return [
        deferred(check.__name__, skip[check.__name__]) if check.__name__ in skip else check(facts)
        for check in (
            constant_target,
            class_imbalance,
            too_few_windows,
            feature_scales,
            duplicate_windows,
            target_leakage,
            label_shift,
        )
    ]


def work(facts: DataFacts) -> dict[str, float]:
    """Rough element operations of the rules whose cost is not linear in the data: the window
    keys of ``duplicate_windows`` (samples × window) and the column comparisons of
    ``target_leakage`` (shifts × features, each over up to ``max_rows`` rows). The submit-time
    check leaves a rule past its budget to the worker."""
    samples = min(len(facts.y), int(LEAKAGE_PARAMETERS["max_rows"]))
    if isinstance(facts.inputs, Rows):
        shifts = facts.inputs.window + int(LEAKAGE_PARAMETERS["extra_shifts"])
        columns = min(facts.inputs.features.shape[1], _MAX_LEAK_COLUMNS)
        return {
            DUPLICATE_WINDOWS: float(len(facts.y) * facts.inputs.window),
            TARGET_LEAKAGE: float(shifts * columns * samples),
        }
    X = facts.inputs.X
    positions = min(X.shape[1] * X.shape[2], _MAX_LEAK_COLUMNS)
    return {DUPLICATE_WINDOWS: float(X.size), TARGET_LEAKAGE: float(positions * samples)}


def _classification(task: str) -> bool:
    return task != "regression"


def _class_label(facts: DataFacts, index: int) -> str:
    names = facts.class_names
    return str(names[index]) if 0 <= index < len(names) else str(index)


# Rules ------------------------------------------------------------------------------------


def constant_target(facts: DataFacts) -> dict[str, Any]:
    parameters = dict(CONSTANT_PARAMETERS)
    y = np.asarray(facts.y[: facts.train], dtype=np.float64).reshape(facts.train, -1)
    # One target per sample (the usual case): a flat unique, several times faster than by rows.
    _, counts = np.unique(y[:, 0] if y.shape[1] == 1 else y, axis=None if y.shape[1] == 1 else 0, return_counts=True)
    mode_share = float(counts.max() / len(y))
    std = float(y.std(axis=0).max())
    scale = float(max(np.abs(y).mean(), 1e-12))
    evidence = {"training_samples": len(y), "distinct_values": len(counts), "mode_share": mode_share, "std": std}
    regression_flat = not _classification(facts.task) and std <= parameters["min_relative_std"] * scale
    if regression_flat or mode_share >= parameters["max_mode_share"]:
        what = "is constant" if len(counts) == 1 else f"takes one value in {mode_share:.1%} of the training samples"
        return finding(
            CONSTANT_TARGET,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"The target {what}: there is (almost) nothing to learn, and any loss near zero means nothing.",
            recommendation="Check the target column (and horizon); for rare events use a longer series "
            "or classification with the event as one class.",
        )
    return finding(
        CONSTANT_TARGET,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"The target varies: {len(counts)} distinct value(s), the most common in {mode_share:.0%} "
        "of training samples.",
    )


def class_imbalance(facts: DataFacts) -> dict[str, Any]:
    parameters = dict(IMBALANCE_PARAMETERS)
    if not _classification(facts.task):
        return finding(CLASS_IMBALANCE, NOT_EVALUATED, parameters=parameters, message="Regression: no classes.")
    y_train = facts.y[: facts.train].astype(int).ravel()
    y_val = facts.y[facts.train :].astype(int).ravel()
    classes = int(max(y_train.max(), y_val.max() if len(y_val) else 0)) + 1
    counts = np.bincount(y_train, minlength=classes)
    present = counts[counts > 0]
    ratio = float(present.max() / present.min())
    majority = int(counts.argmax())
    judged = y_val if len(y_val) else y_train
    majority_accuracy = float(np.mean(judged == majority))
    evidence = {
        "counts": {_class_label(facts, k): int(c) for k, c in enumerate(counts)},
        "ratio": ratio,
        "majority_class": _class_label(facts, majority),
        "majority_accuracy": majority_accuracy,
        "judged_on": "validation" if len(y_val) else "training",
    }
    if ratio >= parameters["max_ratio"]:
        return finding(
            CLASS_IMBALANCE,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"The largest class outnumbers the smallest {ratio:.0f}:1 in training. Always "
            f"predicting {_class_label(facts, majority)!r} scores {majority_accuracy:.1%} accuracy on "
            f"the {evidence['judged_on']} part: a model must beat that, not 50 %.",
            recommendation="Judge the model against the majority accuracy (the verdict's baseline does), "
            "and collect more of the rare class or resample it.",
        )
    return finding(
        CLASS_IMBALANCE,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"Classes are within {ratio:.1f}:1; the majority class alone scores {majority_accuracy:.1%} accuracy.",
    )


def too_few_windows(facts: DataFacts) -> dict[str, Any]:
    parameters = dict(WINDOWS_PARAMETERS)
    per_window = facts.parameters / max(facts.train, 1)
    evidence = {
        "training_windows": facts.train,
        "trainable_parameters": facts.parameters,
        "parameters_per_window": per_window,
    }
    if per_window > parameters["max_parameters_per_window"]:
        return finding(
            TOO_FEW_WINDOWS,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"The model has {facts.parameters} trainable parameters for {facts.train} training "
            f"windows ({per_window:.0f} per window): it can memorise the training part.",
            recommendation="Use fewer units or layers, add dropout, or train on more data.",
        )
    return finding(
        TOO_FEW_WINDOWS,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"{facts.train} training windows for {facts.parameters} parameters.",
    )


def _training_rows(facts: DataFacts) -> np.ndarray:
    """Feature rows the training part reads, (rows, features)."""
    if isinstance(facts.inputs, Rows):
        return facts.inputs.features[: facts.train + facts.inputs.window - 1]
    X = facts.inputs.X[: facts.train]
    return X.reshape(-1, X.shape[-1])


def _feature_names(facts: DataFacts) -> list[str]:
    if isinstance(facts.inputs, Rows):
        return list(facts.inputs.names)
    return [f"feature {k}" for k in range(facts.inputs.X.shape[-1])]


def feature_scales(facts: DataFacts) -> dict[str, Any]:
    parameters = dict(SCALES_PARAMETERS)
    if facts.scale != "none":
        return finding(
            FEATURE_SCALES,
            OK,
            parameters=parameters,
            evidence={"scale": facts.scale},
            message=f"Inputs are scaled ({facts.scale}, fitted on the training part).",
        )
    rows = _training_rows(facts)
    names = _feature_names(facts)
    spread = rows.std(axis=0)
    magnitude = np.percentile(np.abs(rows), 99, axis=0) if len(rows) else np.zeros(len(names))
    typical = np.maximum(spread, 0)
    varying = typical > 0
    ratio = float(typical[varying].max() / typical[varying].min()) if varying.sum() > 1 else 1.0
    largest = int(np.argmax(magnitude)) if len(magnitude) else 0
    evidence = {
        "scale": "none",
        "std": dict(zip(names, map(float, spread))),
        "abs_p99": dict(zip(names, map(float, magnitude))),
        "std_ratio": ratio,
    }
    problems = []
    if ratio >= parameters["max_ratio"]:
        hi, lo = int(np.argmax(np.where(varying, typical, -np.inf))), int(np.argmin(np.where(varying, typical, np.inf)))
        problems.append(f"feature spreads differ {ratio:.0f}× ({names[hi]!r} vs {names[lo]!r})")
    if len(magnitude) and magnitude[largest] >= parameters["max_magnitude"]:
        problems.append(f"{names[largest]!r} reaches {magnitude[largest]:.3g} in size, which saturates LSTM gates")
    if problems:
        return finding(
            FEATURE_SCALES,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message="With scale: none, " + "; ".join(problems) + ".",
            recommendation="Set data.scale: standard (or minmax); it is fitted on the training part only.",
        )
    return finding(
        FEATURE_SCALES,
        OK,
        parameters=parameters,
        evidence=evidence,
        message="Unscaled inputs, but on comparable, moderate scales.",
    )


def _ids(values: np.ndarray) -> np.ndarray:
    """A small integer per distinct row of ``values`` (2-D), equal rows equal ids."""
    contiguous = np.ascontiguousarray(values)
    _, inverse = np.unique(
        contiguous.view(np.dtype((np.void, contiguous.dtype.itemsize * contiguous.shape[1]))), return_inverse=True
    )
    return inverse.reshape(-1).astype(np.uint64)


def _window_keys(facts: DataFacts) -> np.ndarray:
    """One 64-bit key per sample: its input window and its target (equal samples, equal keys)."""
    samples = len(facts.y)
    y = np.asarray(facts.y, dtype=np.float64).reshape(samples, -1)
    if isinstance(facts.inputs, Windows):
        flat = facts.inputs.X.reshape(samples, -1).astype(np.float64)
        return _ids(np.concatenate([flat, y], axis=1))
    rows = facts.inputs
    row_ids = _ids(rows.features.astype(np.float64))
    # A polynomial hash over the window's row ids (wrapping uint64 arithmetic), then the target.
    key = np.zeros(samples, dtype=np.uint64)
    prime = np.uint64(1_000_003)
    with np.errstate(over="ignore"):
        for k in range(rows.window):
            key = key * prime + row_ids[k : k + samples] + np.uint64(1)
        return key * prime + _ids(y) + np.uint64(1)


def duplicate_windows(facts: DataFacts) -> dict[str, Any]:
    parameters = dict(DUPLICATE_PARAMETERS)
    samples = len(facts.y)
    if samples - facts.train == 0:
        return finding(DUPLICATE_WINDOWS, NOT_EVALUATED, parameters=parameters, message="No validation part.")
    keys = _window_keys(facts)
    train, val = keys[: facts.train], keys[facts.train :]
    shared = np.isin(val, train)
    share = float(shared.mean())
    distinct_share = len(np.unique(train)) / len(train)
    evidence = {
        "validation_windows": len(val),
        "shared_with_training": int(shared.sum()),
        "share": share,
        "distinct_training_share": distinct_share,
    }
    if shared.any():
        evidence["first_shared_sample"] = int(facts.train + np.flatnonzero(shared)[0])
    if share >= parameters["max_share"] and distinct_share >= parameters["min_distinct_share"]:
        return finding(
            DUPLICATE_WINDOWS,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"{share:.0%} of the validation windows (input and target) also appear in the training "
            "part: the validation score partly measures memory, not generalisation.",
            recommendation="Remove duplicated rows (a file concatenated twice?) before uploading.",
        )
    if share >= parameters["max_share"]:
        message = (
            f"{share:.0%} of the validation windows also occur in training, but the inputs take few distinct "
            "values, so repeats are in the nature of the data."
        )
    else:
        message = f"{share:.1%} of the validation windows also occur in the training part."
    return finding(DUPLICATE_WINDOWS, OK, parameters=parameters, evidence=evidence, message=message)


def _copies(column: np.ndarray, target: np.ndarray, classification: bool, min_correlation: float) -> bool:
    """Whether ``column`` is the target again: an affine copy (regression), or a relabelling of the
    classes, one feature value per class (classification)."""
    finite = np.isfinite(column)
    if finite.sum() < 3:
        return False
    column, target = column[finite], target[finite]
    if classification:
        values = np.unique(column)
        if len(values) != len(np.unique(target)) or len(values) > 64:
            return False
        pairs = np.unique(np.stack([column, target.astype(np.float64)], axis=1), axis=0)
        return len(pairs) == len(values)
    if column.std() == 0 or target.std() == 0:
        return False
    return abs(float(np.corrcoef(column, target)[0, 1])) >= min_correlation


def _correlated_columns(columns: np.ndarray, target: np.ndarray, min_correlation: float) -> list[int]:
    """Columns (the rows of ``columns``: features × samples) that may be an affine copy of
    ``target``, all at once (one vectorised pass instead of a correlation per column): the
    candidates ``_copies`` then confirms. A column with non-finite values is always a candidate
    (``_copies`` handles it)."""
    finite = np.isfinite(columns).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        centred = columns - columns.mean(axis=1, keepdims=True)
        t = target - target.mean()
        r = np.abs(centred @ t) / np.sqrt(np.einsum("ij,ij->i", centred, centred) * float(t @ t))
    # A little below the threshold: the confirmation uses np.corrcoef, whose rounding differs.
    return [f for f in range(len(columns)) if not finite[f] or r[f] >= min_correlation - 1e-9]


def target_leakage(facts: DataFacts) -> dict[str, Any]:
    parameters = dict(LEAKAGE_PARAMETERS)
    classification = _classification(facts.task)
    limit = parameters["max_rows"]
    y = np.asarray(facts.y, dtype=np.float64).reshape(len(facts.y), -1)[:, 0]
    names = _feature_names(facts)
    if isinstance(facts.inputs, Windows):
        X = facts.inputs.X[:limit]
        steps, n_features = X.shape[1], X.shape[2]
        # Latest timesteps first: a leaked answer usually sits at the end of the window.
        positions = [(t, f) for t in range(steps - 1, -1, -1) for f in range(n_features)][:_MAX_LEAK_COLUMNS]
        for t, f in positions:
            if _copies(X[:, t, f].astype(np.float64), y[:limit], classification, parameters["min_correlation"]):
                evidence = {"feature": names[f], "timestep": t + 1, "timesteps": steps}
                return finding(
                    TARGET_LEAKAGE,
                    ISSUE,
                    parameters=parameters,
                    evidence=evidence,
                    message=f"{names[f]} at timestep {t + 1} of {steps} equals the target (up to scale "
                    "or relabelling): the model is shown the answer.",
                    recommendation="Drop that feature, or build X from data before the target only.",
                )
        return finding(
            TARGET_LEAKAGE,
            OK,
            parameters=parameters,
            evidence={"positions_checked": len(positions)},
            message="No input position equals the target.",
        )
    rows = facts.inputs
    first_target_row = rows.window - 1 + rows.horizon
    # Sample i's target sits at row first_target_row + i; a feature holding the target s rows
    # ahead (f[r] = target[r + s]) shows sample i its own target when horizon ≤ s ≤ horizon +
    # window − 1. Shifts from the horizon on are checked (a few beyond the window too: future
    # values the model should not see either); smaller shifts are the legitimate past.
    shifts = range(rows.horizon, rows.horizon + rows.window + int(parameters["extra_shifts"]))
    samples = min(len(y), limit)
    checked = 0
    # Features × rows, contiguous (only the rows any shift reads: start + hi < samples + window):
    # each shift's columns are then cheap slices to reduce along.
    by_column = np.ascontiguousarray(rows.features[: samples + rows.window, :_MAX_LEAK_COLUMNS].T)
    for s in shifts:
        start = first_target_row - s  # feature row aligned with sample 0's target
        lo = max(0, -start)
        hi = min(samples, len(rows.features) - start)
        if hi - lo < 3:
            continue
        block = by_column[:, start + lo : start + hi]
        candidates = (
            range(len(block)) if classification else _correlated_columns(block, y[lo:hi], parameters["min_correlation"])
        )
        checked += len(block)
        for f in candidates:
            name = rows.names[f]
            if _copies(block[f], y[lo:hi], classification, parameters["min_correlation"]):
                seen = s - rows.horizon  # rows before the window's end where the answer sits
                where = (
                    "in the window's last row"
                    if seen == 0
                    else (f"{seen} row(s) before the window's end" if seen < rows.window else "just after the window")
                )
                evidence = {"feature": name, "shift": s, "horizon": rows.horizon, "window": rows.window}
                return finding(
                    TARGET_LEAKAGE,
                    ISSUE,
                    parameters=parameters,
                    evidence=evidence,
                    message=f"Feature {name!r} equals the target {s} row(s) later (up to scale or "
                    f"relabelling), so each window holds its own answer {where}: leakage "
                    f"beyond the horizon ({rows.horizon}).",
                    recommendation=f"Drop {name!r} from data.features, or shift it back so that it only "
                    "holds values known at prediction time.",
                )
    return finding(
        TARGET_LEAKAGE,
        OK,
        parameters=parameters,
        evidence={"comparisons": checked},
        message="No feature equals the target at or beyond the horizon.",
    )


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two histograms (shares), lightly smoothed."""
    eps = 1e-4
    p = (expected + eps) / (expected + eps).sum()
    q = (actual + eps) / (actual + eps).sum()
    return float(np.sum((q - p) * np.log(q / p)))


def label_shift(facts: DataFacts) -> dict[str, Any]:
    parameters = dict(SHIFT_PARAMETERS)
    if len(facts.y) == facts.train:
        return finding(LABEL_SHIFT, NOT_EVALUATED, parameters=parameters, message="No validation part.")
    y_train = np.asarray(facts.y[: facts.train], dtype=np.float64).reshape(facts.train, -1)[:, 0]
    y_val = np.asarray(facts.y[facts.train :], dtype=np.float64).reshape(len(facts.y) - facts.train, -1)[:, 0]
    if _classification(facts.task):
        classes = int(max(y_train.max(), y_val.max())) + 1
        train_counts = np.bincount(y_train.astype(int), minlength=classes).astype(float)
        val_counts = np.bincount(y_val.astype(int), minlength=classes).astype(float)
        psi = _psi(train_counts, val_counts)
        evidence = {
            "psi": psi,
            "training_shares": {
                _class_label(facts, k): float(c / train_counts.sum()) for k, c in enumerate(train_counts)
            },
            "validation_shares": {
                _class_label(facts, k): float(c / val_counts.sum()) for k, c in enumerate(val_counts)
            },
        }
        moved = max(
            range(classes), key=lambda k: abs(val_counts[k] / val_counts.sum() - train_counts[k] / train_counts.sum())
        )
        detail = (
            f"class {_class_label(facts, moved)!r} is {train_counts[moved] / train_counts.sum():.0%} of training "
            f"but {val_counts[moved] / val_counts.sum():.0%} of validation"
        )
    else:
        bins = int(np.clip(len(y_val) // 10, 2, 10))
        edges = np.unique(np.quantile(y_train, np.linspace(0, 1, bins + 1)[1:-1]))
        train_counts = np.bincount(np.searchsorted(edges, y_train), minlength=len(edges) + 1).astype(float)
        val_counts = np.bincount(np.searchsorted(edges, y_val), minlength=len(edges) + 1).astype(float)
        psi = _psi(train_counts, val_counts)
        std = float(y_train.std()) or 1.0
        moved_by = (float(y_val.mean()) - float(y_train.mean())) / std
        evidence = {
            "psi": psi,
            "bins": len(edges) + 1,
            "training_mean": float(y_train.mean()),
            "validation_mean": float(y_val.mean()),
            "mean_shift_in_training_std": moved_by,
            "training_std": float(y_train.std()),
            "validation_std": float(y_val.std()),
        }
        detail = f"the validation mean is {moved_by:+.2f} training standard deviations away"
    if not math.isfinite(psi):
        return finding(LABEL_SHIFT, NOT_EVALUATED, parameters=parameters, message="The shift could not be measured.")
    if psi >= parameters["max_psi"]:
        return finding(
            LABEL_SHIFT,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"The validation part's targets are distributed differently from training (PSI "
            f"{psi:.2f}; {detail}): validation scores will differ from training for that reason "
            "alone.",
            recommendation="Expect it if the series drifts over time; otherwise choose a validation_split "
            "whose period resembles the training data, or use more data.",
        )
    return finding(
        LABEL_SHIFT,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"Training and validation targets are alike (PSI {psi:.2f}).",
    )


def summary(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The rules that found an issue, for logs."""
    return [f["rule"] for f in findings if f.get("status") == ISSUE]
