"""Turning time-ordered rows into (window, features) samples, and the time-ordered split.

Sample i uses feature rows [i, i + window) and its target is the target at row
i + window - 1 + horizon. The validation part is the last samples, never shuffled.

Why there is no gap between the parts: with T training samples, training inputs use rows
< T + window - 1 and training targets rows < T + window - 1 + horizon, while the first
validation target is row T + window - 1 + horizon. So no validation target row is ever a
training input or a training target; the two parts only share input rows (the last training
windows overlap the first validation windows), which is the past a forecaster legitimately
sees. Scalers are fitted on the rows training inputs use, [0, T + window - 1).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def count_samples(rows: int, window: int, horizon: int) -> int:
    return max(rows - window - horizon + 1, 0)


def split_sizes(samples: int, validation_split: float) -> tuple[int, int]:
    """(train, val) exactly as Keras' `validation_split` cuts: train = int(n * (1 - split))."""
    train = int(samples * (1.0 - validation_split))
    return train, samples - train


def target_rows(window: int, horizon: int, samples: int) -> slice:
    first = window - 1 + horizon
    return slice(first, first + samples)


def training_input_rows(train_samples: int, window: int) -> slice:
    """The rows training samples read their inputs from: what a scaler may be fitted on."""
    return slice(0, train_samples + window - 1)


def windows(features: np.ndarray, window: int, samples: int) -> np.ndarray:
    """(rows, features) -> (samples, window, features) as a read-only strided view of `features`.

    Never a copy: windows overlap, so a copy costs `window` times the table (a 100 MiB table
    windowed 1000 deep would ask for ~100 GB). Training gathers one batch of windows at a time
    from the rows (worker.fast_input), so memory stays O(rows × features)."""
    view = sliding_window_view(features, window, axis=0)  # (rows - window + 1, features, window)
    return view[:samples].transpose(0, 2, 1)
