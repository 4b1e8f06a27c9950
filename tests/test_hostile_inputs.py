"""The hostile-input suite (issue 13): what a hostile or careless client sends, over real HTTP to
an API *process* (so its memory can be measured), on its own embedded Redis and data directory.

Every case must be answered 4xx (507 where the server's storage is the limit) with problem
details naming what was wrong, within the client's timeout, leaving nothing stored; the server's
resident memory must stay under RSS_BOUND_MB throughout. The malformed corpus
(tests/corpus/malformed) is replayed here too. docs/RELIABILITY.md lists the cases and figures.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from core.blobs import LocalBlobStore
from core.embedded_redis import EmbeddedRedis, free_port
from core.processes import stop_process
from service.app import create_app
from tests.helpers import ServerThread, classic_csv, csv_bytes, wait_until_answering

CORPUS = Path(__file__).parent / "corpus" / "malformed"
CASES = json.loads((CORPUS / "EXPECTED.json").read_text())["cases"]
# The API process imports FastAPI, pyarrow, pandas and matplotlib (~250 MiB here); no hostile
# request may make it grow past this.
RSS_BOUND_MB = 600
TENANTS = ("evil", "dsq", "bytesq", "dxq", "jobq", "sse", "race", "twins")
KEYS = {tenant: f"KEY-{tenant}" for tenant in TENANTS}
METRICS_TOKEN = "scrape-secret"
LIMITS = {
    "MAX_DATASETS": "5",
    "MAX_DATASET_STORAGE_MB": "6",
    "MAX_DIAGNOSES": "2",
    "MAX_JOBS": "2",
    "MAX_QUEUED_JOBS": "50",
    "MAX_STREAMS_PER_TENANT": "2",
    "MAX_STREAM_S": "3",
    "METRICS_TOKEN": METRICS_TOKEN,
    "MAX_COLUMNS": "2048",
}


class ApiProcess:
    def __init__(self, redis_url: str, data_dir: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "LSTM_DOCTOR_REDIS_URL": redis_url,
            "LSTM_DOCTOR_DATA_DIR": str(data_dir),
            "LSTM_DOCTOR_PORT": str(self.port),
            "LSTM_DOCTOR_LOG_LEVEL": "ERROR",
            "LSTM_DOCTOR_API_KEYS": ",".join(f"{t}:{k}" for t, k in KEYS.items()),
            **{f"LSTM_DOCTOR_{name}": value for name, value in LIMITS.items()},
        }
        self.process = subprocess.Popen([sys.executable, "-m", "service.cli", "api"], env=env, start_new_session=True)
        self.peak_rss = 0
        wait_until_answering(f"{self.url}/healthz", self.process, timeout_s=120)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        rss = psutil.Process(self.process.pid).memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        return rss / 2**20

    def stop(self) -> None:
        stop_process(self.process, grace_s=15)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hostile")
    with EmbeddedRedis(data_dir / "redis") as server:
        api = ApiProcess(server.url, data_dir)
        try:
            yield api, server, data_dir
        finally:
            api.stop()


@pytest.fixture(scope="module")
def api(stack) -> ApiProcess:
    return stack[0]


def client_for(api: ApiProcess, tenant: str) -> httpx.Client:
    # The timeout is the "within seconds" of the issue: a hostile request must be answered, not hang.
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {KEYS[tenant]}"}, timeout=60)


@pytest.fixture(scope="module")
def evil(api):
    with client_for(api, "evil") as http:
        yield http


@pytest.fixture(scope="module")
def evil_dataset(evil) -> str:
    created = evil.post("/v1/datasets", files={"file": ("classic.csv", classic_csv(rows=400, seed=3))})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def stored(stack, tenant: str) -> tuple[frozenset[str], int, int]:
    """What a tenant has stored: its Redis keys, the records due to expire, the blobs on disk."""
    _, server, data_dir = stack
    r = redis.Redis.from_url(server.url, decode_responses=True)
    return (
        frozenset(r.scan_iter(f"ld:t:{tenant}:*")),
        r.zcard("ld:expiry"),
        sum(1 for _ in LocalBlobStore(data_dir / "blobs").keys()),
    )


def refused(response: httpx.Response, status: int, *in_detail: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    for words in in_detail:
        assert words in problem["detail"], (words, problem["detail"])
    return problem


def locs(problem: dict) -> list[list]:
    return [e["loc"] for e in problem["errors"]]


# --- job configs -------------------------------------------------------------------------


def test_hostile_job_configs_are_422_naming_the_field(stack, api, evil, evil_dataset):
    before = stored(stack, "evil")
    ds = evil_dataset
    base = {"dataset_id": ds, "data": {"target": "label"}}
    cases = [
        ({**base, "model": {"dense": [1024] * 200_000}}, ["body", "model", "dense"]),
        ({**base, "training": {"batch_size": 10**12}}, ["body", "training", "batch_size"]),
        ({**base, "training": {"seed": 2**40}}, ["body", "training", "seed"]),
        ({**base, "tags": {f"k{i}": "v" * 200 for i in range(35_000)}}, ["body", "tags"]),
        ({**base, "data": {"target": "label", "window": 10**6}}, ["body", "data", "window"]),
        ({**base, "data": {"target": "label", "features": ["x"] * 100_001}}, ["body", "data", "features"]),
        ({**base, "model": {"layers": [{"units": 10**7}]}}, ["body", "model", "layers", 0, "units"]),
        ({**base, "training": {"repeats": 10**6}}, ["body", "training", "repeats"]),
        # Within every per-field cap, but ~67 M parameters: the cost model refuses it.
        ({**base, "model": {"layers": [{"units": 1024}] * 8, "dense": [1024] * 8}}, ["body", "model"]),
    ]
    for body, loc in cases:
        response = evil.post("/v1/jobs", json=body)
        problem = refused(response, 422)
        assert any(found[: len(loc)] == loc for found in locs(problem)), (loc, problem["errors"][:3])
        api.rss_mb()
    params = refused(evil.post("/v1/jobs", json=cases[-1][0]), 422, "parameters", "LSTM_DOCTOR_MAX_PARAMS")
    assert "5,000,000" in params["detail"]
    # JSON's non-standard Infinity literal reaches the parser; it is not a learning rate.
    text = json.dumps({**base, "training": {"learning_rate": 1}}).replace(
        '"learning_rate": 1', '"learning_rate": Infinity'
    )
    refused(evil.post("/v1/jobs", content=text, headers={"Content-Type": "application/json"}), 422)
    assert stored(stack, "evil") == before


def test_cost_model_refusals_name_estimate_and_limit(stack, api, evil):
    rows = 60_000
    long_csv = csv_bytes({"x": np.round(np.sin(np.arange(rows) / 50), 4), "label": np.arange(rows) % 2})
    ds = evil.post("/v1/datasets", files={"file": ("long.csv", long_csv)}).json()["id"]
    before = stored(stack, "evil")
    slow = evil.post(
        "/v1/jobs", json={"dataset_id": ds, "data": {"target": "label", "window": 4000}, "training": {"epochs": 1000}}
    )
    problem = refused(slow, 422, "LSTM_DOCTOR_JOB_SOFT_TIME_LIMIT_S")
    assert locs(problem) == [["body", "training", "epochs"]]
    big_batch = evil.post(
        "/v1/jobs",
        json={
            "dataset_id": ds,
            "data": {"target": "label", "window": 2000},
            "model": {"layers": [{"units": 512}]},
            "training": {"batch_size": 65_536, "epochs": 1},
        },
    )
    problem = refused(big_batch, 422, "MiB", "LSTM_DOCTOR_MAX_JOB_MEMORY_MB")
    assert ["body", "training", "batch_size"] in locs(problem)
    many_labels = csv_bytes({"x": np.arange(3000) / 3000, "label": [f"c{i % 1500}" for i in range(3000)]})
    labels_ds = evil.post("/v1/datasets", files={"file": ("labels.csv", many_labels)}).json()["id"]
    before = stored(stack, "evil")
    problem = refused(
        evil.post(
            "/v1/jobs",
            json={
                "dataset_id": labels_ds,
                "task": "multiclass_classification",
                "data": {"target": "label", "validation_split": 0.1},
            },
        ),
        422,
        "1,500 classes",
        "LSTM_DOCTOR_MAX_CLASSES",
    )
    assert locs(problem) == [["body", "data", "target"]]
    assert stored(stack, "evil") == before
    accepted = evil.post("/v1/jobs", json={"dataset_id": ds, "data": {"target": "label"}, "training": {"epochs": 2}})
    assert accepted.status_code == 202, accepted.text
    estimate = accepted.json()["estimate"]
    assert estimate["parameters"] == 146 and estimate["memory_mb"] > 0 and estimate["epoch_seconds"] > 0
    assert accepted.json()["expires_at"]
    api.rss_mb()


# --- uploads -----------------------------------------------------------------------------


def test_hostile_uploads_and_the_malformed_corpus_store_nothing(stack, api, evil, evil_dataset):
    before = stored(stack, "evil")
    bomb = io.BytesIO()
    rows = 1_000_000
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["s" * 4000]))
    pq.write_table(pa.table({"x": np.zeros(rows), "note": text}), bomb, compression="zstd")
    assert len(bomb.getvalue()) < 2 * 2**20
    refused(evil.post("/v1/datasets", files={"file": ("bomb.parquet", bomb.getvalue())}), 413)
    api.rss_mb()
    wide = ",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join("1" for _ in range(20_000)) + "\n"
    refused(evil.post("/v1/datasets", files={"file": ("wide.csv", wide.encode())}), 422, "LSTM_DOCTOR_MAX_COLUMNS")
    api.rss_mb()
    for case in [c for c in CASES if c["stage"] == "upload"]:
        response = evil.post("/v1/datasets", files={"file": (case["file"], (CORPUS / case["file"]).read_bytes())})
        refused(response, case["status"], case["detail"])
        api.rss_mb()
    assert stored(stack, "evil") == before


def _raw_request(api: ApiProcess, head: str, timeout_s: float = 30) -> bytes:
    """Sends only the request head (no body) and reads what comes back."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=timeout_s) as sock:
        sock.sendall(head.encode())
        chunks = b""
        while b"\r\n\r\n" not in chunks:
            data = sock.recv(65536)
            if not data:
                break
            chunks += data
        return chunks


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/v1/jobs", "application/json"),
        ("/v1/jobs", "multipart/form-data; boundary=xyz"),
        ("/v1/datasets", "multipart/form-data; boundary=xyz"),
    ],
)
def test_unauthenticated_body_is_refused_before_it_is_sent(api, path, content_type):
    # Announces 90 MiB and never sends it: the 401 must come anyway, from the head alone.
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {90 * 2**20}\r\n\r\n"
    answer = _raw_request(api, head)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"www-authenticate: bearer" in answer.lower()


def test_ids_that_are_not_ids_are_404_at_the_edge(stack, evil):
    before = stored(stack, "evil")
    for path in (
        "/v1/jobs/" + "x" * 5000,
        "/v1/jobs/job_*",
        "/v1/jobs/job_{abc}/history",
        "/v1/datasets/ds_000000000000aaaaaaaaaaaa:ds-index",
        "/v1/diagnoses/dx_..%2F..%2Fetc",
        "/v1/jobs/job_000000000000AAAAAAAAAAAA/cancel",
    ):
        method = "POST" if path.endswith("/cancel") else "GET"
        problem = refused(evil.request(method, path), 404, "There is no")
        assert len(problem["detail"]) < 200
    assert stored(stack, "evil") == before


# --- quotas ------------------------------------------------------------------------------


def test_dataset_count_and_bytes_quotas(api):
    with client_for(api, "dsq") as http:
        for seed in range(5):
            assert (
                http.post("/v1/datasets", files={"file": ("d.csv", classic_csv(rows=50, seed=seed))}).status_code == 201
            )
        full = http.post("/v1/datasets", files={"file": ("d.csv", classic_csv(rows=50, seed=99))})
        refused(full, 429, "LSTM_DOCTOR_MAX_DATASETS=5")
        assert full.headers["retry-after"]
    with client_for(api, "bytesq") as http:
        big = classic_csv(rows=350_000, seed=1)  # ~3.9 MB of the 6 MiB allowed
        assert http.post("/v1/datasets", files={"file": ("a.csv", big)}).status_code == 201
        refused(
            http.post("/v1/datasets", files={"file": ("b.csv", classic_csv(rows=350_000, seed=2))}),
            413,
            "LSTM_DOCTOR_MAX_DATASET_STORAGE_MB",
        )


def test_racing_uploads_and_diagnoses_never_pass_their_caps(stack):
    """12 uploads of different bytes and 12 diagnoses at once, for caps of 5 and 2: the cap is
    checked in the step that writes (a Redis transaction), so exactly that many are stored and the
    refused uploads leave no blob behind."""
    api = stack[0]
    history = {"history": {"loss": [1.0, 0.8, 0.7, 0.65], "val_loss": [1.1, 0.9, 0.8, 0.8]}}
    blobs_before = stored(stack, "race")[2]
    with client_for(api, "race") as http, ThreadPoolExecutor(12) as pool:
        uploads = list(
            pool.map(
                lambda seed: http.post(
                    "/v1/datasets", files={"file": ("d.csv", classic_csv(rows=50, seed=100 + seed))}
                ),
                range(12),
            )
        )
        diagnoses = list(pool.map(lambda _: http.post("/v1/diagnoses", json=history), range(12)))
        assert sorted(r.status_code for r in uploads) == [201] * 5 + [429] * 7
        assert sorted(r.status_code for r in diagnoses) == [201] * 2 + [429] * 10
        assert len(http.get("/v1/datasets").json()["items"]) == 5
    assert stored(stack, "race")[2] - blobs_before == 5
    # Stored or refused, no upload's bytes are left registered as being stored (core.orphans).
    assert redis.Redis.from_url(stack[1].url).zcard("ld:ds-storing") == 0


def test_racing_uploads_of_the_same_bytes_store_one_dataset(stack):
    """8 uploads of identical bytes at once: one dataset, one blob, its bytes counted once; every
    answer names it (the sha256 mapping is written in the transaction that writes the record)."""
    api, server, _ = stack
    blobs_before = stored(stack, "twins")[2]
    body = classic_csv(rows=40, seed=7)
    with client_for(api, "twins") as http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: http.post("/v1/datasets", files={"file": ("d.csv", body)}), range(8)))
        assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
        assert len({r.json()["id"] for r in answers}) == 1
        assert len(http.get("/v1/datasets").json()["items"]) == 1
        dataset_id = answers[0].json()["id"]
        r = redis.Redis.from_url(server.url, decode_responses=True)
        assert int(r.hget("ld:t:twins:usage", "dataset_bytes")) == len(body)
        assert stored(stack, "twins")[2] - blobs_before == 1
        assert r.zcard("ld:ds-storing") == 0
        # Deleted, its bytes are given back once and the same bytes make a new dataset.
        assert http.delete(f"/v1/datasets/{dataset_id}").status_code == 204
        assert int(r.hget("ld:t:twins:usage", "dataset_bytes")) == 0
        again = http.post("/v1/datasets", files={"file": ("d.csv", body)})
        assert again.status_code == 201 and again.json()["id"] != dataset_id


def test_diagnosis_and_job_quotas(api):
    history = {"history": {"loss": [1.0, 0.8, 0.7, 0.65], "val_loss": [1.1, 0.9, 0.8, 0.8]}}
    with client_for(api, "dxq") as http:
        for _ in range(2):
            created = http.post("/v1/diagnoses", json=history)
            assert created.status_code == 201 and created.json()["expires_at"]
        full = http.post("/v1/diagnoses", json=history)
        refused(full, 429, "LSTM_DOCTOR_MAX_DIAGNOSES=2")
        assert full.headers["retry-after"]
    with client_for(api, "jobq") as http:
        ds = http.post("/v1/datasets", files={"file": ("d.csv", classic_csv(rows=60))}).json()["id"]
        for _ in range(2):
            assert http.post("/v1/jobs", json={"dataset_id": ds, "data": {"target": "label"}}).status_code == 202
        refused(
            http.post("/v1/jobs", json={"dataset_id": ds, "data": {"target": "label"}}), 429, "LSTM_DOCTOR_MAX_JOBS=2"
        )


def test_full_disk_refuses_uploads_before_storing(settings, tmp_path):
    starved = settings.model_copy(update={"min_free_disk_mb": 10**9, "data_dir": tmp_path})
    with ServerThread(create_app(starved)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        problem = refused(
            http.post("/v1/datasets", files={"file": ("d.csv", classic_csv(rows=50))}),
            507,
            "LSTM_DOCTOR_MIN_FREE_DISK_MB",
        )
        assert problem["status"] == 507
    assert not any(LocalBlobStore(tmp_path / "blobs").keys())


def test_redis_at_maxmemory_answers_507(settings, tmp_path):
    with EmbeddedRedis(tmp_path / "redis", maxmemory_mb=3) as tiny:
        small = settings.model_copy(update={"redis_url": tiny.url, "data_dir": tmp_path, "max_diagnoses": 10**6})
        with ServerThread(create_app(small)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            history = {
                "history": {"loss": list(np.linspace(1, 0.1, 20_000)), "val_loss": list(np.linspace(1.1, 0.2, 20_000))}
            }
            statuses = []
            for _ in range(40):
                response = http.post("/v1/diagnoses", json=history)
                statuses.append(response.status_code)
                if response.status_code != 201:
                    break
            assert statuses[-1] == 507, statuses
            refused(response, 507, "maxmemory")
            assert http.get("/healthz").status_code == 200


# --- streams, metrics, plots -------------------------------------------------------------


def test_event_streams_are_capped_per_tenant_across_processes_and_in_duration(stack):
    """The cap counts a tenant's streams on every API process (a second process on the same Redis
    sees the first one's streams), and each stream ends after LSTM_DOCTOR_MAX_STREAM_S."""
    api, server, data_dir = stack
    other = ApiProcess(server.url, data_dir)
    try:
        with client_for(api, "sse") as http, client_for(other, "sse") as elsewhere:
            ds = http.post("/v1/datasets", files={"file": ("d.csv", classic_csv(rows=60))}).json()["id"]
            # No worker serves this Redis: the job stays queued, its stream stays open.
            job = http.post("/v1/jobs", json={"dataset_id": ds, "data": {"target": "label"}}).json()["id"]
            url = f"/v1/jobs/{job}/events"
            first, second = http.stream("GET", url), elsewhere.stream("GET", url)
            with first as one, second as two:
                assert one.status_code == two.status_code == 200
                refused(http.get(url), 429, "LSTM_DOCTOR_MAX_STREAMS_PER_TENANT")
                refused(elsewhere.get(url), 429, "LSTM_DOCTOR_MAX_STREAMS_PER_TENANT")
                events = [line for line in one.iter_lines() if line.startswith(("event:", "data:"))]
    finally:
        other.stop()
    with client_for(api, "sse") as http:
        assert "event: end" in events
        end = json.loads(events[events.index("event: end") + 1].split(":", 1)[1])
        assert end == {"status": "queued", "verdict": None, "error": None, "reason": "max_duration"}
        # Closed streams give their slots back (once the server has noticed the disconnects).
        deadline = time.monotonic() + 30
        while (status := http.get(url).status_code) == 429 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 200


def test_metrics_token_and_no_tenant_data(api, evil):
    assert httpx.get(f"{api.url}/metrics", timeout=30).status_code == 401
    refused(httpx.get(f"{api.url}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=30), 401)
    scraped = httpx.get(f"{api.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30)
    assert scraped.status_code == 200 and "lstm_doctor_http_requests_total" in scraped.text
    for tenant in TENANTS:
        assert f'"{tenant}"' not in scraped.text and "tenant=" not in scraped.text


def test_long_histories_and_odd_metric_names_plot(api, evil):
    epochs = 10_000
    rng = np.random.default_rng(1)
    history = {
        "loss": list(1 / np.arange(1, epochs + 1) + rng.random(epochs) * 0.01),
        "val_loss": list(1.3 / np.arange(1, epochs + 1) + rng.random(epochs) * 0.01),
        "$\\fakecmd$": list(rng.random(epochs)),
        "val_$\\fakecmd$": list(rng.random(epochs)),
    }
    created = evil.post("/v1/diagnoses", json={"history": history})
    assert created.status_code == 201, created.text
    base = f"/v1/diagnoses/{created.json()['id']}/plots"
    svg = evil.get(f"{base}/loss.svg")
    assert svg.status_code == 200 and len(svg.content) < 2 * 2**20
    odd = evil.get(f"{base}/$\\fakecmd$.png")
    assert odd.status_code == 200 and odd.content.startswith(b"\x89PNG")
    assert evil.get(f"{base}/report.png").status_code == 200
    api.rss_mb()


def test_server_memory_stayed_bounded(api):
    """Last in the module: the peak over every case above."""
    api.rss_mb()
    print(f"peak API RSS {api.peak_rss / 2**20:.0f} MiB (bound {RSS_BOUND_MB})")
    assert api.peak_rss / 2**20 < RSS_BOUND_MB, api.peak_rss / 2**20
