"""Finds running jobs whose training process vanished (no heartbeat) and re-queues them, or,
past the redelivery cap, fails them with ``worker_lost`` — so no job stays `running` forever.

Celery redelivers a task whose pool child died (``task_reject_on_worker_lost``), but when a
whole worker machine disappears its unacknowledged message only comes back after the broker's
visibility timeout (hours). The reaper closes that gap; any worker may run it, and the
compare-and-set status transitions make concurrent reapers harmless.
"""

from __future__ import annotations

from collections.abc import Callable

from core.ids import now
from core.jobs import JobStore
from core.logging import get_logger

log = get_logger("worker.reaper")


def reap(jobs: JobStore, max_redeliveries: int, send: Callable[[str, str, str], object]) -> int:
    """One sweep; ``send(tenant, job_id, device)`` re-enqueues. Returns how many jobs it handled."""
    handled = 0
    for tenant, job_id in jobs.running():
        if jobs.heartbeat_owner(tenant, job_id) is not None:
            continue
        job = jobs.get(tenant, job_id)
        if job is None or job["status"] != "running":
            jobs.forget_running(tenant, job_id)
            continue
        attempts = int(job.get("attempts") or 0)
        if attempts > max_redeliveries:
            error = {
                "type": "worker_lost",
                "message": f"the worker training this job was lost {attempts} times; giving up",
            }
            if jobs.transition(tenant, job_id, ("running",), "failed", finished_at=now(), error=error):
                jobs.publish(tenant, job_id, "status", {"status": "failed", "error": error})
                log.warning("job_worker_lost", job_id=job_id, tenant=tenant, attempts=attempts)
        elif jobs.transition(tenant, job_id, ("running",), "queued", progress=None, device=None):
            jobs.reset_history(tenant, job_id, job["config"]["training"]["repeats"])
            jobs.publish(tenant, job_id, "status", {"status": "queued"})
            send(tenant, job_id, job["config"]["device"])
            log.warning("job_requeued", job_id=job_id, tenant=tenant, attempts=attempts)
        handled += 1
    return handled
