"""Webhooks with real parts: a receiver HTTP server on loopback that verifies Standard Webhooks
signatures with the tenant's secrets, refuses the first attempts of every message, and drops
duplicates by `webhook-id`; the job trains on the real worker, whose dispatcher delivers."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core import keys
from core.ids import now
from core.webhooks.deliveries import SCHEDULE_LUA, DeliveryStore, delivery_record, payload
from core.webhooks.signing import SecretStore
from core.webhooks.targets import AllowList, TargetRefused, check
from tests.helpers import classic_csv, upload, wait_for
from worker.webhook_dispatcher import Dispatcher


class Receiver:
    """Answers 500 to the first ``failures`` attempts of each message id, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.secrets: list[str] = []
        self.attempts: dict[str, int] = {}
        self.received: dict[str, dict] = {}  # webhook-id -> body, each message once
        self.signed_by: dict[str, set[int]] = {}  # webhook-id -> indexes of the secrets that verified it
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                verified = set()
                for i, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.add(i)
                    except WebhookVerificationError:
                        pass
                with receiver.lock:
                    if not verified:
                        receiver.bad_signatures += 1
                        self.send_response(401)
                        self.end_headers()
                        return
                    ident = headers["webhook-id"]
                    receiver.attempts[ident] = receiver.attempts.get(ident, 0) + 1
                    if receiver.attempts[ident] <= receiver.failures:
                        self.send_response(500)
                        self.end_headers()
                        return
                    receiver.received.setdefault(ident, json.loads(body))  # dedup by id
                    receiver.signed_by.setdefault(ident, verified)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lstm"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver(failures=2)
    yield server
    server.close()


def _wait_delivered(client, job_id: str, count: int, timeout_s: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        items = client.get(f"/v1/jobs/{job_id}/deliveries").json()["items"]
        if len(items) >= count and all(item["status"] != "pending" for item in items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.2)


def test_signed_deliveries_are_retried_until_accepted_and_seen_once(client, worker, receiver):
    # Rotating with an overlap: deliveries carry a signature by the old and by the new secret.
    old = client.get("/v1/webhooks/secrets").json()["secrets"][0]["secret"]
    rotated = client.post("/v1/webhooks/secrets/rotate", json={"overlap_s": 3600})
    assert rotated.status_code == 200, rotated.text
    secrets = rotated.json()["secrets"]
    assert len(secrets) == 2 and secrets[1]["secret"] == old and secrets[1]["expires_at"]
    assert secrets[0]["expires_at"] is None and secrets[0]["secret"].startswith("whsec_")
    receiver.secrets = [secrets[0]["secret"], old]

    dataset = upload(client, classic_csv(rows=120, seed=21), "hooked.csv").json()
    job = client.post(
        "/v1/jobs",
        json={
            "dataset_id": dataset["id"],
            "data": {"target": "label"},
            "training": {"epochs": 3},
            "webhook": {"url": receiver.url, "events": ["running", "epoch", "succeeded"]},
        },
    ).json()
    assert job["config"]["webhook"]["events"] == ["running", "epoch", "succeeded"]
    done = wait_for(client, job["id"], timeout_s=180)
    assert done["status"] == "succeeded", done
    deliveries = _wait_delivered(client, job["id"], count=5)

    # Every message arrived once after dedup, verified by both secrets, after two refusals each.
    assert receiver.bad_signatures == 0
    kinds = sorted(body["type"] for body in receiver.received.values())
    assert kinds == ["job.epoch"] * 3 + ["job.running", "job.succeeded"]
    assert all(verified == {0, 1} for verified in receiver.signed_by.values())
    assert set(receiver.attempts.values()) == {3}
    final = next(body for body in receiver.received.values() if body["type"] == "job.succeeded")
    assert final["data"]["job_id"] == job["id"] and final["data"]["verdict"] == done["verdict"]
    assert final["data"]["links"]["model"] == f"/v1/jobs/{job['id']}/model"
    epochs = sorted(body["data"]["epoch"] for body in receiver.received.values() if body["type"] == "job.epoch")
    assert epochs == [1, 2, 3]

    assert {d["id"] for d in deliveries} == set(receiver.received)  # webhook-id is the delivery's id
    for delivery in deliveries:
        assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 3
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 204]
        assert "body" not in delivery


def test_default_events_are_the_terminal_ones(client, worker, receiver):
    receiver.failures = 0
    receiver.secrets = [s["secret"] for s in client.get("/v1/webhooks/secrets").json()["secrets"]]
    dataset = upload(client, classic_csv(rows=120, seed=22), "hooked2.csv").json()
    job = client.post(
        "/v1/jobs",
        json={
            "dataset_id": dataset["id"],
            "data": {"target": "label"},
            "training": {"epochs": 2},
            "webhook": {"url": receiver.url},
        },
    ).json()
    assert job["config"]["webhook"]["events"] == ["succeeded", "failed", "cancelled"]
    assert wait_for(client, job["id"], timeout_s=180)["status"] == "succeeded"
    [delivery] = _wait_delivered(client, job["id"], count=1)
    assert delivery["event"] == "succeeded" and delivery["status"] == "succeeded"
    assert [body["type"] for body in receiver.received.values()] == ["job.succeeded"]


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://127.0.0.2:9/hook", "loopback"),
        ("http://[::1]:9/hook", "loopback"),
        ("ftp://example.com/hook", "http://"),
        ("http://user:pw@example.com/hook", "credentials"),
    ],
    ids=["private", "metadata", "loopback-not-allowed", "ipv6-loopback", "scheme", "credentials"],
)
def test_internal_targets_are_refused_at_submit(client, url, words):
    dataset = upload(client, classic_csv(rows=60, seed=23), "ssrf.csv").json()
    response = client.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "label"}, "webhook": {"url": url}}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body", "webhook", "url"] and words in problem["detail"], problem


def _resolver(table: dict[str, list[str]]):
    return lambda host, port: table[host]


def test_target_check_reads_every_resolved_address_and_the_allow_list():
    public = {
        "hooks.example.com": ["93.184.216.34"],
        "rebind.example.com": ["93.184.216.34", "10.0.0.7"],
        "mapped.example.com": ["::ffff:127.0.0.1"],
        "intranet": ["192.168.1.20"],
    }
    resolve = _resolver(public)
    none = AllowList.parse("")
    assert check("https://hooks.example.com/x", none, resolve).addresses == ["93.184.216.34"]
    for url in ("https://rebind.example.com/x", "http://mapped.example.com/", "http://intranet/"):
        with pytest.raises(TargetRefused):
            check(url, none, resolve)
    assert check("http://intranet:8080/", AllowList.parse("intranet"), resolve).port == 8080
    assert check("http://intranet/", AllowList.parse("192.168.0.0/16"), resolve).host == "intranet"
    with pytest.raises(TargetRefused, match="cannot be resolved"):
        check("http://nowhere.invalid/", none, lambda host, port: (_ for _ in ()).throw(OSError("no such host")))


@pytest.fixture
def own_redis(settings) -> redis.Redis:
    """A database of the test Redis that the session worker's dispatcher does not poll."""
    client = redis.Redis.from_url(settings.redis_url.rsplit("/", 1)[0] + "/7", decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


def schedule(client: redis.Redis, tenant: str, job_id: str, event_id: str, name: str, url: str, body: dict) -> str:
    """A delivery due now, scheduled as a job event's transition schedules it (``core.job_events``),
    without the transition; returns its id."""
    ident = "msg_" + hashlib.sha1(f"{job_id}/{event_id}".encode()).hexdigest()[:26]
    script = client.register_script(SCHEDULE_LUA + "return schedule_delivery(KEYS[1], KEYS[2], unpack(ARGV))")
    script(keys=[keys.job_deliveries(tenant, job_id), keys.webhook_due()],
           args=[f"{tenant}/{job_id}", ident, url, delivery_record(name, body, now()), time.time()])
    return ident


def test_a_delivery_is_given_up_after_the_retry_schedule(settings, own_redis):
    failing = Receiver(failures=100)
    failing.secrets = [s["secret"] for s in SecretStore(own_redis).active("t1")]
    try:
        store = DeliveryStore(own_redis)
        body = payload("job_x", "failed", {"status": "failed"}, "2026-01-01T00:00:00.000Z")
        ident = schedule(own_redis, "t1", "job_x", "1-0", "failed", failing.url, body)
        assert schedule(own_redis, "t1", "job_x", "1-0", "failed", failing.url, body) == ident  # one per event
        dispatcher = Dispatcher(settings, own_redis)
        for _ in range(len(settings.webhook_retry_delays) + 1):
            dispatcher.deliver("t1", "job_x", ident)
        record = store.get("t1", "job_x", ident)
        assert record["status"] == "failed" and record["attempt_count"] == 4
        assert failing.attempts[ident] == 4 and not failing.received
        assert own_redis.zcard("ld:webhook-due") == 0  # nothing left scheduled
    finally:
        failing.close()


def test_a_job_deleted_while_its_delivery_is_sent_is_not_brought_back(own_redis):
    """The attempt's record is written only over one that still exists: a job deleted mid-send
    (its deliveries hash with it) leaves no hash nobody owns, and nothing scheduled."""
    store = DeliveryStore(own_redis)
    ident = schedule(own_redis, "t1", "job_z", "4-0", "succeeded", "https://hooks.example.com/x",
                           payload("job_z", "succeeded", {}, "t"))
    record = store.get("t1", "job_z", ident)
    assert record is not None and own_redis.zcard(keys.webhook_due()) == 1
    read = store.get

    def read_then_job_deleted(tenant, job_id, delivery):
        found = read(tenant, job_id, delivery)
        own_redis.delete(keys.job_deliveries("t1", "job_z"))  # what Lifecycle.delete does meanwhile
        return found

    store.get = read_then_job_deleted
    assert store.record_attempt("t1", "job_z", ident, {"ok": False, "status_code": 500}, retry_in_s=60) is None
    assert not own_redis.exists(keys.job_deliveries("t1", "job_z")) and own_redis.zcard(keys.webhook_due()) == 0


def test_the_target_is_checked_again_when_sending(settings, own_redis):
    """A name that resolved to a public address at submit time and to a private one now is not called."""
    receiver = Receiver(failures=0)
    try:
        store = DeliveryStore(own_redis)
        url = receiver.url.replace("127.0.0.1", "hooks.example.com")
        ident = schedule(own_redis, "t1", "job_y", "2-0", "succeeded", url, payload("job_y", "succeeded", {}, "t"))
        dispatcher = Dispatcher(settings, own_redis, resolve=_resolver({"hooks.example.com": ["10.9.9.9"]}))
        dispatcher.deliver("t1", "job_y", ident)
        record = store.get("t1", "job_y", ident)
        assert record["status"] == "failed" and "refused" in record["attempts"][0]["error"]
        assert not receiver.attempts
        # Resolving to the allowed loopback address now, it is delivered, to that address, by name.
        dispatcher = Dispatcher(settings, own_redis, resolve=_resolver({"hooks.example.com": ["127.0.0.1"]}))
        ident = schedule(own_redis, "t1", "job_y", "3-0", "succeeded", url, payload("job_y", "succeeded", {}, "t"))
        receiver.secrets = [s["secret"] for s in SecretStore(own_redis).active("t1")]
        dispatcher.deliver("t1", "job_y", ident)
        assert store.get("t1", "job_y", ident)["status"] == "succeeded" and ident in receiver.received
    finally:
        receiver.close()


def test_deliveries_of_another_tenants_job_are_404(client):
    assert client.get("/v1/jobs/job_000000000000aaaaaaaaaaaa/deliveries").status_code == 404
