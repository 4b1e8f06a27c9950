"""Numbers read off one per-epoch curve: its smoothed shape, trend, noise and best point.

Validation curves from small validation sets jump from epoch to epoch; every quantity the
verdict rests on is read from a smoothed curve, and noise is measured so a rise can be told
from a wobble.
"""

from __future__ import annotations

import numpy as np


def smoothing_window(epochs: int) -> int:
    """About a tenth of the run, odd, 1–7 epochs: long runs get steadier, short runs stay sharp."""
    return int(min(7, max(1, round(epochs / 10)) | 1))


def smooth(values: np.ndarray) -> np.ndarray:
    """A running median of 3 (drops lone spikes) then a centred running mean that shrinks at the ends."""
    n = len(values)
    if n < 5:
        return values.astype(float).copy()
    padded = np.concatenate([values[:1], values, values[-1:]])
    median = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    half = smoothing_window(n) // 2
    if half == 0:
        return median
    cumulative = np.concatenate([[0.0], np.cumsum(median)])
    idx = np.arange(n)
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, n)
    # The last points average only what lies behind them, so the end of the curve is not
    # pulled back towards its past more than the window needs.
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def tail_length(epochs: int) -> int:
    """The final window trends are read over: the last quarter of the run, 2–20 epochs."""
    return int(min(20, max(2, round(epochs / 4))))


def slope(values: np.ndarray) -> float:
    """Least-squares change per epoch."""
    if len(values) < 2:
        return 0.0
    x = np.arange(len(values), dtype=float)
    return float(np.polyfit(x, values, 1)[0])


def noise(values: np.ndarray, smoothed: np.ndarray) -> float:
    """Typical epoch-to-epoch wobble around the smoothed curve (robust: median absolute residual)."""
    if len(values) < 5:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - smoothed)))


def projected_fall(smoothed: np.ndarray, tail: int) -> float:
    """How much further the curve would fall if trained on, read from its last two windows.

    A converging curve falls by a shrinking amount each window; if the last window fell
    ``q`` times as much as the one before, the rest of a geometric series is
    ``last · q / (1 − q)``. ``q`` is capped at 0.9 so a straight line (or a curve that only
    began to fall) projects a large but finite remainder.
    """
    if len(smoothed) <= tail:
        return 0.0
    end, middle = smoothed[-1], smoothed[-tail - 1]
    last = middle - end
    if last <= 0:
        return 0.0
    start = max(0, len(smoothed) - 2 * tail - 1)
    previous = smoothed[start] - middle if start < len(smoothed) - tail - 1 else 0.0
    ratio = min(last / previous, 0.9) if previous > 0 else 0.9
    return float(last * ratio / (1 - ratio))
