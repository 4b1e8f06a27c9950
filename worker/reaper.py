"""Housekeeping any worker runs every heartbeat, so no job waits or runs forever:

- **reap**: a running job whose lease lapsed (its trainer vanished, or was cut off from Redis)
  is requeued, or, past the redelivery cap, failed with ``worker_lost``. Celery redelivers a task
  whose pool child died (``task_reject_on_worker_lost``), but when a whole worker machine
  disappears its unacknowledged message only comes back after the broker's visibility timeout
  (hours); the reaper closes that gap.
- **send the outbox**: a queued job whose message is in no queue (the send failed, the message
  was lost, a trainer took it but could not claim) is sent again; one that could not be sent for
  ``enqueue_give_up_s`` fails with ``not_enqueued``, releasing its dataset and quota slot.

Each change is a fenced transition in ``core.lifecycle``, so reapers racing each other (or a
trainer) change a job at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from core.job_record import JobStatus
from core.jobs import JobStore
from core.lifecycle import NOT_SENT, Lifecycle, worker_lost
from core.logging import get_logger

log = get_logger("worker.reaper")

Send = Callable[[str, str, str], object]  # (tenant, job_id, device) → sends the job's message


def reap(jobs: JobStore, lifecycle: Lifecycle, max_redeliveries: int) -> int:
    """One sweep over running jobs. Returns how many it moved on. The requeued ones are sent by
    the outbox sweep (``send_outbox``), which the same housekeeping tick runs next."""
    handled = 0
    for tenant, job_id in jobs.running():
        if jobs.heartbeat_owner(tenant, job_id) is not None:
            continue
        job = jobs.get(tenant, job_id)
        if job is None or job.status != JobStatus.RUNNING:
            lifecycle.forget_running(tenant, job_id)
            continue
        if job.attempts > max_redeliveries:
            if lifecycle.give_up(tenant, job, worker_lost(job.attempts)):
                log.warning("job_worker_lost", job_id=job_id, tenant=tenant, attempts=job.attempts)
                handled += 1
        elif lifecycle.requeue(
            tenant,
            job,
            reason=(
                f"requeued: the worker training attempt {job.attempts} was lost "
                f"({max_redeliveries + 1 - job.attempts} more tries before it fails)"
            ),
        ):
            log.warning("job_requeued", job_id=job_id, tenant=tenant, attempts=job.attempts)
            handled += 1
    return handled


def send_outbox(
    jobs: JobStore,
    lifecycle: Lifecycle,
    send: Send,
    is_waiting: Callable[[str], bool],
    *,
    recheck_s: float,
    give_up_s: float,
    limit: int = 100,
) -> int:
    """One sweep over queued jobs due for a look. ``is_waiting(job_id)`` says whether a queue
    (or a trainer's unacknowledged delivery) holds its message. Returns how many it sent."""
    sent = 0
    for tenant, job_id in lifecycle.due_outbox(limit, recheck_s):
        job = jobs.get(tenant, job_id)
        if job is None or job.status != JobStatus.QUEUED:
            lifecycle.forget_outbox(tenant, job_id)
            continue
        if is_waiting(job_id):
            continue
        try:
            send(tenant, job_id, job.config["device"])
            if job.reason == NOT_SENT:
                lifecycle.sent(tenant, job, recheck_s)
            sent += 1
            log.info("job_sent_from_outbox", job_id=job_id, tenant=tenant)
        except Exception as exc:  # noqa: BLE001 - any broker trouble: try again later, up to the bound
            waited = time.time() - _timestamp(job.queued_at or job.created_at)
            if waited > give_up_s:
                error = {
                    "type": "not_enqueued",
                    "message": (
                        f"the job could not be handed to a worker queue for {int(waited)} s: {type(exc).__name__}"
                    ),
                }
                if lifecycle.give_up(tenant, job, error):
                    log.error("job_not_enqueued", job_id=job_id, tenant=tenant, error=type(exc).__name__)
            else:
                log.warning("job_send_failed", job_id=job_id, tenant=tenant, error=type(exc).__name__)
    return sent


def _timestamp(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
