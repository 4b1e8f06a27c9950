"""Runs one job from start to end in the training process: claims it, trains every run,
records the diagnosis, and leaves the job in exactly one final state — or, when this attempt
lost the job (fenced) or could not reach Redis to record its end, leaves it to whoever owns it
now (a newer attempt, or the reaper once the lease lapses)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import redis
from celery.exceptions import SoftTimeLimitExceeded

from core.blobs import BlobCache, BlobCorrupt, BlobNotFound, BlobStoreUnavailable
from core.blobs import keys as blob_keys
from core.data import DatasetError, prepare_arrays
from core.datasets import DatasetStore
from core.job_config import JobConfig, run_seeds
from core.job_record import JobStatus
from core.jobs import JobStore
from core.lifecycle import Claim, Fenced, Lifecycle, worker_lost
from core.logging import get_logger
from core.settings import Settings
from diagnosis.baseline import baseline_loss
from diagnosis.engine import diagnose
from worker import devices
from worker.callbacks import EpochRecorder, MemoryBudgetExceeded, MemoryGuard, StopWhen, rss_bytes
from worker.data_checks import check_data
from worker.health import HealthMonitor
from worker.model_export import KeepWeights, save_model
from worker.training import fit_run

log = get_logger("worker.runner")
# Room over a job's memory budget for what the framework itself allocates per model (traced
# functions, allocator caches), which the cost estimate does not count.
JOB_MEMORY_SLACK_BYTES = 256 * 2**20
# The soft limit's clock starts with the task, a moment before ``run``'s own.
_LIMIT_SLACK_S = 0.25


class JobFailed(Exception):
    """A failure the client should read about: ``kind`` becomes the job's error type."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class HistoryNotRecorded(Exception):
    """Epochs could not be stored within the lease: the attempt ends unrecorded and the reaper
    requeues the job, rather than finishing with a history that disagrees with its result."""


@dataclass
class _Unstored:
    """One run's records kept here until Redis has them: a failed write is retried with the next
    record (and at the end of the run), never dropped, and never stored twice (each is stored by
    its index)."""

    lifecycle: Lifecycle
    claim: Claim
    run: int
    entries: list[dict[str, Any]] = field(default_factory=list, kw_only=True)
    stored: int = field(default=0, kw_only=True)
    what = "record(s)"  # in the message when they could not be stored

    def _write(self, start: int, entries: list[dict[str, Any]]) -> int:
        """Stores ``entries`` from index ``start`` (1-based); returns how many Redis holds now."""
        raise NotImplementedError

    def flush(self) -> None:
        """Raises ``Fenced`` when the attempt lost the job, a RedisError when Redis is away."""
        while self.stored < len(self.entries):
            stored = self._write(self.stored + 1, self.entries[self.stored :])
            # Below start - 1: Redis lost some (restarted from an older file); resend from there.
            self.stored = min(stored, len(self.entries))

    def flush_within(self, seconds: float) -> None:
        _retry_within(self.flush, seconds, lambda: f"{len(self.entries) - self.stored} {self.what} of run {self.run}")


@dataclass
class EpochLog(_Unstored):
    """One run's epochs, with the job's progress stored alongside."""

    runs: int
    epochs: int
    what = "epoch(s)"

    def add(self, epoch: int, metrics: dict[str, float | None]) -> None:
        self.entries.append(metrics)
        try:
            self.flush()
        except redis.RedisError as exc:
            log.warning(
                "epoch_write_deferred",
                job_id=self.claim.job_id,
                run=self.run,
                epoch=epoch,
                pending=len(self.entries) - self.stored,
                error=type(exc).__name__,
            )
        # Progress at INFO about ten times a run (first, every tenth, last); every epoch at DEBUG.
        every = max(1, self.epochs // 10)
        shown = epoch in (1, self.epochs) or epoch % every == 0
        (log.info if shown else log.debug)(
            "epoch",
            job_id=self.claim.job_id,
            run=self.run,
            epoch=epoch,
            epochs=self.epochs,
            loss=metrics.get("loss"),
            val_loss=metrics.get("val_loss"),
        )

    def _write(self, start: int, entries: list[dict[str, Any]]) -> int:
        return self.lifecycle.append_epochs(self.claim, self.run, start, entries, self._progress(len(self.entries)))

    def _progress(self, epoch: int) -> dict[str, Any]:
        done = (self.run - 1) * self.epochs + epoch
        return {
            "run": self.run,
            "runs": self.runs,
            "epoch": epoch,
            "epochs": self.epochs,
            "fraction": round(done / (self.runs * self.epochs), 4),
        }


@dataclass
class HealthLog(_Unstored):
    """One run's health records (``worker.health``): the monitor logs a failed write and goes on;
    the record waits here."""

    what = "health record(s)"

    def add(self, epoch: int, record: dict[str, Any]) -> None:
        self.entries.append(record)
        self.flush()

    def _write(self, start: int, entries: list[dict[str, Any]]) -> int:
        return self.lifecycle.append_health(self.claim, self.run, start, entries)


def _retry_within(flush: Callable[[], None], seconds: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            flush()
            return
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise HistoryNotRecorded(f"{what()} could not be stored: {type(exc).__name__}") from exc
            time.sleep(0.5)


class Lease(threading.Thread):
    """Renews the attempt's lease every ``every_s``; ``lost`` is set once it cannot be renewed
    (it lapsed, or the job moved on), and training stops at the next batch."""

    def __init__(self, lifecycle: Lifecycle, claim: Claim, every_s: float) -> None:
        super().__init__(name="lease", daemon=True)
        self.lifecycle, self.claim, self.every_s = lifecycle, claim, every_s
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            try:
                if not self.lifecycle.renew(self.claim):
                    log.warning("lease_lost", job_id=self.claim.job_id, attempt=self.claim.token)
                    self.lost.set()
                    return
            except Exception as exc:  # noqa: BLE001 - a missed renewal is the lease's business, not a crash
                log.warning("lease_renew_failed", job_id=self.claim.job_id, error=type(exc).__name__)


@dataclass
class JobRunner:
    settings: Settings
    jobs: JobStore
    lifecycle: Lifecycle
    datasets: DatasetStore
    blobs: BlobCache
    hostname: str

    def run(self, tenant: str, job_id: str) -> None:
        began = time.monotonic()  # as near the task's start (the soft limit's clock) as we get
        try:
            claim, config = self._claim(tenant, job_id)
        except redis.RedisError as exc:
            # The job is still queued and in the outbox: it is sent again once Redis answers.
            log.warning("job_claim_failed", job_id=job_id, tenant=tenant, error=type(exc).__name__)
            return
        if claim is None or config is None:
            return
        log.info("job_started", job_id=job_id, tenant=tenant, attempt=claim.token)
        lease = Lease(self.lifecycle, claim, self.settings.heartbeat_s)
        lease.start()
        try:
            self._end(claim, *self._outcome(claim, config, lease, began))
        finally:
            lease.done.set()
            # Keras keeps every model built in its global graph state; without this a warm worker grows.
            keras.backend.clear_session(free_memory=True)

    def _claim(self, tenant: str, job_id: str) -> tuple[Claim | None, JobConfig | None]:
        job = self.jobs.get(tenant, job_id)
        if job is None or not job.status.active:
            return None, None  # deleted, finished, or cancelled before it started: it never starts
        if job.status == JobStatus.RUNNING:
            # Delivered again: either its trainer died (Celery requeues a task whose pool child
            # was killed) or this is a duplicate of a delivery another process is still training.
            owner = self.jobs.heartbeat_owner(tenant, job_id)
            if owner is not None and not self._is_dead(owner):
                log.info("job_duplicate_delivery_skipped", job_id=job_id, owner=owner)
                return None, None
            if job.attempts > self.settings.max_redeliveries:
                self.lifecycle.give_up(tenant, job, worker_lost(job.attempts))
                return None, None
        claim = self.lifecycle.claim(tenant, job, self.owner, devices.describe(self.hostname))
        if claim is None:
            log.info("job_not_claimed", job_id=job_id, tenant=tenant)
            return None, None
        return claim, JobConfig.model_validate(job.config)

    def _outcome(
        self, claim: Claim, config: JobConfig, lease: Lease, began: float
    ) -> tuple[JobStatus | None, dict[str, Any]]:
        """What to record: (status, fields), or (None, …) when this attempt must record nothing."""
        try:
            return self._train(claim, config, lease)
        except Fenced as exc:
            log.warning("job_fenced", job_id=claim.job_id, attempt=claim.token, detail=str(exc))
        except (HistoryNotRecorded, redis.RedisError) as exc:
            log.error("attempt_unrecorded", job_id=claim.job_id, attempt=claim.token, error=str(exc))
        except SoftTimeLimitExceeded:
            return JobStatus.FAILED, {"error": self._time_limit_error()}
        except JobFailed as exc:
            return JobStatus.FAILED, {"error": {"type": exc.kind, "message": str(exc)}}
        except MemoryBudgetExceeded as exc:
            log.warning("job_over_memory_budget", job_id=claim.job_id, tenant=claim.tenant, message=str(exc))
            return JobStatus.FAILED, {"error": {"type": "resource_limit", "message": str(exc)}}
        except Exception as exc:  # the client gets the kind and message; the trace stays in our log
            if time.monotonic() - began >= self.settings.job_soft_time_limit_s - _LIMIT_SLACK_S:
                # Celery raises the soft limit asynchronously; landing inside TensorFlow's graph
                # tracing it surfaces as some other error (TypeError, AttributeError, ...).
                log.warning("job_time_limit_in_native_code", job_id=claim.job_id, error=repr(exc)[:200])
                return JobStatus.FAILED, {"error": self._time_limit_error()}
            log.exception("job_crashed", job_id=claim.job_id, tenant=claim.tenant)
            return JobStatus.FAILED, {"error": {"type": type(exc).__name__, "message": str(exc)[:500]}}
        return None, {}

    def _time_limit_error(self) -> dict[str, str]:
        return {
            "type": "time_limit",
            "message": f"the job ran past the {self.settings.job_soft_time_limit_s} s time limit",
        }

    def _train(self, claim: Claim, config: JobConfig, lease: Lease) -> tuple[JobStatus | None, dict[str, Any]]:
        tenant, job_id = claim.tenant, claim.job_id
        guard = MemoryGuard(self.settings.max_job_memory_mb * 2**20 + JOB_MEMORY_SLACK_BYTES, rss_bytes())
        meta = self.datasets.get(tenant, config.dataset_id)
        if meta is None:
            raise JobFailed("dataset_missing", f"dataset {config.dataset_id} no longer exists")
        try:
            # Streamed down from the blob store once per worker machine, then read from its cache.
            path = self.blobs.file(blob_keys.dataset(tenant, meta["id"]), meta["sha256"])
        except BlobNotFound:
            raise JobFailed(
                "dataset_missing", f"the bytes of dataset {config.dataset_id} are gone from the blob store"
            ) from None
        except BlobCorrupt as exc:
            raise JobFailed("invalid_dataset", str(exc)) from None
        except BlobStoreUnavailable as exc:
            raise JobFailed("blob_store_unavailable", str(exc)) from None
        try:
            prepared = prepare_arrays(path, meta["format"], config.data, config.task)
        except DatasetError as exc:
            raise JobFailed("invalid_dataset", exc.detail) from exc
        guard.check()
        baseline = baseline_loss(config.task, prepared.y_train, prepared.y_val)
        # Submit checked what the upload sketch could decide; the file settles the rest here,
        # before the first epoch (worker/data_checks.py).
        job = self.jobs.get(tenant, job_id)
        data_findings = check_data(path, meta["format"], config, job.data_findings if job is not None else None)
        self.lifecycle.annotate(claim, data_spec=prepared.spec, baseline_loss=baseline, data_findings=data_findings)

        runs, epochs = config.training.repeats, config.training.epochs
        seeds = run_seeds(config.training.seed, runs)
        histories: list[dict[str, list[float]]] = []
        health: list[list[dict]] = []
        stopped: list[dict] = []
        for run, seed in enumerate(seeds, start=1):
            cancelled = StopWhen(lambda: self.jobs.cancel_requested(tenant, job_id))
            cut_off = StopWhen(lease.lost.is_set, interval_s=0.0)
            epoch_log = EpochLog(self.lifecycle, claim, run, runs, epochs)
            health_log = HealthLog(self.lifecycle, claim, run)
            keeper = KeepWeights(config.training.keep)
            monitor = self._health_monitor(config, prepared, health_log)
            callbacks = [EpochRecorder(epoch_log.add), cancelled, cut_off, keeper, guard]
            histories.append(fit_run(config, prepared, seed, callbacks, health=monitor))
            if lease.lost.is_set():
                raise Fenced("the lease lapsed during training")
            # Every epoch stored before the result is: the history always agrees with the verdict.
            epoch_log.flush_within(self.settings.heartbeat_ttl_s)
            health_log.flush_within(self.settings.heartbeat_ttl_s)
            if cancelled.stopped:
                return JobStatus.CANCELLED, {}
            health.append(monitor.records if monitor is not None else [])
            if monitor is not None and monitor.stopped is not None:
                # Recorded on the job as it happens: the reader learns why a run ended early.
                stopped.append({"run": run, **monitor.stopped})
                self.lifecycle.annotate(claim, stopped=stopped)
            record = save_model(
                self.blobs.store,
                keeper.model,
                keeper,
                tenant=tenant,
                job_id=job_id,
                run=run,
                attempt=claim.token,
                seed=seed,
                task=config.task,
                spec=prepared.spec,
            )
            try:
                self.lifecycle.save_model(claim, run, record)
            except Fenced:
                # This attempt lost the job (requeued, cancelled, deleted): its file is nobody's.
                self.blobs.store.delete(record["blob"])
                raise
        diagnosis = diagnose(
            histories,
            task=config.task,
            baseline_loss=baseline,
            final=True,
            seeds=seeds,
            config=config.model_dump(),
            data_findings=data_findings,
            health=health,
            stop_on=config.training.stop_on,
        )
        return JobStatus.SUCCEEDED, {"diagnosis": diagnosis, "verdict": diagnosis["verdict"]}

    def _health_monitor(self, config: JobConfig, prepared: Any, records: HealthLog) -> HealthMonitor | None:
        if not self.settings.health_every_steps:
            return None
        return HealthMonitor(
            config.task,
            prepared.X_train,
            prepared.y_train,
            stop_on=config.training.stop_on,
            on_record=records.add,
            every_steps=self.settings.health_every_steps,
        )

    def _end(self, claim: Claim, status: JobStatus | None, fields: dict[str, Any]) -> None:
        if status is None:
            return
        try:
            self.lifecycle.finish(claim, status, **fields)
        except Fenced:
            log.warning("job_result_fenced", job_id=claim.job_id, attempt=claim.token, status=status)
            return
        except redis.RedisError as exc:
            # Loud, and not lost: the lease lapses, the reaper requeues, a new attempt trains again.
            log.error(
                "job_result_unrecorded",
                job_id=claim.job_id,
                attempt=claim.token,
                status=status,
                error=type(exc).__name__,
            )
            return
        log.info("job_finished", job_id=claim.job_id, tenant=claim.tenant, status=status)

    @property
    def owner(self) -> str:
        return f"{self.hostname}:{os.getpid()}"

    def _is_dead(self, owner: str) -> bool:
        """Whether a lease's owner no longer trains the job: a process of this worker that
        no longer exists, or this very process (it is idle, or it would not be running this task).

        Another worker's process cannot be checked from here; its lease lapsing is the sign.
        """
        host, _, pid = owner.rpartition(":")
        if host != self.hostname or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return int(pid) == os.getpid()
