"""The data sets and job configs the benchmarks train on, as CSV bytes and API job bodies."""
from __future__ import annotations

import numpy as np

CLASSIC_ROWS = 1000
LARGER_ROWS = 20_032  # 20 000 windows of 32 rows predicting one row ahead


def classic_csv(seed: int = 0, rows: int = CLASSIC_ROWS) -> bytes:
    """The classic example: x uniform in [0, 1), label = x > 0.5."""
    x = np.random.default_rng(seed).random(rows)
    return _csv({"x": x, "label": (x > 0.5).astype(int)})


def classic_job(dataset_id: str, **training) -> dict:
    """Every default of API.md is the classic recipe: LSTM(5), 50 epochs, batch 32, 20 % validation."""
    return {"dataset_id": dataset_id, "data": {"target": "label"}, "training": training}


def larger_csv(seed: int = 0, rows: int = LARGER_ROWS) -> bytes:
    """Three noisy seasonal series; the target mixes two of them, so a window of 32 can predict it."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    columns = {f"s{period}": np.sin(2 * np.pi * t / period) + 0.1 * rng.standard_normal(rows) for period in (50, 130, 365)}
    columns["target"] = columns["s50"] + 0.5 * columns["s130"] + 0.1 * rng.standard_normal(rows)
    return _csv(columns)


def larger_job(dataset_id: str, epochs: int) -> dict:
    return {
        "dataset_id": dataset_id,
        "task": "regression",
        "data": {"target": "target", "window": 32, "horizon": 1},
        "model": {"layers": [{"units": 64}, {"units": 64}]},
        "training": {"epochs": epochs},
    }


def _csv(columns: dict[str, np.ndarray]) -> bytes:
    header = ",".join(columns)
    rows = np.column_stack(list(columns.values()))
    lines = [header, *(",".join(f"{v:.6g}" for v in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode()
