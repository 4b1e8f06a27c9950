"""Runs one job from start to end in the training process: claims it, trains every run,
records the diagnosis, and leaves the job in exactly one final state."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import keras
from celery.exceptions import SoftTimeLimitExceeded

from core.blobs import BlobCache, BlobCorrupt, BlobNotFound, BlobStoreUnavailable
from core.blobs import keys as blob_keys
from core.data import DatasetError, prepare_arrays
from core.datasets import DatasetStore
from core.ids import now
from core.job_config import JobConfig, run_seeds
from core.jobs import JobStore
from core.logging import get_logger
from core.settings import Settings
from core.trained_models import ModelStore
from diagnosis.baseline import baseline_loss
from diagnosis.engine import diagnose
from worker import devices
from worker.callbacks import EpochRecorder, MemoryBudgetExceeded, MemoryGuard, StopWhen, rss_bytes
from worker.data_checks import resolve_and_check
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


@dataclass
class JobRunner:
    settings: Settings
    jobs: JobStore
    datasets: DatasetStore
    blobs: BlobCache
    models: ModelStore
    hostname: str

    def run(self, tenant: str, job_id: str) -> None:
        began = time.monotonic()  # as near the task's start (the soft limit's clock) as we get
        job = self.jobs.get(tenant, job_id)
        if job is None or job["status"] not in ("queued", "running"):
            return  # deleted, or cancelled before it started: a cancelled job never starts
        config = JobConfig.model_validate(job["config"])
        attempts = int(job.get("attempts") or 0)
        if job["status"] == "running":
            # Delivered again: either its trainer died (Celery requeues a task whose pool child
            # was killed) or this is a duplicate of a delivery another process is still training.
            owner = self.jobs.heartbeat_owner(tenant, job_id)
            if owner is not None and not self._is_dead(owner):
                log.info("job_duplicate_delivery_skipped", job_id=job_id, owner=owner)
                return
            if attempts > self.settings.max_redeliveries:
                self._finish(
                    tenant,
                    job_id,
                    "failed",
                    error={
                        "type": "worker_lost",
                        "message": (f"the worker training this job was lost {attempts} times; giving up"),
                    },
                )
                return
            self.jobs.reset_history(tenant, job_id, config.training.repeats)
        # Beat before claiming, so the reaper never sees a running job without a heartbeat.
        self.jobs.heartbeat(tenant, job_id, self.settings.heartbeat_ttl_s, self.owner)
        started = self.jobs.transition(
            tenant,
            job_id,
            ("queued", "running"),
            "running",
            started_at=now(),
            attempts=attempts + 1,
            device=devices.describe(self.hostname),
        )
        if started is None:
            return
        self.jobs.publish(tenant, job_id, "status", {"status": "running"})
        log.info("job_started", job_id=job_id, tenant=tenant, attempt=attempts + 1)

        alive = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(tenant, job_id, alive), daemon=True)
        beat.start()
        try:
            self._train(tenant, job_id, config)
        except SoftTimeLimitExceeded:
            self._finish(tenant, job_id, "failed", error=self._time_limit_error())
        except JobFailed as exc:
            self._finish(tenant, job_id, "failed", error={"type": exc.kind, "message": str(exc)})
        except MemoryBudgetExceeded as exc:
            log.warning("job_over_memory_budget", job_id=job_id, tenant=tenant, message=str(exc))
            self._finish(tenant, job_id, "failed", error={"type": "resource_limit", "message": str(exc)})
        except Exception as exc:  # the client gets the kind and message; the trace stays in our log
            if time.monotonic() - began >= self.settings.job_soft_time_limit_s - _LIMIT_SLACK_S:
                # Celery raises the soft limit asynchronously; landing inside TensorFlow's graph
                # tracing it surfaces as some other error (TypeError, AttributeError, ...).
                log.warning("job_time_limit_in_native_code", job_id=job_id, error=repr(exc)[:200])
                self._finish(tenant, job_id, "failed", error=self._time_limit_error())
                return
            log.exception("job_crashed", job_id=job_id, tenant=tenant)
            self._finish(tenant, job_id, "failed", error={"type": type(exc).__name__, "message": str(exc)[:500]})
        finally:
            alive.set()
            self.datasets.remove_user(tenant, config.dataset_id, job_id)
            # Keras keeps every model built in its global graph state; without this a warm worker grows.
            keras.backend.clear_session(free_memory=True)

    def _time_limit_error(self) -> dict[str, str]:
        return {
            "type": "time_limit",
            "message": f"the job ran past the {self.settings.job_soft_time_limit_s} s time limit",
        }

    def _train(self, tenant: str, job_id: str, config: JobConfig) -> None:
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
        # The data checks run here, before the first epoch, not at submit: submit resolves the
        # config from the profile stored at upload and reads no file (issue 13).
        _, data_findings = resolve_and_check(path, meta["format"], config)
        self.jobs.update(tenant, job_id, data_spec=prepared.spec, baseline_loss=baseline, data_findings=data_findings)

        runs, epochs = config.training.repeats, config.training.epochs
        seeds = run_seeds(config.training.seed, runs)
        histories: list[dict[str, list[float]]] = []
        health: list[list[dict]] = []
        stopped: list[dict] = []
        for run, seed in enumerate(seeds, start=1):
            stopper = StopWhen(lambda: self.jobs.cancel_requested(tenant, job_id))
            recorder = EpochRecorder(self._epoch_writer(tenant, job_id, run, runs, epochs))
            keeper = KeepWeights(config.training.keep)
            monitor = self._health_monitor(tenant, job_id, run, config, prepared)
            histories.append(fit_run(config, prepared, seed, [recorder, stopper, keeper, guard], health=monitor))
            if stopper.stopped:
                self._finish(tenant, job_id, "cancelled")
                return
            health.append(monitor.records if monitor is not None else [])
            if monitor is not None and monitor.stopped is not None:
                # Recorded on the job as it happens: the reader learns why a run ended early.
                stopped.append({"run": run, **monitor.stopped})
                self.jobs.update(tenant, job_id, stopped=stopped)
            record = save_model(
                self.blobs.store,
                keeper.model,
                keeper,
                tenant=tenant,
                job_id=job_id,
                run=run,
                seed=seed,
                task=config.task,
                spec=prepared.spec,
            )
            self.models.save(tenant, job_id, run, record)
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
        self.jobs.set_diagnosis(tenant, job_id, diagnosis)
        self._finish(tenant, job_id, "succeeded", verdict=diagnosis["verdict"])

    def _health_monitor(self, tenant: str, job_id: str, run: int, config: JobConfig, prepared) -> HealthMonitor | None:
        if not self.settings.health_every_steps:
            return None

        def write(epoch: int, record: dict) -> None:
            self.jobs.append_health(tenant, job_id, run, record)

        return HealthMonitor(
            config.task,
            prepared.X_train,
            prepared.y_train,
            stop_on=config.training.stop_on,
            on_record=write,
            every_steps=self.settings.health_every_steps,
        )

    def _epoch_writer(self, tenant: str, job_id: str, run: int, runs: int, epochs: int):
        def write(epoch: int, metrics: dict[str, float | None]) -> None:
            self.jobs.append_epoch(tenant, job_id, run, metrics)
            progress = {
                "run": run,
                "runs": runs,
                "epoch": epoch,
                "epochs": epochs,
                "fraction": round(((run - 1) * epochs + epoch) / (runs * epochs), 4),
            }
            self.jobs.update(tenant, job_id, progress=progress)
            self.jobs.publish(tenant, job_id, "epoch", {"run": run, "epoch": epoch, "metrics": metrics})
            log.info(
                "epoch",
                job_id=job_id,
                run=run,
                epoch=epoch,
                epochs=epochs,
                loss=metrics.get("loss"),
                val_loss=metrics.get("val_loss"),
            )

        return write

    @property
    def owner(self) -> str:
        return f"{self.hostname}:{os.getpid()}"

    def _is_dead(self, owner: str) -> bool:
        """Whether a heartbeat's owner no longer trains the job: a process of this worker that
        no longer exists, or this very process (it is idle, or it would not be running this task).

        Another worker's process cannot be checked from here; its heartbeat expiring is the sign.
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

    def _heartbeat(self, tenant: str, job_id: str, done: threading.Event) -> None:
        ttl = self.settings.heartbeat_ttl_s
        while not done.is_set():
            try:
                self.jobs.heartbeat(tenant, job_id, ttl, self.owner)
            except Exception:  # noqa: BLE001 - a missed beat is the reaper's business, not a crash
                log.warning("heartbeat_failed", job_id=job_id)
            done.wait(self.settings.heartbeat_s)

    def _finish(self, tenant: str, job_id: str, status: str, **fields: object) -> None:
        if self.jobs.transition(tenant, job_id, ("queued", "running"), status, finished_at=now(), **fields):
            self.jobs.publish(tenant, job_id, "status", {"status": status, **fields})
            log.info("job_finished", job_id=job_id, tenant=tenant, status=status)
