"""Targets as the model needs them: class indices with a reported mapping, or raw numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.errors import config_error


@dataclass
class Targets:
    y: np.ndarray  # binary: float32 0/1; multiclass: int32 0..k-1; regression: float32 as given
    classes: int | None
    mapping: dict[str, int] | None  # original label (as text) -> index, in sorted label order


def encode_targets(values: np.ndarray, task: str, *, what: str, field: str) -> Targets:
    """`values`: numbers (already checked finite) or str labels. `what` names them in messages
    ("target column 'label'", "array 'y'"); `field` is the config field a mismatch points at."""
    numeric = values.dtype.kind in "biuf"
    if task == "regression":
        if not numeric:
            raise config_error(
                field,
                f"regression needs a numeric target, but {what} holds text "
                f"(e.g. {values[0]!r}). Use a classification task or a numeric target.",
            )
        # Regression targets are left unscaled: the loss and the reported metrics stay in the
        # user's units.
        return Targets(values.astype(np.float32), None, None)
    if values.ndim == 2:
        if values.shape[1] != 1:
            raise config_error(
                field,
                f"{task} needs one label per sample, but {what} has shape {values.shape}. "
                "Give class indices shaped (samples,), not one-hot rows.",
            )
        values = values[:, 0]
    classes = np.unique(values)
    if numeric and task == "multiclass_classification" and not np.all(classes == np.round(classes)):
        odd = next(c for c in classes if c != round(c))
        raise config_error(
            field,
            f"multiclass_classification needs integer or text labels, but {what} holds "
            f"{odd!r}. Use regression for a continuous target.",
        )
    shown = ", ".join(_label(c) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
    if task == "binary_classification" and len(classes) != 2:
        fix = (
            "use multiclass_classification (or regression for a continuous target)"
            if len(classes) > 2
            else "a model cannot learn from a single class"
        )
        raise config_error(
            field,
            f"binary_classification needs exactly 2 distinct values in {what}, which has "
            f"{len(classes)} ({shown}): {fix}.",
        )
    if len(classes) < 2:
        raise config_error(field, f"{task} needs at least 2 classes, but {what} has only {shown}.")
    mapping = {_label(c): i for i, c in enumerate(classes)}
    index = np.searchsorted(classes, values)
    y = index.astype(np.float32) if task == "binary_classification" else index.astype(np.int32)
    return Targets(y, len(classes), mapping)


def _label(value) -> str:
    """A label as the user wrote it: 1.0 read from a CSV is the class "1"."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(int(value)) if isinstance(value, np.integer) else str(bool(value))
    return str(value)
