"""The job lifecycle against a real Redis: every transition fenced by the attempt's token, what a
job holds released as it ends, reapers that race, an outbox that never loses a queued job.

A Redis of its own: the session's worker sweeps the shared one's outbox and would take these
made-up jobs (their datasets have no bytes) from under the tests."""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import redis

from core import keys
from core.broker import message_waiting
from core.datasets import DatasetInUse, DatasetStore
from core.embedded_redis import EmbeddedRedis
from core.ids import new_id, now
from core.job_record import JobRecord, JobStatus
from core.jobs import JobStore
from core.lifecycle import NOT_SENT, Fenced, Lifecycle, SubmitRefused, worker_lost
from core.redis_client import worker_client
from worker.reaper import reap, send_outbox

CONFIG = {"device": "cpu", "task": "binary_classification", "training": {"repeats": 2, "epochs": 5, "seed": 0}}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("lifecycle-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def redis_client(own_redis):
    return worker_client(own_redis.url, 15.0)


@pytest.fixture
def tenant() -> str:
    return f"lc-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stores(redis_client):
    return JobStore(redis_client), Lifecycle(redis_client, heartbeat_ttl_s=30), DatasetStore(redis_client)


def dataset(datasets: DatasetStore, tenant: str) -> str:
    dataset_id = new_id("ds")
    datasets.create(tenant, {"id": dataset_id, "sha256": uuid.uuid4().hex, "size_bytes": 8, "created_at": now()})
    return dataset_id


def queued(lifecycle: Lifecycle, datasets: DatasetStore, tenant: str, dataset_id: str | None = None) -> JobRecord:
    record = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=dataset_id or dataset(datasets, tenant),
                       config=CONFIG, created_at=now(), queued_at=now())
    lifecycle.submit(tenant, record, max_active=100)
    return record


def lapse(redis_client, tenant: str, job_id: str) -> None:
    """What a vanished trainer leaves behind: its lease expires."""
    redis_client.delete(keys.job_heartbeat(tenant, job_id))


def test_a_stale_attempt_can_write_nothing(stores, redis_client, tenant):
    jobs, lifecycle, datasets = stores
    job = queued(lifecycle, datasets, tenant)
    first = lifecycle.claim(tenant, job, "host:1", {"type": "cpu"})
    assert first is not None and first.token == 1
    assert lifecycle.append_epochs(first, 1, 1, [{"loss": 0.9}, {"loss": 0.8}], {"epoch": 2}) == 2

    lapse(redis_client, tenant, job.id)
    assert lifecycle.renew(first) is False  # a lapsed lease is not revived by its old holder
    assert lifecycle.requeue(tenant, jobs.get(tenant, job.id), "test")
    assert jobs.history(tenant, job.id, 2) == [[], []]  # the lost attempt's epochs went with it
    second = lifecycle.claim(tenant, jobs.get(tenant, job.id), "host:2", {"type": "cpu"})
    assert second is not None and second.token == 2

    with pytest.raises(Fenced):
        lifecycle.append_epochs(first, 1, 3, [{"loss": 0.1}], {"epoch": 3})
    with pytest.raises(Fenced):
        lifecycle.finish(first, JobStatus.SUCCEEDED, diagnosis={"verdict": "good_fit"}, verdict="good_fit")
    assert jobs.history(tenant, job.id, 2) == [[], []]
    assert jobs.get_diagnosis(tenant, job.id) is None

    assert lifecycle.append_epochs(second, 1, 1, [{"loss": 0.5}], {"epoch": 1}) == 1
    lifecycle.finish(second, JobStatus.SUCCEEDED, diagnosis={"verdict": "overfit"}, verdict="overfit")
    done = jobs.get(tenant, job.id)
    assert done.status == JobStatus.SUCCEEDED and done.verdict == "overfit" and done.attempts == 2
    assert jobs.get_diagnosis(tenant, job.id) == {"verdict": "overfit"}  # stored with the status, agreeing


def test_epochs_are_stored_once_and_gaps_are_refilled(stores, tenant):
    _, lifecycle, datasets = stores
    job = queued(lifecycle, datasets, tenant)
    claim = lifecycle.claim(tenant, job, "host:1", {"type": "cpu"})
    entries = [{"loss": 1.0 / n} for n in range(1, 6)]
    assert lifecycle.append_epochs(claim, 1, 1, entries[:3], {"epoch": 3}) == 3
    # A retry after a lost reply resends epochs already stored: none is stored twice.
    assert lifecycle.append_epochs(claim, 1, 2, entries[1:4], {"epoch": 4}) == 4
    # Epochs sent past a gap are refused with the count actually stored, to resend from there.
    assert lifecycle.append_epochs(claim, 2, 3, entries[2:3], {"epoch": 3}) == 0
    assert lifecycle.append_epochs(claim, 2, 1, entries[:3], {"epoch": 3}) == 3
    history = JobStore(lifecycle.r).history(tenant, job.id, 2)
    assert history == [entries[:4], entries[:3]]


def _reply_lost(script):
    """The script runs in Redis, but its caller never hears back (a connection cut after the write)."""
    calls = []

    def run(**kwargs):
        calls.append(kwargs)
        script(**kwargs)
        raise redis.ConnectionError("reply lost")

    return run, calls


def test_an_event_is_recorded_and_delivered_with_its_transition_even_when_the_reply_is_lost(stores, tenant):
    """The event log, the live stream and the webhook delivery are written by the transition's own
    script: a caller that dies, or loses Redis, right after a job finished cannot lose its
    `job.succeeded`; and the client's retry of the same script (its nonce) announces nothing twice."""
    jobs, lifecycle, datasets = stores
    hook = {"url": "https://hooks.example.com/lstm", "events": ["succeeded", "epoch"]}
    record = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=dataset(datasets, tenant),
                       config={**CONFIG, "webhook": hook}, created_at=now(), queued_at=now())
    lifecycle.submit(tenant, record, max_active=100)
    claim = lifecycle.claim(tenant, record, "host:1", {"type": "cpu"})
    live = lifecycle.r.pubsub(ignore_subscribe_messages=True)
    live.subscribe(keys.job_events(tenant, record.id))

    real_append = lifecycle._append
    lifecycle._append, appends = _reply_lost(real_append)
    with pytest.raises(redis.ConnectionError):
        lifecycle.append_epochs(claim, 1, 1, [{"loss": 0.5}, {"loss": 0.25}], {"epoch": 2})
    real_append(**appends[0])  # the client's retry: the same call again
    lifecycle._append = real_append

    real_transition = lifecycle._transition
    lifecycle._transition, transitions = _reply_lost(real_transition)
    with pytest.raises(redis.ConnectionError):
        lifecycle.finish(claim, JobStatus.SUCCEEDED, verdict="good_fit")
    assert real_transition(**transitions[0])[0] == 1  # the retry is recognised as already applied
    lifecycle._transition = real_transition

    assert jobs.get(tenant, record.id).status == JobStatus.SUCCEEDED
    events, _ = jobs.events(tenant, record.id, after=None, limit=50)
    said = [(e["type"], e["data"].get("status") or e["data"]["epoch"]) for e in events]
    assert said == [("status", "running"), ("epoch", 1), ("epoch", 2), ("status", "succeeded")]
    assert events[-1]["data"] == {"verdict": "good_fit", "status": "succeeded"}
    heard = []
    for _ in range(50):
        message = live.get_message(timeout=0.1)
        if message:
            heard.append(json.loads(message["data"]))
        if len(heard) == 3:
            break
    live.close()
    assert [(m["event"], m["id"]) for m in heard] == [(e["type"], e["id"]) for e in events[1:]]
    deliveries = jobs.deliveries.list(tenant, record.id)
    assert sorted(d["event"] for d in deliveries) == ["epoch", "epoch", "succeeded"]
    assert all(d["status"] == "pending" and d["url"] == hook["url"] and d["attempts"] == [] for d in deliveries)
    body = json.loads(next(d for d in deliveries if d["event"] == "succeeded")["body"])
    assert body["type"] == "job.succeeded" and body["data"]["verdict"] == "good_fit"
    due = lifecycle.r.zrange(keys.webhook_due(), 0, -1)
    assert sorted(due) == sorted(f"{tenant}/{record.id}/{d['id']}" for d in deliveries)


def test_every_ending_releases_the_dataset(stores, redis_client, tenant):
    jobs, lifecycle, datasets = stores
    dataset_id = dataset(datasets, tenant)
    lost = queued(lifecycle, datasets, tenant, dataset_id)
    cancelled = queued(lifecycle, datasets, tenant, dataset_id)
    failed = queued(lifecycle, datasets, tenant, dataset_id)
    with pytest.raises(DatasetInUse):
        datasets.delete(tenant, dataset_id)

    for attempt in range(2):  # lost twice: requeued each time (max_redeliveries=2)
        claim = lifecycle.claim(tenant, jobs.get(tenant, lost.id), f"host:{attempt}", {"type": "cpu"})
        assert claim is not None
        lapse(redis_client, tenant, lost.id)
        reap(jobs, lifecycle, max_redeliveries=2)
    assert jobs.get(tenant, lost.id).status == JobStatus.QUEUED
    assert lifecycle.claim(tenant, jobs.get(tenant, lost.id), "host:9", {"type": "cpu"}) is not None
    lapse(redis_client, tenant, lost.id)  # lost a third time: given up
    reap(jobs, lifecycle, max_redeliveries=2)
    given_up = jobs.get(tenant, lost.id)
    assert given_up.status == JobStatus.FAILED and given_up.error == worker_lost(3)

    assert lifecycle.cancel(tenant, cancelled)
    assert jobs.get(tenant, cancelled.id).status == JobStatus.CANCELLED
    assert lifecycle.give_up(tenant, failed, {"type": "not_enqueued", "message": "test"})
    assert datasets.delete(tenant, dataset_id) is not None  # nothing holds it any more
    assert jobs.active_count(tenant) == 0
    assert not any(m.startswith(f"{tenant}/") for m in redis_client.smembers(keys.running_jobs()))
    assert not any(m.startswith(f"{tenant}/") for m in redis_client.zrange(keys.outbox(), 0, -1))


def test_a_job_cancelled_while_its_trainer_was_lost_never_starts_again(stores, redis_client, tenant):
    jobs, lifecycle, datasets = stores
    job = queued(lifecycle, datasets, tenant)
    lifecycle.claim(tenant, job, "host:1", {"type": "cpu"})
    assert lifecycle.cancel(tenant, jobs.get(tenant, job.id))  # running: asked to stop
    lapse(redis_client, tenant, job.id)
    reap(jobs, lifecycle, max_redeliveries=2)
    assert lifecycle.claim(tenant, jobs.get(tenant, job.id), "host:2", {"type": "cpu"}) is None
    final = jobs.get(tenant, job.id)
    assert final.status == JobStatus.CANCELLED and final.attempts == 1


def test_a_job_is_submitted_with_its_expiry_in_one_step(stores, redis_client, tenant):
    _, lifecycle, datasets = stores
    expires = time.time() + 3600
    record = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=dataset(datasets, tenant),
                       config=CONFIG, created_at=now(), queued_at=now())
    lifecycle.submit(tenant, record, max_active=100, expires_ts=expires)
    assert redis_client.zscore(keys.expiry(), keys.expiry_member("job", tenant, record.id)) == pytest.approx(expires)
    refused = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=record.dataset_id,
                        config=CONFIG, created_at=now(), queued_at=now())
    with pytest.raises(SubmitRefused):
        lifecycle.submit(tenant, refused, max_active=1, expires_ts=expires)
    assert redis_client.zscore(keys.expiry(), keys.expiry_member("job", tenant, refused.id)) is None


def test_submit_is_refused_whole_when_the_dataset_is_gone_or_the_quota_full(stores, redis_client, tenant):
    jobs, lifecycle, datasets = stores
    ghost = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id="ds_gone", config=CONFIG,
                      created_at=now())
    with pytest.raises(SubmitRefused) as refused:
        lifecycle.submit(tenant, ghost)
    assert refused.value.why == "no_dataset"
    dataset_id = dataset(datasets, tenant)
    queued(lifecycle, datasets, tenant, dataset_id)
    extra = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=dataset_id, config=CONFIG,
                      created_at=now())
    with pytest.raises(SubmitRefused) as refused:
        lifecycle.submit(tenant, extra, max_active=1)
    assert refused.value.why == "quota"
    assert jobs.get(tenant, ghost.id) is None and jobs.get(tenant, extra.id) is None
    assert jobs.active_count(tenant) == 1


def test_two_reapers_racing_requeue_each_job_once(stores, own_redis, tenant):
    jobs, lifecycle, datasets = stores
    records = [queued(lifecycle, datasets, tenant) for _ in range(30)]
    for record in records:
        lifecycle.claim(tenant, record, "gone:1", {"type": "cpu"})
        lapse(lifecycle.r, tenant, record.id)
    events: list[dict] = []
    listener = worker_client(own_redis.url, 15.0).pubsub()
    listener.psubscribe(keys.job_events(tenant, "*"))
    listener.get_message(timeout=1)

    barrier = threading.Barrier(2)
    handled: list[int] = []

    def reaper() -> None:
        own = worker_client(own_redis.url, 15.0)  # each reaper its own process-like connection
        barrier.wait()
        handled.append(reap(JobStore(own), Lifecycle(own), max_redeliveries=2))

    threads = [threading.Thread(target=reaper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    deadline = time.monotonic() + 5
    while len(events) < len(records) and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.2)
        if message and message["type"] == "pmessage":
            events.append(json.loads(message["data"]))
    listener.close()

    assert sum(handled) == len(records)  # between them, each job moved exactly once
    assert sorted(e["data"]["status"] for e in events) == ["queued"] * len(records)
    for record in records:
        job = jobs.get(tenant, record.id)
        assert job.status == JobStatus.QUEUED and job.attempts == 1 and "lost" in job.reason
        assert jobs.in_outbox(tenant, record.id)


def test_outbox_sends_what_no_queue_holds_and_gives_up_past_its_bound(stores, redis_client, tenant):
    jobs, lifecycle, datasets = stores
    waiting = queued(lifecycle, datasets, tenant)
    orphan = queued(lifecycle, datasets, tenant)
    hopeless = queued(lifecycle, datasets, tenant)
    for record in (waiting, orphan, hopeless):
        lifecycle.not_sent(tenant, record)
    # A message for `waiting` is in a queue nobody here consumes; the others have none.
    redis_client.rpush("gpu", json.dumps({"headers": {"argsrepr": repr((tenant, waiting.id))}}))
    sent: list[str] = []

    def send(tenant_: str, job_id: str, device: str) -> None:
        if job_id == hopeless.id:
            raise redis.ConnectionError("broker away")
        sent.append(job_id)

    try:
        assert message_waiting(redis_client, waiting.id) and not message_waiting(redis_client, orphan.id)
        send_outbox(jobs, lifecycle, send, lambda job_id: message_waiting(redis_client, job_id),
                    recheck_s=60, give_up_s=-1)
    finally:
        redis_client.lrem("gpu", 0, json.dumps({"headers": {"argsrepr": repr((tenant, waiting.id))}}))
    assert [job_id for job_id in sent if job_id in {waiting.id, orphan.id, hopeless.id}] == [orphan.id]
    assert jobs.get(tenant, waiting.id).status == JobStatus.QUEUED
    assert jobs.get(tenant, orphan.id).status == JobStatus.QUEUED and jobs.in_outbox(tenant, orphan.id)
    assert jobs.get(tenant, orphan.id).reason is None  # sent: "not in a worker queue yet" no longer holds
    assert jobs.get(tenant, waiting.id).reason == NOT_SENT
    lost = jobs.get(tenant, hopeless.id)
    assert lost.status == JobStatus.FAILED and lost.error["type"] == "not_enqueued"
    assert not jobs.in_outbox(tenant, hopeless.id)
    # Taken entries wait `recheck_s` before the next look: a second sweep right away sends nothing.
    sent.clear()
    send_outbox(jobs, lifecycle, send, lambda _: False, recheck_s=60, give_up_s=3600)
    assert orphan.id not in sent


def test_job_counts_stay_exact_through_every_transition(stores, redis_client, tenant):
    """/metrics reads the counts the transition scripts keep; every path must move them exactly."""
    jobs, lifecycle, datasets = stores

    def delta(before: dict[str, int]) -> dict[str, int]:
        now_counts = jobs.counts()
        return {status: now_counts[status] - before[status] for status in now_counts if now_counts[status] != before[status]}

    before = jobs.counts()
    a, b, c, d = (queued(lifecycle, datasets, tenant) for _ in range(4))
    assert delta(before) == {"queued": 4}
    claim = lifecycle.claim(tenant, a, "host:1", {"type": "cpu"})
    assert claim is not None
    lifecycle.annotate(claim, baseline_loss=0.7)  # running -> running: no move
    lifecycle.not_sent(tenant, b)  # queued -> queued: no move
    assert delta(before) == {"queued": 3, "running": 1}
    lapse(redis_client, tenant, a.id)
    assert lifecycle.requeue(tenant, jobs.get(tenant, a.id), "test")
    assert not lifecycle.requeue(tenant, jobs.get(tenant, a.id), "test")  # refused: no move
    assert delta(before) == {"queued": 4}
    again = lifecycle.claim(tenant, jobs.get(tenant, a.id), "host:2", {"type": "cpu"})
    assert again is not None
    lifecycle.finish(again, JobStatus.SUCCEEDED, verdict="good_fit")
    with pytest.raises(Fenced):
        lifecycle.finish(again, JobStatus.FAILED)  # a second ending is refused, counts untouched
    assert lifecycle.cancel(tenant, b)
    lifecycle.cancel(tenant, c)  # the cancel flag is set; the claim records `cancelled`
    assert lifecycle.claim(tenant, jobs.get(tenant, c.id), "host:3", {"type": "cpu"}) is None
    assert lifecycle.give_up(tenant, jobs.get(tenant, d.id), worker_lost(3))
    assert delta(before) == {"succeeded": 1, "cancelled": 2, "failed": 1}
    for job in (a, b, c, d):
        lifecycle.delete(tenant, jobs.get(tenant, job.id) or job)
        lifecycle.delete(tenant, job)  # twice: counted out once
    assert delta(before) == {}
    assert jobs.counts() == jobs.count_by_status()


@pytest.mark.parametrize("cap", ["max_active", "max_stored"])
def test_twenty_submits_racing_at_the_quota_edge_never_overshoot(stores, redis_client, tenant, cap):
    jobs, lifecycle, datasets = stores
    dataset_id = dataset(datasets, tenant)
    limit = 5
    for _ in range(limit - 1):
        queued(lifecycle, datasets, tenant, dataset_id)
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def submit() -> None:
        record = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=dataset_id, config=CONFIG,
                           created_at=now(), queued_at=now())
        start.wait()
        try:
            lifecycle.submit(tenant, record, **{cap: limit})
            outcomes.append("accepted")
        except SubmitRefused as exc:
            outcomes.append(exc.why)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("accepted") == 1
    assert sorted(set(outcomes) - {"accepted"}) == ["quota" if cap == "max_active" else "stored"]
    assert redis_client.zcard(keys.job_index(tenant)) == limit
    assert jobs.active_count(tenant) == limit
