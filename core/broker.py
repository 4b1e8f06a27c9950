"""The Celery application both sides share: the API sends by task name, the worker runs it.

Configured for long, expensive tasks (Celery's own advice): acks after the task finishes so a
vanished worker's job is redelivered, one message prefetched at a time, and a broker visibility
timeout longer than any job may run so a slow job is not handed to a second worker.
"""

from __future__ import annotations

import redis
from celery import Celery

from core import worker_registry
from core.redis_client import HEALTH_CHECK_S, celery_connection
from core.settings import Settings

TRAIN_TASK = "lstm_doctor.train"
PREDICT_TASK = "lstm_doctor.predict"
# A broker that does not answer fails a send within seconds (the job waits in the outbox and is
# sent again) instead of holding a request through kombu's default retry schedule.
_PUBLISH_BOUNDS = {
    "retry": True,
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
}
QUEUES = ("gpu", "cpu")
# Short tasks every worker takes besides its training queues, so a prediction does not wait behind
# queued training jobs (only behind the job a worker is training, if any).
PREDICT_QUEUE = "predict"


def make_celery(settings: Settings, redis_url: str) -> Celery:
    url, sentinel_options = celery_connection(redis_url)
    app = Celery("lstm_doctor", broker=url, backend=url)
    hard_limit = settings.job_soft_time_limit_s + 60
    # Connection hardening for a Redis broker that may fail over (Celery/kombu issue tracker
    # advice): TCP keepalive and a periodic health check so a dead master is noticed in seconds,
    # bounded connect/read timeouts so nothing waits forever on a half-open socket.
    hardening = {
        "socket_keepalive": True,
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "retry_on_timeout": True,
        "health_check_interval": HEALTH_CHECK_S,
    }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # TensorFlow keeps ~10 MiB of traced functions per fitted model however the session is
        # cleared (keras-team/keras#17458); replacing the training process once it has grown
        # bounds the worker's memory at the cost of one TensorFlow import every few dozen jobs.
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024 or None,
        # A pool child imports TensorFlow before it reports up; Celery's 4 s default kills it
        # mid-import on a busy machine, over and over.
        worker_proc_alive_timeout=180,
        task_soft_time_limit=settings.job_soft_time_limit_s,
        task_time_limit=hard_limit,
        broker_transport_options={"visibility_timeout": hard_limit + 300, **sentinel_options, **hardening},
        result_backend_transport_options={**sentinel_options, **hardening},
        redis_socket_keepalive=True,
        redis_socket_connect_timeout=5,
        redis_socket_timeout=30,
        redis_retry_on_timeout=True,
        redis_backend_health_check_interval=HEALTH_CHECK_S,
        # A lost broker connection (a failover) must not lose the consumer: reconnect forever,
        # also after channel errors, and keep training what is running — its message is
        # unacknowledged, so it may come back once more; the job record's fencing skips it.
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_channel_error_retry=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Our job records live under our own keys; Celery's results would only duplicate them.
        task_ignore_result=True,
        task_default_queue="cpu",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
    )
    return app


def enqueue_prediction(app: Celery, tenant: str, prediction_id: str) -> None:
    app.send_task(PREDICT_TASK, args=[tenant, prediction_id], queue=PREDICT_QUEUE)


def enqueue(app: Celery, client: redis.Redis, tenant: str, job_id: str, device: str) -> str:
    """Sends a job to the queue its ``device`` setting routes to; returns that queue."""
    queue = worker_registry.route(device, worker_registry.online(client))
    app.send_task(TRAIN_TASK, args=[tenant, job_id], queue=queue, **_PUBLISH_BOUNDS)
    return queue


# Kombu's Redis transport keeps each queue as a list under the queue's name. Message headers carry
# the task's arguments in plain text ("argsrepr"), so a job id is found in its message as a substring.
def message_waiting(client: redis.Redis, job_id: str) -> bool:
    """Whether a queue still holds a message for the job.

    Deliveries a worker holds unacknowledged do not count: that worker may be the one whose
    trainer lost the job (a requeued job must be sent again at once), or busy with another job (a
    second message lets an idle worker take it; the duplicate is skipped). O(queue length): read
    by the outbox sweep for jobs due a look, not per request.
    """
    return any(job_id in message for queue in QUEUES for message in client.lrange(queue, 0, -1))
