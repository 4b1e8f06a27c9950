"""Fault suite, part 1: `lstm-doctor serve` stopped the ways operators and machines stop it.
SIGTERM (systemd, Docker, Kubernetes) and SIGHUP (a closed terminal) stop everything it started;
SIGKILL gives it no chance, and its children still die with it. Real processes, walked with psutil.
(Ctrl-C, SIGINT, is in test_cli.py.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.embedded_redis import free_port
from tests.helpers import wait_until_answering

BIN = os.path.join(os.path.dirname(sys.executable), "lstm-doctor")


ROOT = Path(__file__).resolve().parents[1]


def start_serve(tmp_path, command: list[str] | None = None) -> tuple[subprocess.Popen, list[psutil.Process]]:
    port = free_port()
    env = {**os.environ, "LSTM_DOCTOR_PORT": str(port), "LSTM_DOCTOR_DATA_DIR": str(tmp_path),
           "LSTM_DOCTOR_LOG_LEVEL": "WARNING", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("LSTM_DOCTOR_REDIS_URL", None)
    # A session of its own: a signal sent to the group (as `timeout` does) stays out of pytest's.
    serve = subprocess.Popen(command or [BIN, "serve"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL,
                             start_new_session=command is not None)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/readyz", serve)
    except RuntimeError as exc:
        serve.kill()
        pytest.fail(f"serve never became ready: {exc}")
    family = psutil.Process(serve.pid).children(recursive=True)
    names = " ".join(" ".join(p.cmdline()) for p in family)
    assert "redis-server" in names and "celery" in names and "service.cli api" in names, names
    return serve, family


def still_alive(family: list[psutil.Process], within_s: float) -> list[str]:
    deadline = time.monotonic() + within_s
    while True:
        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return [" ".join(p.cmdline()) for p in alive]
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_everything(tmp_path, sig):
    serve, family = start_serve(tmp_path)
    serve.send_signal(sig)
    assert serve.wait(timeout=60) == 0
    assert still_alive(family, within_s=5) == []


def test_children_die_with_a_killed_serve(tmp_path):
    serve, family = start_serve(tmp_path)
    serve.kill()
    serve.wait(timeout=10)
    # The kernel signals redis, the worker and the API; the training process notices its parent.
    assert still_alive(family, within_s=20) == []


@pytest.mark.parametrize("target", ["timeout", "make"])
def test_make_run_leaves_nothing_behind_on_sigterm(tmp_path, target):
    """The real `make run`. Under `timeout -s TERM` (the signal goes to make and serve, the group);
    and SIGTERM to make alone, which make forwards to its recipe: `exec` made that serve itself."""
    command = ["make", "--no-print-directory", "run"]
    if target == "timeout":
        command = ["timeout", "-s", "TERM", "3600", *command]
    outer, family = start_serve(tmp_path, command)
    assert any("lstm-doctor serve" in " ".join(p.cmdline()) for p in family)
    # SIGTERM to `timeout` is what it does on expiry: it passes the signal on to its command.
    outer.send_signal(signal.SIGTERM)
    outer.wait(timeout=90)
    assert still_alive(family, within_s=10) == []
