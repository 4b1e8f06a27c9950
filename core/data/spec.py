"""Checking a job's `data` config against a stored dataset, and the resolved spec it yields.

Everything a config can get wrong against the file is found here, at submit time, as a 422
naming the field: a job that is accepted has a dataset it can train on.
"""

from __future__ import annotations

import difflib
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.errors import DatasetError, config_error, config_errors
from core.data.labels import Targets, _label, encode_targets
from core.data.npz import read_npz
from core.data.tables import TableScan, scan_table
from core.data.windowing import count_samples, split_sizes, target_rows
from core.job_config import DataConfig

# The file already passed the size limit when inspect_dataset accepted it; re-checking against
# today's limit would turn an operator's change into failures of datasets already stored.
ACCEPTED = sys.maxsize


@dataclass
class Resolved:
    spec: dict
    targets: Targets  # one encoded target per sample, train part first
    X: np.ndarray | None = None  # NPZ only: the samples, unscaled


def resolve_spec(path: Path, fmt: str, data: DataConfig, task: str) -> dict:
    """The JSON-able spec of what a job with this `data` config trains on; DatasetError(422)
    naming the field when the config cannot work with the dataset."""
    return resolve(path, fmt, data, task).spec


def resolve_from_profile(profile: dict, data: DataConfig, task: str) -> dict | None:
    """The spec `resolve_spec` would give, from the profile stored at upload (no file read), or
    None when the profile cannot decide (a target of many distinct values for classification, a
    text target with missing labels, a training part the first/last rows leave ambiguous): the
    caller then resolves from the file. Raises the same DatasetError(422) as `resolve_spec`."""
    scan = TableScan.from_profile(profile)
    fmt, target = profile["format"], data.target
    if target in scan.names and scan.column(target).kind == "text" and scan.column(target).present < scan.rows:
        return None  # the missing labels' first row is in the file only
    target, features, unused, samples = _columns(scan, fmt, data, task)
    if samples < 2:
        return None  # the file-reading path words this one
    train = _split(samples, data.validation_split)
    classes, mapping = None, None
    if task != "regression":
        labels = next(c["labels"] for c in profile["columns"] if c["name"] == target)
        if labels is None:
            return None
        first_target = target_rows(data.window, data.horizon, samples).start
        present = [i for i, last in enumerate(labels["last"]) if last >= first_target]
        values = np.array(
            [labels["values"][i] for i in present], dtype=object if isinstance(labels["values"][0], str) else np.float64
        )
        targets = encode_targets(values, task, what=f"target column {target!r}", field="target")
        classes, mapping = targets.classes, targets.mapping
        end = first_target + train
        seen, unsure = [], 0
        for i in present:
            first, last = labels["first"][i], labels["last"][i]
            if first_target <= first < end or first_target <= last < end:
                seen.append(labels["values"][i])
            elif first < first_target and last >= end:
                unsure += 1  # it may or may not occur in between
        if len(seen) < 2:
            if unsure:
                return None
            raise _one_class(_label(seen[0]) if seen else "?", train, task)
    return _table_spec(fmt, target, features, unused, data, task, samples, train, classes, mapping)


def resolve(path: Path, fmt: str, data: DataConfig, task: str) -> Resolved:
    return _resolve_npz(path, data, task) if fmt == "npz" else _resolve_table(path, fmt, data, task)


def _resolve_table(path: Path, fmt: str, data: DataConfig, task: str) -> Resolved:
    return resolve_scan(scan_table(path, fmt, max_bytes=ACCEPTED, labels=data.target), fmt, data, task)


def resolve_scan(scan: TableScan, fmt: str, data: DataConfig, task: str) -> Resolved:
    """`resolve` on a table already read (its target's values in ``scan.values``)."""
    target, features, unused, samples = _columns(scan, fmt, data, task)
    if samples < 2:
        raise config_error(
            "window",
            f"window {data.window} + horizon {data.horizon} leave {samples} sample(s) "
            f"from {scan.rows} rows; at least 2 are needed. Use a smaller window or "
            f"horizon (window + horizon at most {max(scan.rows - 1, 1)}).",
        )
    train = _split(samples, data.validation_split)
    values = scan.values[target][target_rows(data.window, data.horizon, samples)]
    targets = encode_targets(values, task, what=f"target column {target!r}", field="target")
    _check_training_classes(targets, train, task)
    spec = _table_spec(fmt, target, features, unused, data, task, samples, train, targets.classes, targets.mapping)
    return Resolved(spec, targets)


def _columns(scan: TableScan, fmt: str, data: DataConfig, task: str) -> tuple[str, list[str], list[str], int]:
    """(target, features, unused columns, samples) of a table, or DatasetError(422) naming every
    config field that does not fit it: the part shared by the file and the profile readings."""
    problems: list[tuple[str, str]] = []
    _check_target(scan, fmt, data.target, task, problems)
    features, unused = _pick_features(scan, data, problems)
    if problems:
        raise config_errors(problems)
    assert data.target is not None  # _check_target reported a missing one above
    return data.target, features, unused, count_samples(scan.rows, data.window, data.horizon)


def _table_spec(
    fmt: str,
    target: str,
    features: list[str],
    unused: list[str],
    data: DataConfig,
    task: str,
    samples: int,
    train: int,
    classes: int | None,
    mapping: dict | None,
) -> dict:
    """The spec of a table job, whether resolved from the file or from the upload's profile."""
    return {
        "format": fmt,
        "target": target,
        "features": features,
        "unused_columns": unused,
        "window": data.window,
        "horizon": data.horizon,
        **_sizes(samples, train),
        "timesteps": data.window,
        "n_features": len(features),
        "outputs": 1 if task == "regression" else None,
        "classes": classes,
        "class_mapping": mapping,
        "scale": data.scale,
    }


def _check_target(scan: TableScan, fmt: str, target: str | None, task: str, problems: list[tuple[str, str]]) -> None:
    if target is None:
        problems.append(
            (
                "target",
                f"target is required for {fmt.upper()} datasets: name the column to "
                f"predict, one of {_listing(scan.names)}.",
            )
        )
        return
    if target not in scan.names:
        problems.append(
            (
                "target",
                f"target column {target!r} is not in the dataset{_did_you_mean(target, scan)}; "
                f"its columns are {_listing(scan.names)}.",
            )
        )
        return
    facts = scan.column(target)
    if facts.kind == "text":
        if task == "regression":
            problems.append(
                (
                    "target",
                    f"{facts.not_numeric()}; regression needs a numeric target: fix the "
                    "value or use a classification task.",
                )
            )
            return
        missing = (
            np.flatnonzero(scan.values[target] == None)  # noqa: E711 (elementwise on objects)
            if facts.present < scan.rows
            else np.empty(0)
        )
        if missing.size:
            problems.append(
                (
                    "target",
                    f"target column {target!r} has {missing.size} missing label(s), first at "
                    f"row {missing[0] + 1}. Fill them or drop those rows.",
                )
            )
    elif facts.kind == "empty":
        problems.append(("target", f"target column {target!r} has no values."))
    elif facts.bad_count:
        problems.append(("target", f"target {facts.not_finite()}. Fill or drop those rows."))


def _pick_features(scan: TableScan, data: DataConfig, problems: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(features used, columns neither used nor the target)."""
    target = data.target
    if data.features is None:
        features = [c.name for c in scan.columns if c.name != target and c.kind == "numeric"]
        if not features:
            problems.append(
                (
                    "features",
                    f"no numeric column besides the target {target!r}: add one, or list "
                    "features explicitly (the target itself may be a feature when "
                    "horizon ≥ 1).",
                )
            )
    else:
        features = list(data.features)
        if not features:
            problems.append(
                (
                    "features",
                    "features is empty: list at least one column, or leave it null to use "
                    "every numeric column but the target.",
                )
            )
        for name, n in Counter(features).items():
            if n > 1:
                problems.append(("features", f"feature column {name!r} is listed {n} times; list it once."))
        for name in dict.fromkeys(features):
            if name not in scan.names:
                problems.append(
                    (
                        "features",
                        f"feature column {name!r} is not in the dataset"
                        f"{_did_you_mean(name, scan)}; its columns are {_listing(scan.names)}.",
                    )
                )
        if target in features and data.horizon == 0:
            problems.append(
                (
                    "features",
                    f"the target {target!r} is also a feature with horizon 0, so the model "
                    "would see the answer: set horizon ≥ 1 or drop it from features.",
                )
            )
    for name in dict.fromkeys(features):
        if name not in scan.names:
            continue
        facts = scan.column(name)
        if facts.kind == "text":
            problems.append(("features", f"{facts.not_numeric()}; fix the value or leave the column out of features."))
        elif facts.kind == "empty":
            problems.append(("features", f"feature column {name!r} has no values; leave it out of features."))
        elif facts.bad_count:
            problems.append(("features", f"{facts.not_finite()}; fill them, or leave the column out of features."))
    unused = [n for n in scan.names if n != target and n not in features]
    return features, unused


def _did_you_mean(name: str, scan: TableScan) -> str:
    close = difflib.get_close_matches(name, scan.names, n=1) or [
        n for n in scan.names if n.strip().lower() == name.strip().lower()
    ]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listing(names: list[str]) -> str:
    return ", ".join(map(repr, names[:20])) + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def _split(samples: int, validation_split: float) -> int:
    train, val = split_sizes(samples, validation_split)
    if train < 2:
        raise config_error(
            "validation_split",
            f"validation_split {validation_split} of {samples} samples leaves "
            f"{train} for training; at least 2 are needed. Lower "
            "validation_split or use more data.",
        )
    if validation_split > 0 and val == 0:
        raise config_error(
            "validation_split",
            f"validation_split {validation_split} of {samples} samples gives no "
            f"validation sample: raise it to at least {1 / samples:.3g}, or set "
            "it to 0 to train without validation.",
        )
    return train


def _sizes(samples: int, train: int) -> dict:
    return {"samples": samples, "train_samples": train, "val_samples": samples - train}


def _check_training_classes(targets: Targets, train: int, task: str) -> None:
    if targets.mapping is None:
        return
    seen = np.unique(targets.y[:train])
    if len(seen) < 2:
        raise _one_class(next(k for k, v in targets.mapping.items() if v == int(seen[0])), train, task)


def _one_class(label: str, train: int, task: str) -> DatasetError:
    return config_error(
        "validation_split",
        f"the training part (first {train} samples) holds only class "
        f"{label!r}, so {task} cannot learn to tell classes apart. Use "
        "a smaller validation_split or data where the classes occur early.",
    )


def _resolve_npz(path: Path, data: DataConfig, task: str) -> Resolved:
    problems = [
        (field, f"{field} does not apply to NPZ datasets (y is the target, X the features): leave it unset.")
        for field in ("target", "features")
        if getattr(data, field) is not None
    ]
    if problems:
        raise config_errors(problems)
    arrays = read_npz(path, max_bytes=ACCEPTED)
    samples, timesteps, n_features = arrays.X.shape
    train = _split(samples, data.validation_split)
    targets = encode_targets(arrays.y, task, what="array 'y'", field="task")
    _check_training_classes(targets, train, task)
    spec = {
        "format": "npz",
        "target": None,
        "features": None,
        "unused_columns": None,
        "window": None,
        "horizon": None,  # NPZ samples come windowed already
        **_sizes(samples, train),
        "timesteps": timesteps,
        "n_features": n_features,
        "outputs": (1 if arrays.y.ndim == 1 else arrays.y.shape[1]) if task == "regression" else None,
        "classes": targets.classes,
        "class_mapping": targets.mapping,
        "scale": data.scale,
    }
    return Resolved(spec, targets, arrays.X)
