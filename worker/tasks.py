"""Celery task definitions. Keras loads in the pool child (on its start), never in the parent."""
from __future__ import annotations

import functools

import redis
from celery import signals

from core.blobs import BlobStore
from core.datasets import DatasetStore
from core.jobs import JobStore
from core.queue import TRAIN_TASK
from worker.celery_app import app, settings


@signals.worker_process_init.connect
def _warm_up(**_: object) -> None:
    # Import Keras/TensorFlow once per training process, before the first job, so each job
    # pays only for its own work.
    from worker import devices

    devices.prepare()


@functools.cache
def _runner(hostname: str):
    from worker.runner import JobRunner

    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    return JobRunner(settings, JobStore(client), DatasetStore(client), BlobStore(settings.blob_dir), hostname)


@app.task(name=TRAIN_TASK, bind=True)
def train(self, tenant: str, job_id: str) -> None:
    _runner(self.request.hostname or "worker").run(tenant, job_id)
