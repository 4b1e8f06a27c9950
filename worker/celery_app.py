"""The worker's Celery app (``celery -A worker.celery_app worker``).

Importing this module must stay cheap and TensorFlow-free: it runs in the pool's parent
process, and TensorFlow is loaded once per training child, on its first job.
"""

from __future__ import annotations

import os

# TensorFlow's C++ start-up chatter (oneDNN notes, missing CUDA on CPU machines) is not ours to
# print; quiet logs by default, as everywhere else. Set before any child imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from celery import signals  # noqa: E402

from core.broker import (  # noqa: E402
    enqueue,
    make_celery,
    message_waiting,  # noqa: E402
)
from core.jobs import JobStore  # noqa: E402
from core.lifecycle import Lifecycle  # noqa: E402
from core.logging import configure as configure_logging  # noqa: E402
from core.redis_client import required_url, worker_client  # noqa: E402
from core.settings import Settings  # noqa: E402
from worker import presence, reaper  # noqa: E402
from worker.webhook_dispatcher import Dispatcher  # noqa: E402

settings = Settings()
if not settings.redis_url:
    raise SystemExit("LSTM_DOCTOR_REDIS_URL is not set: the worker needs the Redis the API uses.")
configure_logging(settings.log_level)
app = make_celery(settings, settings.redis_url)
app.conf.imports = ("worker.tasks",)


@signals.worker_ready.connect
def _announce(sender, **_: object) -> None:
    client = worker_client(required_url(settings), settings.heartbeat_ttl_s)
    jobs, lifecycle = JobStore(client), Lifecycle(client, heartbeat_ttl_s=settings.heartbeat_ttl_s)

    def sweep() -> None:
        reaper.reap(jobs, lifecycle, settings.max_redeliveries)
        reaper.send_outbox(
            jobs,
            lifecycle,
            lambda tenant, job_id, device: enqueue(app, client, tenant, job_id, device),
            lambda job_id: message_waiting(client, job_id),
            recheck_s=settings.heartbeat_s * 6,
            give_up_s=settings.enqueue_give_up_s,
        )

    queues = [q.name for q in sender.app.amqp.queues.consume_from.values()]
    presence.start(settings, client, sender.hostname, queues, on_beat=sweep)
    # Webhooks go out from this (main) process, so a delivery never waits for a training slot.
    _dispatcher.append(Dispatcher(settings, client))
    _dispatcher[0].start()


_dispatcher: list[Dispatcher] = []


@signals.worker_shutdown.connect
def _retire(sender, **_: object) -> None:
    presence.stop()
    for dispatcher in _dispatcher:
        dispatcher.stop()
