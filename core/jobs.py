"""Job records, their per-epoch histories, diagnoses, cancel flags and live events, in Redis.

Both sides use this store: the API creates and reads jobs, the worker moves them through their
lifecycle. Status changes go through one compare-and-set script so a cancel racing a start (or a
reaper racing a finishing worker) has exactly one winner.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

import redis

from core import keys
from core.ids import now
from core.pagination import newest_first
from core.webhooks.deliveries import DeliveryStore, payload, webhook_event

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")

# KEYS[1] job hash, KEYS[2] job counts by status; ARGV[1] JSON list of allowed current statuses;
# ARGV[2] new status; ARGV[3..] field/value pairs to set with it. Returns the previous status, or
# false. The counts move in the same step, so /metrics reads them instead of every job.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
local allowed = cjson.decode(ARGV[1])
for _, s in ipairs(allowed) do
  if cjson.encode(s) == current then
    redis.call('HSET', KEYS[1], 'status', cjson.encode(ARGV[2]))
    redis.call('HINCRBY', KEYS[2], cjson.decode(current), -1)
    redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
    for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
    return current
  end
end
return false
"""


# Worker writes land only on a job that still exists: a job deleted mid-training must not be
# resurrected as a half-filled hash by the worker's next progress update.
# KEYS[1] job hash, KEYS[2] target; ARGV: HSET field/value pairs, or one RPUSH value.
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HSET', KEYS[1], unpack(ARGV))
"""
_APPEND_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('RPUSH', KEYS[2], ARGV[1])
"""


# Events are recorded only for a job that still exists, like every other worker write.
# KEYS[1] job hash, KEYS[2] event log; ARGV[1] most entries kept, ARGV[2] type, ARGV[3] data, ARGV[4] time.
_RECORD_EVENT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[2], 'data', ARGV[3], 'created_at', ARGV[4])
"""
# Every epoch of the largest job the default limits allow (1000 epochs x 10 runs), plus its statuses.
EVENT_LOG_MAX = 10_100


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    return {name: json.dumps(value) for name, value in fields.items()}


def _decode(raw: dict[str, str]) -> dict[str, Any]:
    return {name: json.loads(value) for name, value in raw.items()}


class JobStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._transition = client.register_script(_TRANSITION)
        self._update = client.register_script(_UPDATE_IF_EXISTS)
        self._append = client.register_script(_APPEND_IF_EXISTS)
        self._record_event = client.register_script(_RECORD_EVENT)
        self.deliveries = DeliveryStore(client)

    # Records
    def create(self, tenant: str, job: dict[str, Any]) -> None:
        with self.r.pipeline() as p:
            p.hset(keys.job(tenant, job["id"]), mapping=_encode(job))
            p.zadd(keys.job_index(tenant), {job["id"]: 0})
            p.sadd(keys.active_jobs(tenant), job["id"])
            p.hincrby(keys.job_counts(), job["status"], 1)
            p.execute()

    def get(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        raw = self.r.hgetall(keys.job(tenant, job_id))
        return _decode(raw) if raw else None

    def update(self, tenant: str, job_id: str, **fields: Any) -> None:
        args = [part for pair in _encode(fields).items() for part in pair]
        self._update(keys=[keys.job(tenant, job_id)], args=args)

    def transition(self, tenant: str, job_id: str, allowed: tuple[str, ...], status: str, **fields: Any) -> str | None:
        """Sets ``status`` (and ``fields``) only if the current status is in ``allowed``.

        Returns the previous status, or None when the job is gone or in another state.
        """
        args: list[str] = [json.dumps(list(allowed)), status]
        for name, value in _encode(fields).items():
            args += [name, value]
        previous = self._transition(keys=[keys.job(tenant, job_id), keys.job_counts()], args=args)
        if previous is None:
            return None
        member = f"{tenant}/{job_id}"
        with self.r.pipeline() as p:
            if status == "running":
                p.sadd(keys.running_jobs(), member)
            else:
                p.srem(keys.running_jobs(), member)
            if status in FINISHED:
                p.srem(keys.active_jobs(tenant), job_id)
            p.execute()
        return json.loads(previous)

    def list(
        self, tenant: str, *, limit: int, cursor: str | None, status: str | None = None, dataset_id: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        def keep(job: dict[str, Any]) -> bool:
            return (status is None or job["status"] == status) and (
                dataset_id is None or job["dataset_id"] == dataset_id
            )

        def load(ids: list[str]) -> list[dict[str, Any] | None]:
            with self.r.pipeline() as p:
                for job_id in ids:
                    p.hgetall(keys.job(tenant, job_id))
                return [_decode(raw) if raw else None for raw in p.execute()]

        return newest_first(self.r, keys.job_index(tenant), load, limit=limit, cursor=cursor, keep=keep)

    def active_count(self, tenant: str) -> int:
        return self.r.scard(keys.active_jobs(tenant))

    def delete(self, tenant: str, job_id: str, runs: int) -> None:
        """Removes the job; its cancel flag stays (it expires) so a worker still training it stops."""
        status = self.r.hget(keys.job(tenant, job_id), "status")
        with self.r.pipeline() as p:
            p.delete(keys.job(tenant, job_id))
            p.delete(
                keys.job(tenant, job_id),
                keys.job_diagnosis(tenant, job_id),
                keys.job_heartbeat(tenant, job_id),
                keys.job_event_log(tenant, job_id),
                keys.job_deliveries(tenant, job_id),
                keys.job_models(tenant, job_id),
                *(keys.job_history(tenant, job_id, run) for run in range(1, runs + 1)),
                *(keys.job_health(tenant, job_id, run) for run in range(1, runs + 1)),
            )
            p.zrem(keys.job_index(tenant), job_id)
            p.srem(keys.active_jobs(tenant), job_id)
            p.srem(keys.running_jobs(), f"{tenant}/{job_id}")
            removed = p.execute()[0]
        if removed and status:
            # Only the caller whose DEL removed the record counts it out.
            self.r.hincrby(keys.job_counts(), json.loads(status), -1)

    # Histories
    def append_epoch(self, tenant: str, job_id: str, run: int, metrics: dict[str, float | None]) -> int:
        """Appends one epoch's metrics to a run; returns the number of epochs now recorded."""
        job_key = keys.job(tenant, job_id)
        return int(self._append(keys=[job_key, keys.job_history(tenant, job_id, run)], args=[json.dumps(metrics)]) or 0)

    def history(self, tenant: str, job_id: str, runs: int) -> builtins.list[builtins.list[dict[str, float | None]]]:
        """Per run, the list of per-epoch metric dicts recorded so far."""
        with self.r.pipeline() as p:
            for run in range(1, runs + 1):
                p.lrange(keys.job_history(tenant, job_id, run), 0, -1)
            return [[json.loads(e) for e in epochs] for epochs in p.execute()]

    def reset_history(self, tenant: str, job_id: str, runs: int) -> None:
        self.r.delete(
            *(keys.job_history(tenant, job_id, run) for run in range(1, runs + 1)),
            *(keys.job_health(tenant, job_id, run) for run in range(1, runs + 1)),
        )

    # Health records (worker.health): one per epoch and run, epoch 0 before training
    def append_health(self, tenant: str, job_id: str, run: int, record: dict[str, Any]) -> int:
        job_key = keys.job(tenant, job_id)
        return int(self._append(keys=[job_key, keys.job_health(tenant, job_id, run)], args=[json.dumps(record)]) or 0)

    def health(self, tenant: str, job_id: str, runs: int) -> builtins.list[builtins.list[dict[str, Any]]]:
        with self.r.pipeline() as p:
            for run in range(1, runs + 1):
                p.lrange(keys.job_health(tenant, job_id, run), 0, -1)
            return [[json.loads(e) for e in records] for records in p.execute()]

    # Diagnosis
    def set_diagnosis(self, tenant: str, job_id: str, diagnosis: dict[str, Any]) -> None:
        self.r.set(keys.job_diagnosis(tenant, job_id), json.dumps(diagnosis))

    def get_diagnosis(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        raw = self.r.get(keys.job_diagnosis(tenant, job_id))
        return json.loads(raw) if raw else None

    # Cancellation and liveness
    def request_cancel(self, tenant: str, job_id: str) -> None:
        self.r.set(keys.job_cancel(tenant, job_id), 1, ex=7 * 24 * 3600)

    def cancel_requested(self, tenant: str, job_id: str) -> bool:
        return bool(self.r.exists(keys.job_cancel(tenant, job_id)))

    def heartbeat(self, tenant: str, job_id: str, ttl_s: float, owner: str) -> None:
        """Proof of life of the process training the job; ``owner`` says which process that is."""
        self.r.set(keys.job_heartbeat(tenant, job_id), owner, px=int(ttl_s * 1000))

    def heartbeat_owner(self, tenant: str, job_id: str) -> str | None:
        """The owner of a live heartbeat, or None once it expired (the trainer is gone)."""
        return self.r.get(keys.job_heartbeat(tenant, job_id))

    def running(self) -> builtins.list[tuple[str, str]]:
        """(tenant, job_id) of every job marked running, across tenants."""
        pairs = (member.split("/", 1) for member in self.r.smembers(keys.running_jobs()))
        return [(tenant, job_id) for tenant, job_id in pairs]

    def forget_running(self, tenant: str, job_id: str) -> None:
        self.r.srem(keys.running_jobs(), f"{tenant}/{job_id}")

    # Events
    def publish(self, tenant: str, job_id: str, event: str, data: dict[str, Any]) -> str | None:
        """Records the event in the job's event log (the JSON event list), announces it to live
        streams, and schedules its webhook delivery when the job's webhook asks for it. Returns the
        event's id (None when the job no longer exists)."""
        created_at = now()
        event_id = self._record_event(
            keys=[keys.job(tenant, job_id), keys.job_event_log(tenant, job_id)],
            args=[EVENT_LOG_MAX, event, json.dumps(data), created_at],
        )
        self.r.publish(keys.job_events(tenant, job_id), json.dumps({"event": event, "data": data, "id": event_id}))
        name = webhook_event(event, data)
        if event_id and name:
            config = self.r.hget(keys.job(tenant, job_id), "config")
            webhook = json.loads(config).get("webhook") if config else None
            if webhook and name in webhook["events"]:
                self.deliveries.schedule(
                    tenant, job_id, event_id, name, webhook["url"], payload(job_id, name, data, created_at)
                )
        return event_id

    def events(
        self, tenant: str, job_id: str, *, after: str | None, limit: int
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """One page of recorded events, oldest first, after the event id ``after``; and the cursor
        of the next page (None when this page reaches the end)."""
        entries = self.r.xrange(keys.job_event_log(tenant, job_id), f"({after}" if after else "-", "+", count=limit + 1)
        items = [
            {
                "id": entry_id,
                "type": fields["type"],
                "created_at": fields["created_at"],
                "data": json.loads(fields["data"]),
            }
            for entry_id, fields in entries[:limit]
        ]
        return items, (items[-1]["id"] if len(entries) > limit else None)

    # Operations
    def counts(self) -> dict[str, int]:
        """Stored jobs per status across every tenant (for /metrics): one HGETALL of the counts
        kept as jobs are created, change state and are deleted, so a scrape is O(1) in jobs.
        Counted from the records once when the counts do not exist yet (an older keyspace)."""
        raw = self.r.hgetall(keys.job_counts())
        if not raw and self.r.set(keys.job_counts_rebuild(), 1, nx=True, ex=600):
            counted = self.count_by_status()
            with self.r.pipeline() as p:
                for name, count in counted.items():
                    p.hincrby(keys.job_counts(), name, count)
                p.execute()
            raw = self.r.hgetall(keys.job_counts())
        counts = dict.fromkeys((*ACTIVE, *FINISHED), 0)
        counts.update({name: max(int(value), 0) for name, value in raw.items()})
        return counts

    def count_by_status(self, batch: int = 500) -> dict[str, int]:
        """Jobs per status across every tenant, counted from the records: O(jobs). Only used to
        seed the maintained counts (``counts``) of a keyspace that has none."""
        counts = dict.fromkeys((*ACTIVE, *FINISHED), 0)
        for index in self.r.scan_iter(match=keys.job_index_pattern(), count=100):
            tenant = keys.tenant_of(index)
            ids = self.r.zrange(index, 0, -1)
            for start in range(0, len(ids), batch):
                with self.r.pipeline(transaction=False) as p:
                    for job_id in ids[start : start + batch]:
                        p.hget(keys.job(tenant, job_id), "status")
                    for raw in p.execute():
                        if raw:
                            status = json.loads(raw)
                            counts[status] = counts.get(status, 0) + 1
        return counts
