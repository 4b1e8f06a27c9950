"""Celery task definitions. Keras loads in the pool child (on its start), never in the parent."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Iterator

from celery import signals

from core.blobs import open_blob_cache
from core.broker import PREDICT_TASK, TRAIN_TASK
from core.datasets import DatasetStore
from core.jobs import JobStore
from core.lifecycle import Lifecycle
from core.predictions import PredictionStore
from core.redis_client import WORKER_RETRY_S, connect, required_url, worker_client
from core.trained_models import ModelStore
from worker.celery_app import app, settings


@contextlib.contextmanager
def _native_stderr_silenced(enabled: bool) -> Iterator[None]:
    """TensorFlow's C++ start-up notes (oneDNN, "no CUDA drivers") go straight to file
    descriptor 2, before TF_CPP_MIN_LOG_LEVEL is read; muted while TensorFlow loads, unless
    debugging. Python exceptions still propagate."""
    if not enabled:
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _exit_when_orphaned(every_s: float = 1.0) -> None:
    """A training process must not outlive its worker: if the worker's main process dies (even by
    SIGKILL, which lets it stop nothing), this process exits within a second instead of training
    on for nobody. Its job's lease lapses and the reaper requeues it."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(every_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


@signals.worker_process_init.connect
def _warm_up(**_: object) -> None:
    _exit_when_orphaned()
    # Import Keras/TensorFlow once per training process, before the first job, so each job
    # pays only for its own work.
    with _native_stderr_silenced(settings.log_level.upper() != "DEBUG"):
        from worker import devices

        devices.prepare()
        devices.gpu_names()  # the first device query prints CUDA notes of its own


@functools.cache
def _runner(hostname: str):
    from worker.runner import JobRunner

    client = worker_client(required_url(settings), settings.heartbeat_ttl_s)
    lifecycle = Lifecycle(client, heartbeat_ttl_s=settings.heartbeat_ttl_s)
    return JobRunner(
        settings,
        JobStore(client),
        lifecycle,
        DatasetStore(client),
        open_blob_cache(settings),
        hostname,
    )


@app.task(name=TRAIN_TASK, bind=True)
def train(self, tenant: str, job_id: str) -> None:
    _runner(self.request.hostname or "worker").run(tenant, job_id)


@functools.cache
def _predictor():
    from worker.predictor import Predictor

    client = connect(required_url(settings), decode_responses=True, retry_s=WORKER_RETRY_S)
    return Predictor(PredictionStore(client), ModelStore(client), open_blob_cache(settings))


@app.task(name=PREDICT_TASK)
def predict(tenant: str, prediction_id: str) -> None:
    _predictor().run(tenant, prediction_id)
