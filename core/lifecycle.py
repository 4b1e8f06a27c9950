"""The one owner of job state. Every change to a job (submit, claim, epoch, finish, cancel,
requeue, give up, delete) is one Lua script: it checks the state it expects and the attempt's
fencing token, writes, releases what the job held (its dataset, its quota slot, the running and
outbox entries), and records, publishes and schedules the webhook delivery of the event it causes
(``core.job_events``), all at once. Runner, reaper and routes call this
module; nothing else writes a job's keys (``core.jobs`` only reads them).

Fencing: ``attempts`` counts claims; the value a trainer got from its claim is its token. A
requeue, a cancel or a new claim moves the job on, and every later write carrying the old token
is refused (``Fenced``), so a trainer that lost its lease (Redis froze, a partition, a stopped
process) can neither append epochs nor write a result. Its lease is the heartbeat key: renewed
only while it exists, so once it lapsed the trainer is out even before anyone requeued the job.

Retries: each script carries a nonce, recorded with the write, so a call repeated by the client
after a lost reply (see ``core.redis_client``) is recognised as already applied.

Outbox: a queued job stays in the ``outbox`` sorted set (score: when to look at it again) until a
trainer claims it. The sender (``core.outbox``) resends a job whose message is in no queue, so a
failed send, a lost message or a crash between record and send never leaves a job queued forever.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis

from core import job_events, keys
from core.blobs import keys as blob_keys
from core.ids import now
from core.job_record import FINISHED, JobRecord, JobStatus, encode_fields

# KEYS: 1 job, 2 running set, 3 tenant's active set, 4 dataset users, 5 heartbeat, 6 cancel flag,
#       7 diagnosis, 8 outbox, 9 job counts by status (what /metrics reads), 10-12 what an event
#       writes (``job_events.event_keys``), 13.. what an attempt wrote (run histories, health
#       records, model records: cleared by a reset).
# ARGV[1]: the operation as JSON (see Lifecycle._apply). Field values arrive JSON-encoded already
# and are stored verbatim: cjson would round floats. ``op.announce`` maps each status the job may
# move to onto its event (``job_events.announcement``).
# Returns {1, previous status, attempts, new status} or {0, why, attempts}.
_TRANSITION = (
    job_events.LUA
    + """
local op = cjson.decode(ARGV[1])
local raw = redis.call('HGET', KEYS[1], 'status')
if not raw then return {0, 'gone', 0} end
local status = cjson.decode(raw)
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if redis.call('HGET', KEYS[1], 'last_op') == op.nonce then
  return {1, status, attempts, status}
end
local allowed = false
for _, s in ipairs(op.from) do if s == status then allowed = true end end
if not allowed then return {0, status, attempts} end
if op.token ~= nil and op.token ~= attempts then return {0, 'fenced', attempts} end
-- A trainer writes only under a live lease: once it lapsed the job is the reaper's.
if op.lease and redis.call('EXISTS', KEYS[5]) == 0 then return {0, 'lapsed', attempts} end

local to = op.to
local fields = op.fields or {}
if op.claim then
  if redis.call('EXISTS', KEYS[6]) == 1 then
    -- Cancelled while it waited (or while its last trainer was lost): it never starts again.
    to = 'cancelled'
    fields = op.cancel_fields
  else
    attempts = attempts + 1
    redis.call('HSET', KEYS[1], 'attempts', attempts)
    redis.call('SET', KEYS[5], op.owner, 'PX', op.ttl_ms)
  end
end
redis.call('HSET', KEYS[1], 'status', cjson.encode(to), 'last_op', op.nonce)
if to ~= status then
  redis.call('HINCRBY', KEYS[9], status, -1)
  redis.call('HINCRBY', KEYS[9], to, 1)
end
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end

local member = op.member
if to == 'running' then
  redis.call('SADD', KEYS[2], member)
  redis.call('ZREM', KEYS[8], member)
else
  redis.call('SREM', KEYS[2], member)
  if status == 'running' then redis.call('DEL', KEYS[5]) end
end
if to == 'queued' then redis.call('ZADD', KEYS[8], op.outbox_due_ms, member) end
if to == 'succeeded' or to == 'failed' or to == 'cancelled' then
  redis.call('SREM', KEYS[3], op.job_id)
  redis.call('SREM', KEYS[4], op.job_id)
  redis.call('ZREM', KEYS[8], member)
  redis.call('DEL', KEYS[5])
end
if op.reset_history then
  for i = 13, #KEYS do redis.call('DEL', KEYS[i]) end
end
if op.diagnosis then redis.call('SET', KEYS[7], op.diagnosis) end
if to ~= status and op.announce and op.announce[to] then
  local ctx = op.context
  ctx.job, ctx.log, ctx.deliveries, ctx.due = KEYS[1], KEYS[10], KEYS[11], KEYS[12]
  announce(ctx, op.announce[to])
end
return {1, status, attempts, to}
"""
)

# KEYS: 1 job, 2 index, 3 tenant's active set, 4 dataset users, 5 dataset record, 6 outbox,
#       7 job counts by status, 8 expiry (retention).
# ARGV: 1 job id, 2 "tenant/job", 3 most active jobs (0: no cap), 4 outbox due (ms), 5 most stored
# jobs (0: no cap), 6 expiry time ('': none), 7 the job's expiry member, 8.. fields.
# Returns {1, 'ok'} or {0, why, count}.
# The quota checks and the write are one step: twenty submits racing at the edge never overshoot.
_SUBMIT = """
if redis.call('EXISTS', KEYS[5]) == 0 then return {0, 'no_dataset', 0} end
local stored_cap = tonumber(ARGV[5])
local stored = redis.call('ZCARD', KEYS[2])
if stored_cap > 0 and stored >= stored_cap then return {0, 'stored', stored} end
local limit = tonumber(ARGV[3])
local active = redis.call('SCARD', KEYS[3])
if limit > 0 and active >= limit then return {0, 'quota', active} end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[2])
redis.call('HINCRBY', KEYS[7], 'queued', 1)
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[8], ARGV[6], ARGV[7]) end
return {1, 'ok', 0}
"""

# KEYS: 1 job, 2 run history (or its health records), 3 heartbeat (the lease), 4-6 what an event
# writes (``job_events.event_keys``). ARGV: 1 token, 2 position (1-based) of the first entry,
# 3 progress (JSON; empty: leave it), 4 n, 5 the events' context (JSON; empty: announce nothing),
# then n entries, then (with a context) n events, one per entry. Appends and announces only the
# entries not stored yet, so a repeated call does neither twice; a gap (entries lost) answers
# {-1, stored} and the caller resends from there. Returns {1, stored after, stored before} or {0, why}.
_APPEND = (
    job_events.LUA
    + """
local raw = redis.call('HGET', KEYS[1], 'status')
if not raw then return {0, 'gone'} end
if cjson.decode(raw) ~= 'running' then return {0, cjson.decode(raw)} end
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') ~= tonumber(ARGV[1]) then return {0, 'fenced'} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {0, 'lapsed'} end
local start = tonumber(ARGV[2])
local n = tonumber(ARGV[4])
local stored = redis.call('LLEN', KEYS[2])
if stored < start - 1 then return {-1, stored, stored} end
local ctx = nil
if ARGV[5] ~= '' then
  ctx = cjson.decode(ARGV[5])
  ctx.job, ctx.log, ctx.deliveries, ctx.due = KEYS[1], KEYS[4], KEYS[5], KEYS[6]
end
for i = stored - start + 2, n do
  redis.call('RPUSH', KEYS[2], ARGV[5 + i])
  if ctx then announce(ctx, cjson.decode(ARGV[5 + n + i])) end
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[3]) end
return {1, redis.call('LLEN', KEYS[2]), stored}
"""
)

# KEYS: 1 job, 2 heartbeat (the lease), 3 the job's model records. ARGV: 1 token, 2 run, 3 record.
# A trainer that lost the job cannot leave its model behind for the attempt that replaced it.
_SAVE_MODEL = """
local raw = redis.call('HGET', KEYS[1], 'status')
if not raw then return 'gone' end
if cjson.decode(raw) ~= 'running' then return cjson.decode(raw) end
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') ~= tonumber(ARGV[1]) then return 'fenced' end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'lapsed' end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return 'ok'
"""

# KEYS: 1 job, 2 heartbeat. ARGV: 1 token, 2 owner, 3 ttl (ms). A lease is renewed, never
# re-created: once it lapsed, the trainer holding it has lost the job.
_RENEW = """
local raw = redis.call('HGET', KEYS[1], 'status')
if not raw or cjson.decode(raw) ~= 'running' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') ~= tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: 1 job, 2 index, 3 active, 4 running, 5 dataset users, 6 diagnosis, 7 heartbeat, 8 outbox,
# 9 job counts by status, 10 blob purges, 11.. the job's other keys (histories, health records,
# model records, event log, webhook deliveries). ARGV: 1 job id, 2 "tenant/job", 3 the job's
# model files' prefix (their deletion is owed from this step on: ``core.trained_models``).
_DELETE = """
local raw = redis.call('HGET', KEYS[1], 'status')
if raw then redis.call('HINCRBY', KEYS[9], cjson.decode(raw), -1) end
redis.call('DEL', KEYS[1], KEYS[6], KEYS[7])
for i = 11, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('SADD', KEYS[10], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[2])
return 1
"""

# KEYS: 1 outbox. ARGV: 1 now (ms), 2 next look (ms), 3 most entries.
_TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, value in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], value) end
return due
"""

CANCEL_FLAG_TTL_S = 7 * 24 * 3600
NOT_SENT = "not in a worker queue yet: the broker did not take its message; it is sent again within seconds"


def worker_lost(attempts: int) -> dict[str, str]:
    """The error of a job given up after its trainer vanished ``attempts`` times."""
    return {"type": "worker_lost", "message": f"the worker training this job was lost {attempts} times; giving up"}


class Fenced(Exception):
    """This attempt no longer owns the job: it was requeued, cancelled, finished or deleted."""


class SubmitRefused(Exception):
    def __init__(self, why: str, count: int = 0) -> None:
        super().__init__(why)
        # "no_dataset"; "stored" (the tenant stores its most jobs) or "quota" (its most queued or
        # running jobs), with ``count`` the tenant's jobs of that kind.
        self.why = why
        self.count = count


@dataclass(frozen=True)
class Claim:
    """A trainer's hold on a job: ``token`` fences every write it makes."""

    tenant: str
    job_id: str
    token: int
    dataset_id: str
    runs: int
    owner: str


def member(tenant: str, job_id: str) -> str:
    return f"{tenant}/{job_id}"


def split_member(value: str) -> tuple[str, str]:
    tenant, _, job_id = value.partition("/")
    return tenant, job_id


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Lifecycle:
    def __init__(self, client: redis.Redis, *, heartbeat_ttl_s: float = 15.0, outbox_grace_s: float = 10.0) -> None:
        self.r = client
        self.heartbeat_ttl_s = heartbeat_ttl_s
        self.outbox_grace_s = outbox_grace_s
        self._transition = client.register_script(_TRANSITION)
        self._submit = client.register_script(_SUBMIT)
        self._append = client.register_script(_APPEND)
        self._renew = client.register_script(_RENEW)
        self._save_model = client.register_script(_SAVE_MODEL)
        self._delete = client.register_script(_DELETE)
        self._take = client.register_script(_TAKE_DUE)

    # -- API side -----------------------------------------------------------------------------
    def submit(
        self,
        tenant: str,
        record: JobRecord,
        *,
        max_active: int = 0,
        max_stored: int = 0,
        expires_ts: float | None = None,
    ) -> None:
        """Records a queued job, holding its dataset and a quota slot, in the outbox until claimed,
        and its expiry at ``expires_ts`` (retention), all in one step.

        Raises ``SubmitRefused`` (nothing written) when the dataset is gone or a quota is full:
        ``max_stored`` jobs kept, ``max_active`` queued or running (0: no cap).
        """
        fields = [part for pair in record.to_hash().items() for part in pair]
        due = _ms(time.time() + self.outbox_grace_s)
        ok, why, count = self._submit(
            keys=[
                keys.job(tenant, record.id),
                keys.job_index(tenant),
                keys.active_jobs(tenant),
                keys.dataset_users(tenant, record.dataset_id),
                keys.dataset(tenant, record.dataset_id),
                keys.outbox(),
                keys.job_counts(),
                keys.expiry(),
            ],
            args=[
                record.id,
                member(tenant, record.id),
                max_active,
                due,
                max_stored,
                "" if expires_ts is None else expires_ts,
                keys.expiry_member("job", tenant, record.id),
                *fields,
            ],
        )
        if not ok:
            raise SubmitRefused(why, int(count))

    def not_sent(self, tenant: str, job: JobRecord) -> None:
        """The broker refused the job's message: say so on the job and let the outbox resend it now."""
        self._apply(
            tenant,
            job,
            frm=[JobStatus.QUEUED],
            to=JobStatus.QUEUED,
            fields={"reason": NOT_SENT},
            outbox_due_ms=_ms(time.time()),
        )

    def sent(self, tenant: str, job: JobRecord, recheck_s: float) -> None:
        """The outbox sent the job's message again: the reason it gave no longer holds."""
        self._apply(
            tenant,
            job,
            frm=[JobStatus.QUEUED],
            to=JobStatus.QUEUED,
            fields={"reason": None},
            outbox_due_ms=_ms(time.time() + recheck_s),
        )

    def cancel(self, tenant: str, job: JobRecord) -> bool:
        """A queued job is cancelled outright; a running one is asked to stop (its trainer records
        ``cancelled`` at the next batch). Returns False when the job had already finished."""
        # The flag first: a trainer claiming the job from now on sees it and never starts.
        self.r.set(keys.job_cancel(tenant, job.id), 1, ex=CANCEL_FLAG_TTL_S)
        done = self._apply(
            tenant, job, frm=[JobStatus.QUEUED], to=JobStatus.CANCELLED, fields={"finished_at": now(), "reason": None}
        )
        if done:
            return True
        current = self.r.hget(keys.job(tenant, job.id), "status")
        return current is not None and JobStatus(json.loads(current)) not in FINISHED

    def delete(self, tenant: str, job: JobRecord) -> None:
        """Removes the job and everything it held, and owes the deletion of its model files (the
        caller then runs ``core.trained_models.delete_model_files``). A trainer still at it is
        fenced (the job is gone) and stops at its next batch (the cancel flag stays until it
        expires)."""
        self._delete(
            keys=[
                keys.job(tenant, job.id),
                keys.job_index(tenant),
                keys.active_jobs(tenant),
                keys.running_jobs(),
                keys.dataset_users(tenant, job.dataset_id),
                keys.job_diagnosis(tenant, job.id),
                keys.job_heartbeat(tenant, job.id),
                keys.outbox(),
                keys.job_counts(),
                keys.blob_purges(),
                *self._attempt_keys(tenant, job.id, job.runs),
                keys.job_event_log(tenant, job.id),
                keys.job_deliveries(tenant, job.id),
            ],
            args=[job.id, member(tenant, job.id), blob_keys.job_models_prefix(tenant, job.id)],
        )

    # -- trainer side ---------------------------------------------------------------------------
    def claim(self, tenant: str, job: JobRecord, owner: str, device: dict[str, Any]) -> Claim | None:
        """Starts (or restarts, after a lost trainer) an attempt. None when the job is no longer
        startable: finished, claimed by someone else meanwhile, or cancelled (then it is recorded
        ``cancelled`` here, never started)."""
        outcome = self._apply(
            tenant,
            job,
            frm=[JobStatus.QUEUED, JobStatus.RUNNING],
            to=JobStatus.RUNNING,
            token=job.attempts,
            fields={"started_at": now(), "device": device, "progress": None, "reason": None},
            claim=True,
            owner=owner,
            ttl_ms=_ms(self.heartbeat_ttl_s),
            reset_history=True,
            cancel_fields=encode_fields({"finished_at": now(), "reason": None}),
        )
        if outcome is None or outcome[3] != JobStatus.RUNNING:
            return None
        return Claim(tenant, job.id, int(outcome[2]), job.dataset_id, job.runs, owner)

    def annotate(self, claim: Claim, **fields: Any) -> None:
        """Sets fields of the running attempt (what was trained on, the baseline)."""
        self._fenced(claim, to=JobStatus.RUNNING, fields=fields)

    def renew(self, claim: Claim) -> bool:
        """Extends the attempt's lease; False once it is lost (lapsed, requeued, finished, deleted)."""
        return bool(
            self._renew(
                keys=[keys.job(claim.tenant, claim.job_id), keys.job_heartbeat(claim.tenant, claim.job_id)],
                args=[claim.token, claim.owner, _ms(self.heartbeat_ttl_s)],
            )
        )

    def append_epochs(
        self, claim: Claim, run: int, start: int, entries: list[dict[str, float | None]], progress: dict[str, Any]
    ) -> int:
        """Stores epochs ``start, start+1, …`` of ``run`` (those not stored yet) and announces each.

        Returns how many epochs the run has stored. Raises ``Fenced`` when the attempt lost the
        job. A gap (the store lost epochs, e.g. Redis restarted from an older file) comes back
        as a smaller count than ``start - 1``: the caller resends from there.
        """
        context = job_events.context(claim.tenant, claim.job_id)
        events = [
            job_events.announcement(
                claim.job_id, "epoch", {"run": run, "epoch": start + i, "metrics": m}, context["created_at"]
            )
            for i, m in enumerate(entries)
        ]
        result = self._append(
            keys=[
                keys.job(claim.tenant, claim.job_id),
                keys.job_history(claim.tenant, claim.job_id, run),
                keys.job_heartbeat(claim.tenant, claim.job_id),
                *job_events.event_keys(claim.tenant, claim.job_id),
            ],
            args=[
                claim.token,
                start,
                json.dumps(progress),
                len(entries),
                json.dumps(context),
                *(json.dumps(m) for m in entries),
                *(json.dumps(e) for e in events),
            ],
        )
        if result[0] == 0:
            raise Fenced(result[1])
        return int(result[1])

    def append_health(self, claim: Claim, run: int, start: int, entries: list[dict[str, Any]]) -> int:
        """Stores health records ``start, start+1, …`` (1-based: record 1 is epoch 0) of ``run``,
        those not stored yet, like ``append_epochs``; announces nothing. Raises ``Fenced``."""
        result = self._append(
            keys=[
                keys.job(claim.tenant, claim.job_id),
                keys.job_health(claim.tenant, claim.job_id, run),
                keys.job_heartbeat(claim.tenant, claim.job_id),
                *job_events.event_keys(claim.tenant, claim.job_id),
            ],
            args=[claim.token, start, "", len(entries), "", *(json.dumps(e) for e in entries)],
        )
        if result[0] == 0:
            raise Fenced(result[1])
        return int(result[1])

    def save_model(self, claim: Claim, run: int, record: dict[str, Any]) -> None:
        """Records the run's trained model (``core.trained_models``) under the attempt's lease."""
        outcome = self._save_model(
            keys=[
                keys.job(claim.tenant, claim.job_id),
                keys.job_heartbeat(claim.tenant, claim.job_id),
                keys.job_models(claim.tenant, claim.job_id),
            ],
            args=[claim.token, str(run), json.dumps(record)],
        )
        if outcome != "ok":
            raise Fenced(outcome)

    def finish(
        self,
        claim: Claim,
        status: JobStatus,
        *,
        diagnosis: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        verdict: str | None = None,
    ) -> None:
        """Ends the attempt: stores the result (and the diagnosis with it, so the two agree)."""
        if status not in FINISHED:
            raise ValueError(f"{status} is not a final status")
        fields = {"finished_at": now(), "error": error, "verdict": verdict, "reason": None}
        event = {k: v for k, v in (("error", error), ("verdict", verdict)) if v is not None}
        self._fenced(
            claim,
            to=status,
            fields=fields,
            event=event,
            diagnosis=json.dumps(diagnosis) if diagnosis is not None else None,
        )

    # -- housekeeping (reaper, outbox) ----------------------------------------------------------
    def requeue(self, tenant: str, job: JobRecord, reason: str) -> bool:
        """Puts a running job whose trainer vanished back in the queue (through the outbox)."""
        return (
            self._apply(
                tenant,
                job,
                frm=[JobStatus.RUNNING],
                to=JobStatus.QUEUED,
                token=job.attempts,
                fields={"progress": None, "device": None, "reason": reason, "queued_at": now()},
                reset_history=True,
                outbox_due_ms=_ms(time.time()),
            )
            is not None
        )

    def give_up(self, tenant: str, job: JobRecord, error: dict[str, Any]) -> bool:
        """Fails a job that cannot go on (its trainer was lost too often, or it could not be enqueued)."""
        return (
            self._apply(
                tenant,
                job,
                frm=[JobStatus.RUNNING, JobStatus.QUEUED],
                to=JobStatus.FAILED,
                token=job.attempts,
                fields={"finished_at": now(), "error": error, "reason": None},
                event={"error": error},
            )
            is not None
        )

    def due_outbox(self, limit: int, recheck_s: float) -> list[tuple[str, str]]:
        """(tenant, job_id) of queued jobs due for a look, taken atomically: each is pushed
        ``recheck_s`` into the future, so a second sweeper at the same moment does not take it too."""
        now_ms = _ms(time.time())
        taken = self._take(keys=[keys.outbox()], args=[now_ms, now_ms + _ms(recheck_s), limit])
        return [split_member(value) for value in taken]

    def forget_outbox(self, tenant: str, job_id: str) -> None:
        self.r.zrem(keys.outbox(), member(tenant, job_id))

    def forget_running(self, tenant: str, job_id: str) -> None:
        self.r.srem(keys.running_jobs(), member(tenant, job_id))

    # -- the machinery ----------------------------------------------------------------------------
    @staticmethod
    def _attempt_keys(tenant: str, job_id: str, runs: int) -> list[str]:
        """What one attempt writes besides the record: a new attempt starts from none of it."""
        return [
            *(keys.job_history(tenant, job_id, run) for run in range(1, runs + 1)),
            *(keys.job_health(tenant, job_id, run) for run in range(1, runs + 1)),
            keys.job_models(tenant, job_id),
        ]

    def _fenced(self, claim: Claim, *, to: JobStatus, **op: Any) -> None:
        ref = _Ref(claim.job_id, dataset_id=claim.dataset_id, runs=claim.runs, attempts=claim.token)
        if (
            self._apply(
                claim.tenant,
                ref,
                frm=[JobStatus.RUNNING],
                to=to,
                token=claim.token,
                lease=True,
                **op,
            )
            is None
        ):
            raise Fenced(f"attempt {claim.token} of {claim.job_id} no longer owns the job")

    def _apply(
        self,
        tenant: str,
        job: JobRecord | _Ref,
        *,
        frm: list[JobStatus],
        to: JobStatus,
        token: int | None = None,
        fields: dict[str, Any] | None = None,
        **extra: Any,
    ) -> list | None:
        event = extra.pop("event", None) or {}
        context = job_events.context(tenant, job.id)
        # The event of each status this transition can end in: ``to``, or a claim that finds the
        # job cancelled meanwhile.
        endings = [to, JobStatus.CANCELLED] if extra.get("claim") else [to]
        announce = {
            str(end): job_events.announcement(
                job.id, "status", {**(event if end == to else {}), "status": str(end)}, context["created_at"]
            )
            for end in endings
        }
        op: dict[str, Any] = {
            "from": [str(s) for s in frm],
            "to": str(to),
            "nonce": json.dumps(secrets.token_hex(8)),
            "fields": encode_fields(fields or {}),
            "member": member(tenant, job.id),
            "job_id": job.id,
            "context": context,
            "announce": announce,
            **{name: value for name, value in extra.items() if value is not None},
        }
        if token is not None:
            op["token"] = token
        if not op["fields"]:
            del op["fields"]  # cjson would read {} back as an array-or-object; leave it out instead
        result = self._transition(
            keys=[
                keys.job(tenant, job.id),
                keys.running_jobs(),
                keys.active_jobs(tenant),
                keys.dataset_users(tenant, job.dataset_id),
                keys.job_heartbeat(tenant, job.id),
                keys.job_cancel(tenant, job.id),
                keys.job_diagnosis(tenant, job.id),
                keys.outbox(),
                keys.job_counts(),
                *job_events.event_keys(tenant, job.id),
                *self._attempt_keys(tenant, job.id, job.runs),
            ],
            args=[json.dumps(op)],
        )
        return result if result[0] == 1 else None


@dataclass(frozen=True)
class _Ref:
    """Just what a transition needs to know of a job to name its keys."""

    id: str
    dataset_id: str
    runs: int
    attempts: int
