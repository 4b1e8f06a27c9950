"""The learning problems the corpus is trained on: synthetic ones and real series.

Every task is cut as DIAGNOSIS-TRUTH.md says: samples in time order, **train 64 % |
validation 16 % | test 20 %**. Validation is the block right after the training data (what
Keras' ``validation_split`` gives); the test block comes last and is never shown to the
engine: the truth labels are read from it. Series are standardised on the training block
only, as the service does (``raw`` keeps what is needed to undo it for raw-unit runs).

The real series ship inside ``statsmodels`` (no download): yearly sunspots, monthly El Niño
sea temperature, Mauna Loa CO₂, US quarterly unemployment and inflation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAIN, VALIDATION = 0.64, 0.16


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # binary_classification | multiclass_classification | regression
    source: str  # synthetic | real
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    # How to undo the standard scaling of a series task: runs trained on raw units are the
    # classic way to get huge or non-finite losses.
    raw_mean: float = 0.0
    raw_std: float = 1.0

    @property
    def classes(self) -> int:
        return int(self.y_train.max()) + 1 if self.kind == "multiclass_classification" else 1


def time_split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(x)
    a, b = int(round(n * TRAIN)), int(round(n * (TRAIN + VALIDATION)))
    return x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:]


def _windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([series[i : i + window] for i in range(len(series) - window)])
    return x[..., None].astype("float32"), series[window:].astype("float32")


def _series_task(name: str, series: np.ndarray, window: int, source: str = "real") -> Task:
    series = np.asarray(series, dtype=float)
    n_windows = len(series) - window
    # The training block's targets end at this index; scaling sees nothing after it.
    train_end = window + int(round(n_windows * TRAIN))
    mean, std = float(series[:train_end].mean()), float(series[:train_end].std())
    x, y = _windows((series - mean) / std, window)
    return Task(name, "regression", source, *time_split(x, y), raw_mean=mean, raw_std=std)


def _classification(name: str, kind: str, x: np.ndarray, y: np.ndarray, source: str = "synthetic") -> Task:
    return Task(name, kind, source, *time_split(x.astype("float32"), y.astype("float32")))


# --- synthetic -----------------------------------------------------------------------------

def binary_sums(seed: int = 1000) -> Task:
    """Label = sign of (late sum of one feature + half an early sum of the other), 10 % flipped."""
    rng = np.random.default_rng(seed)
    n, steps = 800, 16
    x = rng.normal(size=(n, steps, 2))
    y = (x[:, -5:, 0].sum(axis=1) + 0.5 * x[:, :5, 1].sum(axis=1) > 0).astype(float)
    flip = rng.random(n) < 0.10
    y[flip] = 1 - y[flip]
    return _classification("binary_sums", "binary_classification", x, y)


def binary_order(seed: int = 1003) -> Task:
    """Does the sequence's peak come before its trough? Noisy bumps, 8 % flipped labels."""
    rng = np.random.default_rng(seed)
    n, steps = 800, 20
    t = np.arange(steps)
    peak, trough = rng.integers(2, steps - 2, size=(2, n))
    bump = lambda at: np.exp(-0.5 * ((t[None, :] - at[:, None]) / 1.5) ** 2)  # noqa: E731
    x = 1.5 * bump(peak) - 1.5 * bump(trough) + rng.normal(scale=0.6, size=(n, steps))
    y = (peak < trough).astype(float)
    flip = rng.random(n) < 0.08
    y[flip] = 1 - y[flip]
    return _classification("binary_order", "binary_classification", x[..., None], y)


def multiclass_waves(seed: int = 1001) -> Task:
    """Which of three close frequencies a noisy sine has, with 10 % wrong labels."""
    rng = np.random.default_rng(seed)
    n, steps = 800, 20
    classes = rng.integers(0, 3, size=n)
    freq = np.array([0.10, 0.16, 0.22])[classes]
    phase = rng.uniform(0, 2 * np.pi, size=n)
    t = np.arange(steps)
    x = np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None]) + rng.normal(scale=0.9, size=(n, steps))
    y = classes.copy()
    wrong = rng.random(n) < 0.10
    y[wrong] = rng.integers(0, 3, size=wrong.sum())
    return _classification("multiclass_waves", "multiclass_classification", x[..., None], y)


def multiclass_shapes(seed: int = 1004) -> Task:
    """Five wave shapes (sine, square, sawtooth, triangle, random steps) under heavy noise."""
    rng = np.random.default_rng(seed)
    n, steps = 800, 24
    t = np.arange(steps)[None, :] / 8.0 + rng.uniform(0, 1, size=(n, 1))
    classes = rng.integers(0, 5, size=n)
    frac = t % 1.0
    shapes = np.stack([
        np.sin(2 * np.pi * t),
        np.sign(np.sin(2 * np.pi * t)),
        2 * frac - 1,
        4 * np.abs(frac - 0.5) - 1,
        np.repeat(rng.choice([-1.0, 1.0], size=(n, steps // 4)), 4, axis=1),
    ])
    x = shapes[classes, np.arange(n)] + rng.normal(scale=1.0, size=(n, steps))
    return _classification("multiclass_shapes", "multiclass_classification", x[..., None], classes)


def count_peaks(seed: int = 1005) -> Task:
    """How many spikes (0–8) a noisy sequence holds: nine classes, counting across time."""
    rng = np.random.default_rng(seed)
    n, steps = 900, 30
    classes = rng.integers(0, 9, size=n)
    x = rng.normal(scale=0.45, size=(n, steps))
    for i, k in enumerate(classes):
        x[i, rng.choice(steps, size=k, replace=False)] += rng.uniform(1.5, 2.5, size=k)
    return _classification("count_peaks", "multiclass_classification", x[..., None], classes)


def regression_nlar(seed: int = 1002) -> Task:
    """One-step forecast of a noisy non-linear autoregressive series."""
    rng = np.random.default_rng(seed)
    n = 1000
    s = np.zeros(n)
    noise = rng.normal(scale=0.35, size=n)
    for t in range(6, n):
        s[t] = 0.55 * s[t - 1] - 0.35 * s[t - 2] + 0.9 * np.tanh(2.5 * s[t - 5]) * np.cos(s[t - 3]) + noise[t]
    return _series_task("regression_nlar", s[100:], window=12, source="synthetic")


def mackey_glass(seed: int = 1006) -> Task:
    """Chaotic Mackey–Glass series (tau 17), sampled every 3 steps, with observation noise."""
    rng = np.random.default_rng(seed)
    tau, n = 17, 3300
    s = np.full(n + tau, 1.2)
    for t in range(tau, n + tau - 1):
        s[t + 1] = s[t] + 0.2 * s[t - tau] / (1 + s[t - tau] ** 10) - 0.1 * s[t]
    s = s[300::3] + rng.normal(scale=0.04, size=len(s[300::3]))
    return _series_task("mackey_glass", s, window=16, source="synthetic")


# --- real series (statsmodels) ----------------------------------------------------------------

def _datasets():
    import statsmodels.api as sm

    return sm.datasets


def sunspots() -> Task:
    """Yearly sunspot numbers 1700–2008, forecast one year ahead."""
    return _series_task("sunspots", _datasets().sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(float), window=12)


def _elnino_series() -> np.ndarray:
    return _datasets().elnino.load_pandas().data.drop(columns="YEAR").to_numpy(float).ravel()


def elnino() -> Task:
    """Monthly Pacific sea-surface temperature 1950–2010, one month ahead."""
    return _series_task("elnino", _elnino_series(), window=12)


def elnino_warm() -> Task:
    """Binary: is next month warmer than the training years' mean for its calendar month?"""
    series = _elnino_series()
    window = 12
    n_windows = len(series) - window
    train_end = window + int(round(n_windows * TRAIN))
    months = np.arange(len(series)) % 12
    normal = np.array([series[:train_end][months[:train_end] == m].mean() for m in range(12)])
    anomaly = series - normal[months]
    scale = anomaly[:train_end].std()
    x = np.stack([anomaly[i : i + window] / scale for i in range(n_windows)])
    y = (anomaly[window:] > 0).astype(float)
    return _classification("elnino_warm", "binary_classification", x[..., None], y, source="real")


def co2() -> Task:
    """Monthly change of Mauna Loa CO₂ (weekly readings 1958–2001 averaged), one month ahead."""
    weekly = _datasets().co2.load_pandas().data["co2"].interpolate()
    monthly = weekly.resample("MS").mean().to_numpy(float)
    return _series_task("co2", np.diff(monthly), window=12)


def _macro(column: str) -> np.ndarray:
    return _datasets().macrodata.load_pandas().data[column].to_numpy(float)


def macro_unemp() -> Task:
    """US quarterly unemployment rate 1959–2009, one quarter ahead."""
    return _series_task("macro_unemp", _macro("unemp"), window=8)


def macro_infl() -> Task:
    """US quarterly inflation 1959–2009, one quarter ahead."""
    return _series_task("macro_infl", _macro("infl"), window=8)


TASKS = {
    "binary_sums": binary_sums,
    "binary_order": binary_order,
    "elnino_warm": elnino_warm,
    "multiclass_waves": multiclass_waves,
    "multiclass_shapes": multiclass_shapes,
    "count_peaks": count_peaks,
    "regression_nlar": regression_nlar,
    "mackey_glass": mackey_glass,
    "sunspots": sunspots,
    "elnino": elnino,
    "co2": co2,
    "macro_unemp": macro_unemp,
    "macro_infl": macro_infl,
}
