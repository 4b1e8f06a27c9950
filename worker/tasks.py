"""Celery task definitions. Keras loads in the pool child (on its start), never in the parent."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

from celery import signals

from core.blobs import open_blob_cache
from core.broker import PREDICT_TASK, TRAIN_TASK
from core.datasets import DatasetStore
from core.jobs import JobStore
from core.predictions import PredictionStore
from core.redis_client import WORKER_RETRY_S, connect, required_url
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


@signals.worker_process_init.connect
def _warm_up(**_: object) -> None:
    # Import Keras/TensorFlow once per training process, before the first job, so each job
    # pays only for its own work.
    with _native_stderr_silenced(settings.log_level.upper() != "DEBUG"):
        from worker import devices

        devices.prepare()
        devices.gpu_names()  # the first device query prints CUDA notes of its own


@functools.cache
def _runner(hostname: str):
    from worker.runner import JobRunner

    client = connect(required_url(settings), decode_responses=True, retry_s=WORKER_RETRY_S)
    return JobRunner(
        settings, JobStore(client), DatasetStore(client), open_blob_cache(settings), ModelStore(client), hostname
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
