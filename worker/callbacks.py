"""Keras callbacks that connect a running fit to Redis: every epoch recorded and announced as it
ends, and cancellation between batches.

Like Keras' own RemoteMonitor, a monitoring callback never crashes the training it watches:
a Redis hiccup is logged and training goes on.
"""

from __future__ import annotations

import math
import os
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


def rss_bytes() -> int:
    """This process' resident memory now (Linux /proc; elsewhere the peak, which only errs high)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MemoryBudgetExceeded(Exception):
    """The job grew past its memory budget: it fails with ``resource_limit`` instead of growing
    until the kernel's OOM killer takes the worker (which Celery would redeliver, again and again)."""


class MemoryGuard(keras.callbacks.Callback):
    """Raises MemoryBudgetExceeded once the process has grown by more than ``budget_bytes`` since
    ``baseline`` (the RSS when the job started). Checked every ``interval_s`` between batches."""

    def __init__(
        self, budget_bytes: int, baseline: int, interval_s: float = 0.25, measure: Callable[[], int] = rss_bytes
    ) -> None:
        super().__init__()
        self.budget_bytes = budget_bytes
        self.baseline = baseline
        self.interval_s = interval_s
        self.measure = measure
        self._last = 0.0

    def check(self) -> None:
        grown = self.measure() - self.baseline
        if grown > self.budget_bytes:
            raise MemoryBudgetExceeded(
                f"the job used {grown / 2**20:,.0f} MiB, past its budget of {self.budget_bytes / 2**20:,.0f} MiB "
                "(LSTM_DOCTOR_MAX_JOB_MEMORY_MB): use a smaller batch_size, model or dataset"
            )

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self.check()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.check()
