"""Hosts for the fleet test: Linux network namespaces joined by a bridge, made and removed by
the test itself (it needs root, or CAP_NET_ADMIN + CAP_SYS_ADMIN, and iproute2).

The bridge lives in a "switch" namespace of its own, so the machine's own network is never
touched: every address below exists only inside this run's namespaces, and deleting them
deletes every interface. Names carry a random token, so two runs never meet.

The test process itself talks to the hosts from a thread that joined the "client" host's
namespace (``setns``): every socket that thread opens is on the test network.
"""
from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
SUBNET = "10.77.0"


class NamespacesUnavailable(Exception):
    """This machine (or container) does not let us make network namespaces."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Host:
    name: str
    netns: str
    address: str
    directory: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def spawn(self, argv: list[str], env: dict[str, str], log_name: str, hostname: str | None = None
              ) -> subprocess.Popen:
        """Runs ``argv`` on this host (its own network namespace and, with ``hostname``, its own
        host name), in a process group of its own so that the host can be "powered off"."""
        prefix = ["ip", "netns", "exec", self.netns]
        if hostname:
            # A UTS namespace per host: Celery names workers after the machine, as on real hosts.
            prefix += ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
        log = open(self.directory / log_name, "ab")
        try:
            process = subprocess.Popen(prefix + argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=self.directory)
        finally:
            log.close()
        self.processes.append(process)
        return process

    def power_off(self) -> None:
        """SIGKILL to everything running on the host: a machine that vanished mid-job."""
        for process in self.processes:
            _kill_group(process, signal.SIGKILL)
        for pid in _netns_pids(self.netns):
            _kill_pid(pid, signal.SIGKILL)
        for process in self.processes:
            process.wait(timeout=30)

    def stop(self, grace_s: float = 20.0) -> None:
        for process in self.processes:
            _kill_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process, signal.SIGKILL)
                process.wait(timeout=30)


class Fleet:
    """A switch and any number of hosts on ``10.77.0.0/24``; a context manager that always cleans up."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.token = secrets.token_hex(3)
        self.switch = f"ldf-{self.token}-sw"
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self._client_pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Fleet:
        if os.geteuid() != 0:
            raise NamespacesUnavailable("not running as root")
        if not shutil.which("ip") or not shutil.which("unshare"):
            raise NamespacesUnavailable("iproute2 ('ip') or util-linux ('unshare') is not installed")
        try:
            self._add_netns(self.switch)
        except subprocess.CalledProcessError as exc:
            raise NamespacesUnavailable(f"`ip netns add` failed: {exc.stderr.strip()}") from None
        try:
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 2
        netns = f"ldf-{self.token}-{name}"
        self._add_netns(netns)
        # One veth pair: eth0 in the host, its peer plugged into the switch's bridge.
        _ip("link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name", f"p{index}", "netns", self.switch)
        _ip("-n", self.switch, "link", "set", f"p{index}", "master", "br0", "up")
        address = f"{SUBNET}.{index}"
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        directory = self.base_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        host = Host(name, netns, address, directory)
        self.hosts[name] = host
        return host

    def client(self, host: Host) -> ThreadPoolExecutor:
        """One thread living in ``host``'s network namespace; run network calls through it."""
        if self._client_pool is None:
            path = f"/var/run/netns/{host.netns}"

            def enter() -> None:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(path, os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns failed")
                finally:
                    os.close(fd)

            self._client_pool = ThreadPoolExecutor(max_workers=1, initializer=enter)
        return self._client_pool

    def close(self) -> None:
        if self._client_pool is not None:
            self._client_pool.shutdown(wait=True, cancel_futures=True)
        for host in self.hosts.values():
            host.stop(grace_s=5)
        for netns in reversed(self._namespaces):
            for pid in _netns_pids(netns):
                _kill_pid(pid, signal.SIGKILL)
            _ip("netns", "del", netns, check=False)
        self._namespaces.clear()


def _netns_pids(netns: str) -> list[int]:
    result = _ip("netns", "pids", netns, check=False)
    return [int(p) for p in result.stdout.split() if p.isdigit()]


def _kill_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _kill_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
