"""Starting and stopping the service's child processes: the Celery worker command line that
`lstm-doctor serve|worker` run (and the tests and benchmarks start the same way), and a
process-group stop that leaves nothing behind."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from core.settings import Settings

PR_SET_PDEATHSIG = 1


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


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``sig`` when the process that started it dies.

    Linux only; elsewhere it does nothing and the supervisor's own stop is the only one.
    """
    parent = os.getpid()

    def arm() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return arm
