"""A job that runs past the soft time limit fails with `time_limit`, keeping its history.

A worker with a 3 s limit consumes the `gpu` queue (standing in for a GPU machine) so the limit
applies to this test's job only.
"""
from __future__ import annotations

from core.processes import stop_process_group
from tests.helpers import classic_csv, start_worker, submit, upload, wait_for, wait_for_worker


def test_soft_time_limit_fails_the_job(client, settings, redis_client, worker):
    limited = settings.model_copy(update={"worker_queues": "gpu", "job_soft_time_limit_s": 3})
    process = start_worker(limited, "limited")
    try:
        wait_for_worker(redis_client, "limited@", process)
        ds = upload(client, classic_csv(rows=3000, seed=21), "slow.csv").json()["id"]
        job = submit(client, ds, device="gpu", data={"target": "label"}, training={"epochs": 500})
        done = wait_for(client, job["id"], timeout_s=90)
        assert done["status"] == "failed", done
        assert done["error"]["type"] == "time_limit" and "3 s" in done["error"]["message"]
        assert "Traceback" not in done["error"]["message"]
        kept = client.get(f"/v1/jobs/{job['id']}/history").json()["runs"][0]["epochs_completed"]
        assert 0 <= kept < 500
    finally:
        stop_process_group(process, grace_s=5)
