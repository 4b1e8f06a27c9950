"""Webhook delivery records and their schedule.

Each job event a job's webhook asks for becomes one delivery with a stable id (Standard Webhooks'
`webhook-id`, the receiver's key for dropping duplicates) and a fixed body, kept in a per-job hash
and listed at GET /v1/jobs/{id}/deliveries. When the next attempt is due lives in one sorted set
across tenants. A dispatcher *leases* due deliveries by pushing their time forward instead of
removing them, so a dispatcher that dies mid-send leaves its deliveries due again once the lease
ends: at least once, never lost. (Celery countdowns would hold a retry in a worker's memory for
up to ten hours, past the broker's visibility timeout, which then hands it out a second time.)

A job event's delivery is recorded and scheduled inside the Lua script of the transition that
causes the event (``core.job_events``), with this module's ``SCHEDULE_LUA``: one step, so no
crash or lost Redis in between can drop it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC
from typing import Any

import redis

from core import keys
from core.job_record import FINISHED, JobStatus

# A job's webhook events are named after the statuses they announce.
TERMINAL_EVENTS = tuple(str(status) for status in JobStatus if status in FINISHED)
MAX_ATTEMPTS_KEPT = 20

# A Lua function, prepended to the scripts that schedule deliveries: records a delivery (its
# record minus id and url, as JSON) unless one with this id exists, and makes it due at `now_s`.
# The same event scheduled twice stays one delivery.
SCHEDULE_LUA = """
local function schedule_delivery(deliveries, due, member, ident, url, record, now_s)
  local full = '{"id":' .. cjson.encode(ident) .. ',"url":' .. cjson.encode(url) .. ',' .. string.sub(record, 2)
  if redis.call('HSETNX', deliveries, ident, full) == 1 then
    redis.call('ZADD', due, now_s, member .. '/' .. ident)
  end
  return ident
end
"""

# KEYS: 1 the job's deliveries, 2 due set. ARGV: 1 id, 2 record, 3 "tenant/job/id", 4 next attempt
# due ('' when the delivery ended). Writes only over a record that still exists: a job deleted
# while its delivery was being sent is not brought back as a deliveries hash nobody owns.
_RECORD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) else redis.call('ZREM', KEYS[2], ARGV[3]) end
return 1
"""

# KEYS[1] due set; ARGV[1] now, ARGV[2] lease seconds, ARGV[3] most to take.
# Returns the members taken; each is pushed to now + lease until its attempt is recorded.
_LEASE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local until_ = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], until_, member) end
return due
"""


def webhook_event(event: str, data: dict[str, Any]) -> str | None:
    """The webhook event name of a job event (`status` events by their status), or None."""
    if event == "epoch":
        return "epoch"
    if event == "status" and data.get("status") in (JobStatus.RUNNING, *FINISHED):
        return str(data["status"])
    return None


def payload(job_id: str, name: str, data: dict[str, Any], created_at: str) -> dict[str, Any]:
    """The delivered body: Standard Webhooks' `{type, timestamp, data}` shape."""
    base = f"/v1/jobs/{job_id}"
    body: dict[str, Any] = {"job_id": job_id, **data}
    if name != "epoch":
        body["links"] = {
            "job": base,
            "diagnosis": f"{base}/diagnosis",
            "model": f"{base}/model",
            "events": f"{base}/events",
        }
    return {"type": f"job.{name}", "timestamp": created_at, "data": body}


def delivery_record(name: str, body: dict[str, Any], created_at: str) -> str:
    """A new delivery's record as JSON, without its id and url (``SCHEDULE_LUA`` adds both)."""
    record = {
        "event": name,
        "type": body["type"],
        "status": "pending",
        "created_at": created_at,
        "next_attempt_at": created_at,
        "attempts": [],
        "body": json.dumps(body, separators=(",", ":")),
    }
    return json.dumps(record, separators=(",", ":"))


class DeliveryStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._lease = client.register_script(_LEASE)
        self._record = client.register_script(_RECORD)

    def lease(self, lease_s: float, most: int = 16) -> list[tuple[str, str, str]]:
        """(tenant, job_id, delivery_id) of deliveries due now, each leased for ``lease_s``."""
        taken = self._lease(keys=[keys.webhook_due()], args=[time.time(), lease_s, most])
        return [(t, j, d) for t, j, d in (member.split("/", 2) for member in taken)]

    def get(self, tenant: str, job_id: str, ident: str) -> dict[str, Any] | None:
        raw = self.r.hget(keys.job_deliveries(tenant, job_id), ident)
        return json.loads(raw) if raw else None

    def list(self, tenant: str, job_id: str) -> list[dict[str, Any]]:
        records = [json.loads(raw) for raw in self.r.hvals(keys.job_deliveries(tenant, job_id))]
        return sorted(records, key=lambda record: (record["created_at"], record["id"]))

    def forget(self, tenant: str, job_id: str, ident: str) -> None:
        """Takes a delivery off the schedule (its job is gone, or it already ended)."""
        self.r.zrem(keys.webhook_due(), f"{tenant}/{job_id}/{ident}")

    def record_attempt(
        self, tenant: str, job_id: str, ident: str, attempt: dict[str, Any], retry_in_s: float | None
    ) -> dict[str, Any] | None:
        """Adds an attempt; schedules the next one in ``retry_in_s`` seconds, or ends the delivery
        (delivered, or given up when ``retry_in_s`` is None after a failure)."""
        record = self.get(tenant, job_id, ident)
        member = f"{tenant}/{job_id}/{ident}"
        if record is None:  # the job was deleted: nothing left to deliver
            self.r.zrem(keys.webhook_due(), member)
            return None
        record["attempts"] = [*record["attempts"], attempt][-MAX_ATTEMPTS_KEPT:]
        record["attempt_count"] = record.get("attempt_count", 0) + 1
        if attempt["ok"]:
            record.update(status="succeeded", next_attempt_at=None)
        elif retry_in_s is None:
            record.update(status="failed", next_attempt_at=None)
        else:
            due = time.time() + retry_in_s
            record["next_attempt_at"] = _iso(due)
        kept = self._record(
            keys=[keys.job_deliveries(tenant, job_id), keys.webhook_due()],
            args=[ident, json.dumps(record), member, due if record["status"] == "pending" else ""],
        )
        return record if kept else None


def _iso(epoch_s: float) -> str:
    from datetime import datetime

    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
