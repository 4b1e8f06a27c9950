"""The learning problems the corpus is trained on: three synthetic ones and two real series.

Every task returns train / validation / test blocks. The test block is never shown to the
engine: it is what the truth labels are read from. Validation and test are drawn the same
way (random for i.i.d. tasks, interleaved time chunks for series), so a model that
generalises worse on one generalises worse on the other, and labels are about the model,
not about a shift between the two blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # binary_classification | multiclass_classification | regression
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    # How to undo the standard scaling of a series task: runs trained on raw units are the
    # classic way to get NaN losses.
    raw_mean: float = 0.0
    raw_std: float = 1.0


def _random_split(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_train: int, n_val: int):
    order = rng.permutation(len(x))
    train, val, test = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    return x[train], y[train], x[val], y[val], x[test], y[test]


def _windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([series[i : i + window] for i in range(len(series) - window)])
    return x[..., None], series[window:]


def _chunked_split(series: np.ndarray, window: int, chunk: int):
    """Train/val/test windows from interleaved time chunks (3 train, 1 val, 1 test, repeated).

    Where the block changes, the first ``window`` samples of the chunk are dropped, so no
    window's inputs reach into the targets of a chunk that belongs to another block.
    """
    x, y = _windows(series, window)
    blocks = {"train": [], "val": [], "test": []}
    pattern = ("train", "train", "val", "train", "test")
    previous = None
    for start in range(0, len(x), chunk):
        block = pattern[(start // chunk) % len(pattern)]
        gap = window if previous not in (None, block) else 0
        blocks[block].extend(range(start + gap, min(start + chunk, len(x))))
        previous = block
    parts = [np.array(blocks[b]) for b in ("train", "val", "test")]
    return tuple(a for idx in parts for a in (x[idx], y[idx]))


def _standardise(series: np.ndarray, fit_part: np.ndarray) -> np.ndarray:
    return (series - fit_part.mean()) / fit_part.std()


def binary_sums(seed: int = 1000) -> Task:
    """Label = sign of (late sum of one feature + half an early sum of the other), 10 % flipped.

    The model must carry the early evidence across the sequence; the flipped labels are what
    a big model memorises when it overfits.
    """
    rng = np.random.default_rng(seed)
    n, steps = 850, 16
    x = rng.normal(size=(n, steps, 2)).astype("float32")
    score = x[:, -5:, 0].sum(axis=1) + 0.5 * x[:, :5, 1].sum(axis=1)
    y = (score > 0).astype("float32")
    flip = rng.random(n) < 0.10
    y[flip] = 1 - y[flip]
    return Task("binary_sums", "binary_classification", *_random_split(x, y, rng, 400, 150))


def multiclass_waves(seed: int = 1001) -> Task:
    """Which of three close frequencies a noisy sine has, with 10 % wrong labels."""
    rng = np.random.default_rng(seed)
    n, steps = 850, 20
    classes = rng.integers(0, 3, size=n)
    freq = np.array([0.10, 0.16, 0.22])[classes]
    phase = rng.uniform(0, 2 * np.pi, size=n)
    t = np.arange(steps)
    signal = np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None])
    x = (signal + rng.normal(scale=0.9, size=(n, steps)))[..., None].astype("float32")
    y = classes.copy()
    wrong = rng.random(n) < 0.10
    y[wrong] = rng.integers(0, 3, size=wrong.sum())
    return Task("multiclass_waves", "multiclass_classification", *_random_split(x, y.astype("float32"), rng, 400, 150))


def regression_nlar(seed: int = 1002) -> Task:
    """One-step forecast of a noisy non-linear autoregressive series."""
    rng = np.random.default_rng(seed)
    n = 1000
    s = np.zeros(n)
    noise = rng.normal(scale=0.35, size=n)
    for t in range(6, n):
        s[t] = 0.55 * s[t - 1] - 0.35 * s[t - 2] + 0.9 * np.tanh(2.5 * s[t - 5]) * np.cos(s[t - 3]) + noise[t]
    s = s[100:].astype("float32")
    return _series_task("regression_nlar", s, window=12, chunk=60)


def _series_task(name: str, series: np.ndarray, window: int, chunk: int) -> Task:
    raw = _chunked_split(series.astype("float32"), window, chunk)
    # Scale on the training block only, as the service does.
    fit_part = raw[1]
    scaled = _chunked_split(_standardise(series, fit_part).astype("float32"), window, chunk)
    return Task(name, "regression", *scaled, raw_mean=float(fit_part.mean()), raw_std=float(fit_part.std()))


def _statsmodels_series(name: str) -> np.ndarray:
    import statsmodels.api as sm

    if name == "sunspots":
        return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(float)
    if name == "elnino":
        table = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR")
        return table.to_numpy(float).ravel()
    raise ValueError(name)


def sunspots() -> Task:
    """Yearly sunspot numbers 1700–2008 (statsmodels), forecast one year ahead."""
    return _series_task("sunspots", _statsmodels_series("sunspots"), window=12, chunk=30)


def elnino() -> Task:
    """Monthly Pacific sea-surface temperature 1950–2010 (statsmodels), one month ahead."""
    return _series_task("elnino", _statsmodels_series("elnino"), window=12, chunk=48)


TASKS = {
    "binary_sums": binary_sums,
    "multiclass_waves": multiclass_waves,
    "regression_nlar": regression_nlar,
    "sunspots": sunspots,
    "elnino": elnino,
}
