"""`lstm-doctor serve` as a small supervisor: it starts the embedded Redis, a worker and the API as
child processes, and stops them all, in order, on SIGTERM (systemd, Docker, Kubernetes), SIGINT
(Ctrl-C) or SIGHUP (the terminal closed), or when one of them exits on its own.

Each child also dies with the supervisor if it is killed outright (SIGKILL gives it no chance
to clean up): the kernel signals a child whose parent died (``PR_SET_PDEATHSIG``), and the worker's
training processes watch their own parent (``worker.tasks``). Children run in sessions of their
own, so a Ctrl-C reaches the supervisor only and the stop order stays ours: API first (no new
work), then the worker (its job is redelivered, late acks), then Redis (it flushes its AOF).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from core.processes import die_with_parent, stop_process_group

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    stop: Callable[[subprocess.Popen], None]


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    stopping: int | None = None

    def start(
        self,
        name: str,
        command: list[str],
        *,
        parent_death_signal: int = signal.SIGTERM,
        stop: Callable[[subprocess.Popen], None] = stop_process_group,
        **popen: object,
    ) -> subprocess.Popen:
        process = subprocess.Popen(
            command, start_new_session=True, preexec_fn=die_with_parent(parent_death_signal), **popen
        )  # type: ignore[call-overload]
        self.children.append(Child(name, process, stop))
        return process

    def adopt(self, name: str, process: subprocess.Popen, stop: Callable[[subprocess.Popen], None]) -> None:
        self.children.append(Child(name, process, stop))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = signum

    def trap(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def wait(self) -> int:
        """Until a stop signal or a child's exit; returns the exit status ``serve`` should have."""
        while self.stopping is None:
            for child in self.children:
                if child.process.poll() is not None:
                    print(
                        f"lstm-doctor: {child.name} exited with {child.process.returncode}; stopping everything",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.2)
        return 0

    def stop_all(self) -> None:
        # A second signal while stopping must not cut the stop short (and leave children behind).
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        for child in reversed(self.children):
            child.stop(child.process)
