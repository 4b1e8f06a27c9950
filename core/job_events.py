"""A job event, from the transition that causes it to everyone who hears of it, in one step.

Every job event (a status change, an epoch) is recorded in the job's event log (the JSON event
list, resumable streams), published to live streams, and scheduled as a webhook delivery when the
job's webhook asks for it. All of it happens inside the Lua script of the transition that causes
the event (``core.lifecycle`` prepends ``LUA`` to its scripts): a process killed, or Redis lost,
between a transition and its announcement cannot leave a finished job whose `job.succeeded` never
reaches the log or the caller's webhook, and a script repeated after a lost reply (recognised by
its nonce) announces nothing twice.

Python prepares each possible event (``announcement``: its data as JSON, the webhook event it is,
the delivery record); Lua records and publishes it, and reads the job's webhook from the job's own
config, so it holds even for a transition that does not have the job record at hand.
"""

from __future__ import annotations

import json
import time
from typing import Any

from core import keys
from core.ids import now
from core.webhooks.deliveries import SCHEDULE_LUA, delivery_record, payload, webhook_event

# Every epoch of the largest job the default limits allow (1000 epochs x 10 runs), plus its statuses.
EVENT_LOG_MAX = 10_100

# Lua, prepended to a script: announce(ctx, ev) records, publishes and schedules one event.
# ctx: job, log, deliveries, due (keys); channel, member ("tenant/job"), job_id, created_at, now_s.
# ev: type, data (JSON text, stored and sent verbatim: cjson would round floats), and for a
# webhook event its name (webhook) and delivery record (record).
LUA = (
    f"local EVENT_LOG_MAX = {EVENT_LOG_MAX}\n"
    + SCHEDULE_LUA
    + """
local function announce(ctx, ev)
  local id = redis.call('XADD', ctx.log, 'MAXLEN', '~', EVENT_LOG_MAX, '*',
    'type', ev.type, 'data', ev.data, 'created_at', ctx.created_at)
  redis.call('PUBLISH', ctx.channel,
    '{"event":' .. cjson.encode(ev.type) .. ',"data":' .. ev.data .. ',"id":' .. cjson.encode(id) .. '}')
  if ev.webhook then
    local config = redis.call('HGET', ctx.job, 'config')
    local hook = config and cjson.decode(config).webhook
    if type(hook) == 'table' then
      for _, name in ipairs(hook.events) do
        if name == ev.webhook then
          local ident = 'msg_' .. string.sub(redis.sha1hex(ctx.job_id .. '/' .. id), 1, 26)
          schedule_delivery(ctx.deliveries, ctx.due, ctx.member, ident, hook.url, ev.record, ctx.now_s)
        end
      end
    end
  end
  return id
end
"""
)


def event_keys(tenant: str, job_id: str) -> list[str]:
    """The keys ``announce`` writes besides the job: its event log, its deliveries, the due set."""
    return [keys.job_event_log(tenant, job_id), keys.job_deliveries(tenant, job_id), keys.webhook_due()]


def context(tenant: str, job_id: str) -> dict[str, Any]:
    """``ctx`` for ``announce``, less the keys the script fills in from its KEYS."""
    return {
        "channel": keys.job_events(tenant, job_id),
        "member": f"{tenant}/{job_id}",
        "job_id": job_id,
        "created_at": now(),
        "now_s": time.time(),
    }


def announcement(job_id: str, event: str, data: dict[str, Any], created_at: str) -> dict[str, Any]:
    """``ev`` for ``announce``: one event as the script records, publishes and delivers it."""
    ev: dict[str, Any] = {"type": event, "data": json.dumps(data)}
    name = webhook_event(event, data)
    if name:
        ev["webhook"] = name
        ev["record"] = delivery_record(name, payload(job_id, name, data, created_at), created_at)
    return ev
