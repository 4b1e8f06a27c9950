"""Every error the app can produce is RFC 9457 problem details, says what to fix, and gives
nothing of the inside away: no traceback, no file path, no exception class name."""
from __future__ import annotations

import io
import re
import time

import httpx
import pytest

from core.job_config import JobConfig
from core.settings import Settings
from service import middleware, problems
from service.app import create_app
from service.middleware import MAX_JSON_BODY_BYTES
from tests.helpers import ServerThread, classic_csv, store_job, upload

TENANT, KEY = "errs", "KEY_ERRS"
NEVER_JOB = "job_000000000000bbbbbbbbbbbb"
LEAKS = [
    re.compile(r"Traceback"),
    re.compile(r'File "'),
    re.compile(r"/work/|/site-packages/|/usr/lib"),
    re.compile(r'\.py\b'),
    # Exception class names: RuntimeError, KeyError, JSONDecodeError, RedisError, DatasetError…
    re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b"),
]
SECRET_MESSAGE = "secret detail from /work/main/service/secret.py"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status and body["title"] and len(body["detail"]) > 10
    for leak in LEAKS:
        assert not leak.search(response.text), (leak.pattern, response.text)
    return body


@pytest.fixture(scope="module")
def strict_api(settings: Settings):
    """An app with tight limits (1 MiB uploads, one queued job per tenant) and a route that breaks."""
    app = create_app(settings.model_copy(update={"api_keys": f"{TENANT}:{KEY}", "max_upload_mb": 1,
                                                 "max_queued_jobs": 1}))

    def explode() -> dict:
        raise RuntimeError(SECRET_MESSAGE)

    app.add_api_route("/test-only/explode", explode, methods=["GET"])
    with ServerThread(app) as server:
        yield server


@pytest.fixture(scope="module")
def http(strict_api):
    with httpx.Client(base_url=strict_api.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def records(http, redis_client):
    """A dataset and two job records written straight to the stores (no worker needed): one
    queued (it holds the dataset and fills the tenant's queue) and one finished."""
    dataset = upload(http, classic_csv(rows=60, seed=11), "errs.csv")
    assert dataset.status_code in (200, 201), dataset.text
    dataset_id = dataset.json()["id"]
    config = JobConfig(dataset_id=dataset_id, data={"target": "label"}).model_dump(mode="json")
    made = {status: store_job(redis_client, TENANT, dataset_id, config, status) for status in ("queued", "succeeded")}
    yield {"dataset": dataset_id, **made}
    for job_id in made.values():
        http.delete(f"/v1/jobs/{job_id}")


# 4xx on routes, methods and bodies

@pytest.mark.parametrize("method,url", [
    ("GET", "/nope"), ("GET", "/v1"), ("GET", f"/v1/jobs/{NEVER_JOB}"), ("GET", "/v1/datasets/ds_nope"),
    ("GET", f"/v1/jobs/{NEVER_JOB}/plots/loss.png"), ("GET", f"/v1/jobs/{NEVER_JOB}/history"),
    ("GET", "/v1/jobs/" + "x" * 5000), ("GET", "/v1/jobs/%00%ff"), ("GET", "/v1/datasets/ü../../etc/passwd"),
])
def test_404_unknown_routes_and_ids(http, method, url):
    assert_problem(http.request(method, url), 404)


@pytest.mark.parametrize("method,url,allowed", [
    ("PUT", "/v1/jobs", "GET, POST"), ("PATCH", f"/v1/jobs/{NEVER_JOB}", "GET, DELETE"),
    ("DELETE", "/healthz", "GET"), ("POST", "/metrics", "GET"),
])
def test_405_names_the_allowed_methods(http, method, url, allowed):
    response = http.request(method, url)
    body = assert_problem(response, 405)
    assert set(response.headers["allow"].split(", ")) == set(allowed.split(", "))
    assert method in body["detail"]


def test_malformed_json_is_422_with_the_parser_position(http):
    response = http.post("/v1/jobs", content=b'{"dataset_id": "x",', headers={"Content-Type": "application/json"})
    body = assert_problem(response, 422)
    assert "not valid JSON" in body["detail"] and "character" in body["detail"]
    assert body["errors"][0]["loc"][0] == "body"


def test_invalid_fields_are_422_each_named(http):
    response = http.post("/v1/jobs", json={"dataset_id": 5, "training": {"epochs": -1}, "bogus": 1})
    body = assert_problem(response, 422)
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert {("body", "dataset_id"), ("body", "training", "epochs"), ("body", "bogus")} <= locs
    assert all(e["msg"] for e in body["errors"])


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": "many"}, {"status": "exploded"}, {"limit": 10**30}])
def test_bad_query_parameters_are_422(http, query):
    body = assert_problem(http.get("/v1/jobs", params=query), 422)
    assert body["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_job_body_that_is_not_json_is_415(http, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    body = assert_problem(http.post("/v1/jobs", content=b'{"dataset_id": "x"}', headers=headers), 415)
    assert "application/json" in body["detail"]


def test_an_upload_that_is_not_multipart_is_415(http):
    assert_problem(http.post("/v1/datasets", json={"file": "x"}), 415)


def test_a_broken_multipart_body_is_400(http):
    response = http.post("/v1/datasets", content=b"--nope\r\n garbage",
                         headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert_problem(response, 400)


def test_an_upload_past_the_limit_is_413(http):
    body = assert_problem(upload(http, b"x,label\n" + b"0.5,1\n" * 300_000), 413)
    assert "1 MiB" in body["detail"]


def test_a_json_body_past_the_limit_is_413_declared_or_streamed(http):
    too_big = b'{"dataset_id": "' + b"x" * (MAX_JSON_BODY_BYTES + 10) + b'"}'
    assert_problem(http.post("/v1/jobs", content=too_big, headers={"Content-Type": "application/json"}), 413)

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        for start in range(0, len(too_big), 1 << 20):
            yield too_big[start:start + (1 << 20)]

    streamed = http.post("/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413)


def test_401_without_a_key(strict_api):
    with httpx.Client(base_url=strict_api.url, timeout=30) as anonymous:
        response = anonymous.get("/v1/jobs")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


# 409 and 429 from the state of things

def test_409_cancelling_a_finished_job(http, records):
    body = assert_problem(http.post(f"/v1/jobs/{records['succeeded']}/cancel"), 409)
    assert "succeeded" in body["detail"]


def test_409_diagnosis_before_enough_epochs(http, records):
    response = http.get(f"/v1/jobs/{records['queued']}/diagnosis")
    assert_problem(response, 409)
    assert response.headers["retry-after"]


def test_409_deleting_a_dataset_in_use(http, records):
    body = assert_problem(http.delete(f"/v1/datasets/{records['dataset']}"), 409)
    assert records["queued"] in body["detail"]


def test_429_past_the_queued_jobs_limit(http, records):
    response = http.post("/v1/jobs", json={"dataset_id": records["dataset"], "data": {"target": "label"}})
    body = assert_problem(response, 429)
    assert int(response.headers["retry-after"]) > 0
    assert "LSTM_DOCTOR_MAX_QUEUED_JOBS" in body["detail"]


# 500: an unexpected exception

class LogRecorder:
    def __init__(self) -> None:
        self.errors: list[tuple[str, dict]] = []

    def error(self, event: str, **fields) -> None:
        self.errors.append((event, fields))


class LevelRecorder:
    """Which level each request line is logged at."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, int]] = []

    def debug(self, event: str, **fields) -> None:
        self.lines.append(("debug", fields["method"], fields["status"]))

    def info(self, event: str, **fields) -> None:
        self.lines.append(("info", fields["method"], fields["status"]))


def test_request_logs_are_quiet_for_successful_reads(http, monkeypatch):
    """Clients poll: a successful read is logged at DEBUG (dropped at the default INFO); a write or
    a refused request at INFO."""
    recorder = LevelRecorder()
    monkeypatch.setattr(middleware, "log", recorder)
    assert http.get("/v1/datasets").status_code == 200
    assert http.get("/v1/jobs/job_000000000000aaaaaaaaaaaa").status_code == 404
    assert http.post("/v1/diagnoses", json={"history": {"loss": [1.0, 0.9, 0.8]}}).status_code == 201
    # A request's line is written once its answer is sent: the client may hear it first.
    deadline = time.monotonic() + 10
    while len(recorder.lines) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(recorder.lines) == [("debug", "GET", 200), ("info", "GET", 404), ("info", "POST", 201)]


def test_unexpected_exception_is_a_bare_500_with_a_trace_id(strict_api, monkeypatch):
    recorder = LogRecorder()
    monkeypatch.setattr(problems, "log", recorder)
    with httpx.Client(base_url=strict_api.url, timeout=30) as anonymous:
        response = anonymous.get("/test-only/explode", headers={"X-Request-ID": "req-explode-1"})
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "RuntimeError" not in response.text
    trace_id = re.search(r"trace id ([0-9a-f]{32})", body["detail"]).group(1)
    assert response.headers["x-request-id"] == "req-explode-1"
    # The log has what the answer does not (the exception and its traceback); the trace id joins them.
    [(event, fields)] = recorder.errors
    assert event == "unhandled_error" and fields["trace_id"] == trace_id
    assert fields["request_id"] == "req-explode-1" and fields["path"] == "/test-only/explode"
    assert isinstance(fields["exc_info"], RuntimeError) and SECRET_MESSAGE in str(fields["exc_info"])


def test_uploads_refused_store_nothing(http):
    before = http.get("/v1/datasets").json()["items"]
    upload(http, b"x,label\n" + b"0.5,1\n" * 300_000)  # 413
    http.post("/v1/datasets", files={"name": (None, "no file")})  # 422
    http.post("/v1/datasets", content=b"x", headers={"Content-Type": "text/csv"})  # 415
    assert http.get("/v1/datasets").json()["items"] == before


def test_upload_without_file_field_is_422_naming_it(http):
    response = http.post("/v1/datasets", files={"name": (None, "no file"), "other": ("a.csv", io.BytesIO(b"x"))})
    body = assert_problem(response, 422)
    assert body["errors"] == [{"loc": ["body", "file"], "msg": "field required"}]


def test_a_json_body_that_is_not_utf8_is_422(http):
    response = http.post("/v1/jobs", content=b'{"dataset_id": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    body = assert_problem(response, 422)
    assert "not UTF-8" in body["detail"]


def test_a_streamed_upload_past_the_limit_is_413_and_stores_nothing(http):
    """No Content-Length to refuse up front: the limit holds while the body streams in."""
    before = http.get("/v1/datasets").json()["items"]
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
            "x,label\n").encode()

    def chunks():
        yield head
        for _ in range(40):  # 40 × 64 KiB = 2.5 MiB of rows, past 1 MiB + room for the form
            yield b"0.5,1\n" * 10923
        yield f"\r\n--{boundary}--\r\n".encode()

    response = http.post("/v1/datasets", content=chunks(),
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert "content-length" not in response.request.headers
    assert "1 MiB" in assert_problem(response, 413)["detail"]
    assert http.get("/v1/datasets").json()["items"] == before
