"""Workers that vanish mid-training: the job finishes on a new process, or fails with
`worker_lost` — never `running` forever. Real worker processes, killed with SIGKILL.

A second worker consuming the `gpu` queue stands in for a GPU machine (the one thing that cannot
exist here); it trains on the CPU like any other.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from core import keys
from core.jobs import JobStore
from core.processes import stop_process_group
from service.auth import OPEN_TENANT
from tests.helpers import classic_csv, start_worker, submit, upload, wait_for, wait_for_worker


@pytest.fixture(scope="module")
def series(client, worker) -> str:
    return upload(client, classic_csv(rows=3000, seed=5), "worker-loss.csv").json()["id"]


def gpu_worker(settings, redis_client, name: str):
    process = start_worker(settings.model_copy(update={"worker_queues": "gpu"}), name)
    wait_for_worker(redis_client, f"{name}@", process)
    return process


def trainer_pid(redis_client, job_id: str, client) -> int:
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job_id}").json()["progress"]["epoch"] < 2:
        assert time.monotonic() < deadline, "training never got going"
        time.sleep(0.1)
    owner = redis_client.get(keys.job_heartbeat(OPEN_TENANT, job_id))
    return int(owner.rpartition(":")[2])


def test_killed_training_process_is_retried_and_finishes(client, settings, redis_client, series):
    process = gpu_worker(settings, redis_client, "gpu-a")
    try:
        job = submit(client, series, device="auto", data={"target": "label"}, training={"epochs": 12})
        pid = trainer_pid(redis_client, job["id"], client)
        os.kill(pid, signal.SIGKILL)
        done = wait_for(client, job["id"], timeout_s=120)
        assert done["status"] == "succeeded", done
        assert done["device"]["worker"].startswith("gpu-a@")  # auto went to the GPU queue
        run = client.get(f"/v1/jobs/{job['id']}/history").json()["runs"][0]
        assert run["epochs_completed"] == 12  # the partial history was reset, not appended to
        assert JobStore(redis_client).get(OPEN_TENANT, job["id"]).attempts == 2
    finally:
        stop_process_group(process, grace_s=5)


def test_vanished_worker_is_reaped_and_job_finishes_elsewhere(client, settings, redis_client, series):
    doomed = gpu_worker(settings, redis_client, "gpu-b")
    job = submit(client, series, device="gpu", data={"target": "label"}, training={"epochs": 12})
    trainer_pid(redis_client, job["id"], client)
    os.killpg(doomed.pid, signal.SIGKILL)  # the whole machine, as far as Celery can tell
    doomed.wait()
    rescuer = gpu_worker(settings, redis_client, "gpu-c")
    try:
        done = wait_for(client, job["id"], timeout_s=120)
        assert done["status"] == "succeeded", done
        assert done["device"]["worker"].startswith("gpu-c@")
        assert client.get(f"/v1/jobs/{job['id']}/history").json()["runs"][0]["epochs_completed"] == 12
    finally:
        stop_process_group(rescuer, grace_s=5)
