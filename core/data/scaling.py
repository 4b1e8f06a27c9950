"""Per-feature scalers, fitted on training rows only and stored as plain JSON statistics."""

from __future__ import annotations

import numpy as np


def fit_scaler(kind: str, rows: np.ndarray) -> dict:
    """`rows`: (n, features) of training data only. The statistics are stored as measured."""
    if kind == "none":
        return {"kind": "none"}
    rows = rows.astype(np.float64, copy=False)
    if kind == "standard":
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        return {"kind": "standard", "mean": mean.tolist(), "std": std.tolist()}
    if kind == "minmax":
        lo, hi = rows.min(axis=0), rows.max(axis=0)
        return {"kind": "minmax", "min": lo.tolist(), "max": hi.tolist()}
    raise ValueError(f"unknown scale {kind!r}")


def apply_scaler(scaler: dict, values: np.ndarray) -> np.ndarray:
    """Scale the last axis (features) of `values`; returns float32. A feature constant over the
    training rows gets a unit divisor, so it stays finite (0 on training rows)."""
    kind = scaler["kind"]
    if kind == "none":
        return values.astype(np.float32)
    if kind == "standard":
        shift, divisor = np.array(scaler["mean"]), np.array(scaler["std"])
    else:
        shift, divisor = np.array(scaler["min"]), np.array(scaler["max"]) - np.array(scaler["min"])
    divisor = np.where(divisor > 0, divisor, 1.0)
    return ((values - shift) / divisor).astype(np.float32)
