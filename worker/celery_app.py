"""The worker's Celery app (``celery -A worker.celery_app worker``).

Importing this module must stay cheap and TensorFlow-free: it runs in the pool's parent
process, and TensorFlow is loaded once per training child, on its first job.
"""
from __future__ import annotations

from celery import signals

from core.logging import configure as configure_logging
from core.queue import make_celery
from core.settings import Settings
from worker import presence

settings = Settings()
if not settings.redis_url:
    raise SystemExit("LSTM_DOCTOR_REDIS_URL is not set: the worker needs the Redis the API uses.")
configure_logging(settings.log_level)
app = make_celery(settings, settings.redis_url)
app.conf.imports = ("worker.tasks",)


@signals.worker_ready.connect
def _announce(sender, **_: object) -> None:
    presence.start(settings, sender.hostname, queues=[q.name for q in sender.app.amqp.queues.consume_from.values()])


@signals.worker_shutdown.connect
def _retire(sender, **_: object) -> None:
    presence.stop()
