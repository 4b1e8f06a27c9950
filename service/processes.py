"""Starting and stopping the service's child processes: the Celery worker command line that
`lstm-doctor serve|worker` run (and the tests and benchmarks start the same way), and a
process-group stop that leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
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


def stop_process_group(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    try:
        # TERM: Celery's warm shutdown; then cold. A job cut off is redelivered (late acks).
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
