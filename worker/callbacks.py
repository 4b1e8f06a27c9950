"""Keras callbacks that connect a running fit to Redis: every epoch recorded and announced as it
ends, and cancellation between batches.

Like Keras' own RemoteMonitor, a monitoring callback never crashes the training it watches:
a Redis hiccup is logged and training goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
import redis

from core.logging import get_logger

log = get_logger("worker.callbacks")


def clean_logs(logs: dict[str, float] | None) -> dict[str, float | None]:
    """Keras logs as JSON-safe floats; NaN/inf become None (the history's way of saying NaN)."""
    out: dict[str, float | None] = {}
    for name, value in (logs or {}).items():
        number = float(value)
        out[name] = number if math.isfinite(number) else None
    return out


class EpochRecorder(keras.callbacks.Callback):
    """Hands every finished epoch's metrics to ``on_epoch`` (which writes Redis and publishes)."""

    def __init__(self, on_epoch: Callable[[int, dict[str, float | None]], None]) -> None:
        super().__init__()
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        metrics = clean_logs(logs)
        try:
            self.on_epoch(epoch + 1, metrics)
        except redis.RedisError as exc:
            log.warning("epoch_not_recorded", epoch=epoch + 1, error=str(exc))
        if metrics.get("loss") is None:
            # A NaN loss never recovers; the epoch is recorded (the diagnosis reads it) and we stop.
            self.model.stop_training = True


class StopWhen(keras.callbacks.Callback):
    """Stops training at the next batch boundary once ``should_stop()`` says so.

    Polled at most every ``interval_s`` so tiny batches do not turn into a Redis round trip each.
    """

    def __init__(self, should_stop: Callable[[], bool], interval_s: float = 0.25) -> None:
        super().__init__()
        self.should_stop = should_stop
        self.interval_s = interval_s
        self.stopped = False
        self._last = 0.0

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        try:
            if self.should_stop():
                self.stopped = True
                self.model.stop_training = True
        except redis.RedisError as exc:
            log.warning("cancel_check_failed", error=str(exc))
