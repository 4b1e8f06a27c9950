"""The Celery worker command line that `lstm-doctor serve|worker` run (and the tests and
benchmarks start the same way). Stopping it: ``core.processes``."""

from __future__ import annotations

import sys

from core.settings import Settings


def worker_command(settings: Settings, name: str = "worker") -> list[str]:
    from core.broker import PREDICT_QUEUE  # Celery is imported only when a worker is started

    return [
        sys.executable,
        "-m",
        "celery",
        "--quiet",
        "-A",
        "worker.celery_app",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(settings.worker_concurrency),
        "--queues",
        f"{settings.worker_queues},{PREDICT_QUEUE}",
        "--hostname",
        f"{name}@%h",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
