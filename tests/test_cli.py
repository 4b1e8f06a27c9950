"""`lstm-doctor serve` brings up Redis, a worker and the API, and Ctrl-C takes all of them down;
`lstm-doctor api` refuses to listen openly beyond loopback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from core.embedded_redis import free_port
from tests.helpers import wait_until_answering

BIN = os.path.join(os.path.dirname(sys.executable), "lstm-doctor")


def test_serve_starts_everything_and_ctrl_c_leaves_nothing(tmp_path):
    port = free_port()
    env = {**os.environ, "LSTM_DOCTOR_PORT": str(port), "LSTM_DOCTOR_DATA_DIR": str(tmp_path),
           "LSTM_DOCTOR_LOG_LEVEL": "WARNING", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("LSTM_DOCTOR_REDIS_URL", None)
    serve = subprocess.Popen([BIN, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        try:
            ready = wait_until_answering(f"http://127.0.0.1:{port}/readyz", serve)
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n{serve.stderr.read() if serve.poll() is not None else ''}")
        assert ready.json()["workers"], ready.json()
        family = psutil.Process(serve.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        assert "redis-server" in names and "celery" in names
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=60)
    time.sleep(0.5)
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [" ".join(p.cmdline()) for p in alive]


def test_api_refuses_open_non_loopback_bind(redis_server):
    env = {**os.environ, "LSTM_DOCTOR_HOST": "0.0.0.0", "LSTM_DOCTOR_API_KEYS": "",
           "LSTM_DOCTOR_REDIS_URL": redis_server.url}
    result = subprocess.run([BIN, "api"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "without API keys" in result.stderr and "LSTM_DOCTOR_API_KEYS" in result.stderr
