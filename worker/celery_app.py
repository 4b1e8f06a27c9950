"""The worker's Celery app (``celery -A worker.celery_app worker``).

Importing this module must stay cheap and TensorFlow-free: it runs in the pool's parent
process, and TensorFlow is loaded once per training child, on its first job.
"""
from __future__ import annotations

import redis
from celery import signals

from core.jobs import JobStore
from core.logging import configure as configure_logging
from core.queue import enqueue, make_celery
from core.settings import Settings
from worker import presence, reaper

settings = Settings()
if not settings.redis_url:
    raise SystemExit("LSTM_DOCTOR_REDIS_URL is not set: the worker needs the Redis the API uses.")
configure_logging(settings.log_level)
app = make_celery(settings, settings.redis_url)
app.conf.imports = ("worker.tasks",)


@signals.worker_ready.connect
def _announce(sender, **_: object) -> None:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    jobs = JobStore(client)

    def sweep() -> int:
        return reaper.reap(jobs, settings.max_redeliveries,
                           lambda tenant, job_id, device: enqueue(app, client, tenant, job_id, device))

    queues = [q.name for q in sender.app.amqp.queues.consume_from.values()]
    presence.start(settings, sender.hostname, queues, on_beat=sweep)


@signals.worker_shutdown.connect
def _retire(sender, **_: object) -> None:
    presence.stop()
