"""The arrays a worker trains on: windowed, split in time order, scaled on the training part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.scaling import apply_scaler, fit_scaler
from core.data.spec import ACCEPTED, resolve
from core.data.tables import scan_table
from core.data.windowing import training_input_rows, windows
from core.job_config import DataConfig


@dataclass
class PreparedData:
    X_train: np.ndarray  # float32 (samples, timesteps, features)
    y_train: np.ndarray  # binary float32 0/1, multiclass int32 indices, regression float32 (n,) or (n, o)
    X_val: np.ndarray
    y_val: np.ndarray
    spec: dict  # resolve_spec(...) plus "scaler": {"kind", and its per-feature statistics}
    # Tables only: the scaled float32 (rows, features) matrix X_train and X_val are strided views
    # of; sample i reads rows [i, i + window). Trainers gather batches of windows from it.
    rows: np.ndarray | None = None
    window: int = 1


def prepare_arrays(path: Path, fmt: str, data: DataConfig, task: str) -> PreparedData:
    resolved = resolve(path, fmt, data, task)
    spec = resolved.spec
    train = spec["train_samples"]
    if resolved.X is not None:
        X = resolved.X
        # NPZ windows may overlap; every (sample, timestep) row of the training part counts.
        scaler = fit_scaler(data.scale, X[:train].reshape(-1, X.shape[2]))
        X = apply_scaler(scaler, X)
    else:
        names = spec["features"]
        scan = scan_table(path, fmt, max_bytes=ACCEPTED, numbers=frozenset(names))
        rows = np.column_stack([scan.values[n] for n in names])
        # Fitted on exactly the rows training inputs read, each counted once however many
        # windows read it: the last training windows share rows with validation inputs, never
        # with validation targets (see windowing).
        scaler = fit_scaler(data.scale, rows[training_input_rows(train, data.window)])
        scaled = apply_scaler(scaler, rows)
        del rows, scan  # the float64 copies: only the scaled float32 rows are trained on
        X = windows(scaled, data.window, spec["samples"])
        y = resolved.targets.y
        return PreparedData(
            X[:train], y[:train], X[train:], y[train:], {**spec, "scaler": scaler}, rows=scaled, window=data.window
        )
    y = resolved.targets.y
    return PreparedData(X[:train], y[:train], X[train:], y[train:], {**spec, "scaler": scaler})
