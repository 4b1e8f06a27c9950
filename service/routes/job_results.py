"""What a job produces, readable while it runs: history, diagnosis, plots and live events."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

import redis
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.background import BackgroundTask

from core.job_config import main_metric, run_seeds
from core.job_record import FINISHED, JobRecord
from diagnosis.engine import MIN_EPOCHS, diagnose
from service.deps import ContainerDep, Jobs, Plots, Tenant
from service.event_hub import EventHub, Subscription
from service.lookups import job_or_404
from service.plot_responses import PLOT_RESPONSES, plot_response
from service.presenters import columns, is_final
from service.problems import Problem, problem_responses
from service.schemas import Diagnosis, EventPage, JobHistory
from service.stream_slots import StreamLimit, StreamSlot, StreamSlots

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["jobs"])
_ERRORS = problem_responses(401, 404, 409)


def histories(jobs: Jobs, tenant: str, record: JobRecord) -> list[dict]:
    return [columns(epochs) for epochs in jobs.history(tenant, record.id, record.runs)]


def health_records(jobs: Jobs, tenant: str, record: JobRecord) -> list[list[dict]]:
    return jobs.health(tenant, record.id, record.runs)


def current_diagnosis(jobs: Jobs, tenant: str, record: JobRecord, runs: list[dict]) -> dict | None:
    """The stored final diagnosis, or one read from the history so far (None below MIN_EPOCHS)."""
    stored = jobs.get_diagnosis(tenant, record.id)
    if stored is not None:
        return stored
    started = [run for run in runs if len(run.get("loss", [])) > 0]
    if not started or max(len(run["loss"]) for run in started) < MIN_EPOCHS:
        return None
    config = record.config
    seeds = run_seeds(record.seed, len(started))
    return diagnose(
        started,
        task=record.task,
        baseline_loss=record.baseline_loss,
        final=is_final(record),
        seeds=seeds,
        config=config,
        data_findings=record.data_findings,
        health=health_records(jobs, tenant, record)[: len(started)],
        stop_on=config["training"].get("stop_on") or (),
    )


@router.get("/history", response_model=JobHistory, responses=_ERRORS)
def get_history(job_id: str, tenant: Tenant, jobs: Jobs) -> dict:
    record = job_or_404(jobs, tenant, job_id)
    runs = histories(jobs, tenant, record)
    seeds = run_seeds(record.seed, len(runs))
    health = health_records(jobs, tenant, record)
    return {
        "runs": [
            {
                "run": i,
                "seed": seed,
                "epochs_completed": len(run.get("loss", [])),
                "history": run,
                "health": columns(records) if records else None,
            }
            for i, (run, seed, records) in enumerate(zip(runs, seeds, health), start=1)
        ]
    }


@router.get("/diagnosis", response_model=Diagnosis, responses=_ERRORS)
def get_diagnosis(job_id: str, tenant: Tenant, jobs: Jobs) -> dict:
    record = job_or_404(jobs, tenant, job_id)
    diagnosis = current_diagnosis(jobs, tenant, record, histories(jobs, tenant, record))
    if diagnosis is None:
        raise Problem(
            409,
            f"Job {job_id} has fewer than {MIN_EPOCHS} epochs so far ({record.status}); "
            "a diagnosis needs a few epochs — try again shortly.",
            headers={"Retry-After": "2"},
        )
    return diagnosis


@router.get("/plots/{filename}", responses={**PLOT_RESPONSES, **_ERRORS})
def get_plot(job_id: str, filename: str, request: Request, tenant: Tenant, jobs: Jobs, plots: Plots):
    record = job_or_404(jobs, tenant, job_id)
    runs = histories(jobs, tenant, record)
    diagnosis = current_diagnosis(jobs, tenant, record, runs)
    expected = ["loss", main_metric(record.task)]
    return plot_response(
        request,
        plots,
        f"job:{tenant}:{job_id}",
        runs,
        diagnosis,
        filename,
        expected,
        health=health_records(jobs, tenant, record),
    )


_EVENT_ID = re.compile(r"\d{1,20}-\d{1,20}")
# A stream's own reads of Redis (the job, its history) wait this long at most, whatever the
# client's socket timeouts: past it the stream ends with `reason: unavailable` instead of hanging.
STREAM_READ_S = 3.0


class _Unavailable(Exception):
    """Redis did not answer a stream's read in time."""


async def _read(call, *args):
    try:
        return await asyncio.wait_for(asyncio.to_thread(call, *args), STREAM_READ_S)
    except (redis.RedisError, TimeoutError) as exc:
        raise _Unavailable from exc


@router.get(
    "/events",
    response_model=EventPage,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events; with `Accept: application/json`, a page of the "
            "recorded events, oldest first",
        },
        **problem_responses(429),
        **_ERRORS,
    },
)
async def job_events(
    job_id: str,
    request: Request,
    tenant: Tenant,
    jobs: Jobs,
    container: ContainerDep,
    after: Annotated[str | None, Query(description="JSON list: events after this event id", max_length=41)] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="JSON list: page size")] = 100,
):
    # Off the event loop: a slow Redis must not stall every other request.
    record = await run_in_threadpool(job_or_404, jobs, tenant, job_id)
    if _wants_json(request.headers.get("accept", "")):
        if after is not None and not _EVENT_ID.fullmatch(after):
            raise Problem(
                422,
                f"after={after[:41]!r} is not an event id; pass the `id` of the last event you read (or next_cursor).",
                title="Validation failed",
                errors=[{"loc": ["query", "after"], "msg": "not an event id"}],
            )
        items, next_cursor = await asyncio.to_thread(jobs.events, tenant, job_id, after=after, limit=limit)
        return JSONResponse(EventPage(items=items, next_cursor=next_cursor).model_dump(mode="json"))
    hub: EventHub = request.app.state.event_hub
    slots: StreamSlots = request.app.state.stream_slots
    settings = container.settings
    try:
        slot = await slots.take(tenant)
    except StreamLimit:
        raise Problem(
            429,
            f"You already have {settings.max_streams_per_tenant} event streams open "
            "(LSTM_DOCTOR_MAX_STREAMS_PER_TENANT, counted across every API process); close one, "
            "or poll GET /v1/jobs/{id}.",
            headers={"Retry-After": "5"},
        ) from None
    # Subscribed before what exists is read, so nothing published in between is lost.
    subscription = await hub.subscribe(tenant, job_id)
    deadline = time.monotonic() + settings.max_stream_s

    async def close() -> None:
        subscription.close()
        await slot.release()

    # The generator's own cleanup runs only once it started; the background task covers a client
    # that left before the first event (closing twice is harmless).
    return EventSourceResponse(
        _stream(subscription, slot, jobs, tenant, record, deadline), ping=15, background=BackgroundTask(close)
    )


def _wants_json(accept: str) -> bool:
    """JSON only when asked for it by name and not after the event stream (browsers send */*)."""
    types = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    return "application/json" in types and (
        "text/event-stream" not in types or types.index("application/json") < types.index("text/event-stream")
    )


async def _stream(
    subscription: Subscription, slot: StreamSlot, jobs: Jobs, tenant: str, record: JobRecord, deadline: float
) -> AsyncIterator[dict]:
    job_id = record.id
    # Replayed epochs are remembered so a live copy of one is not sent twice.
    try:
        latest: JobRecord | None = await _read(jobs.get, tenant, job_id)
        record = latest or record
        yield {"event": "status", "data": json.dumps({"status": record.status})}
        sent: set[tuple[int, int]] = set()
        runs = await _read(jobs.history, tenant, job_id, record.runs)
        for run, epochs in enumerate(runs, start=1):
            for epoch, metrics in enumerate(epochs, start=1):
                sent.add((run, epoch))
                yield {"event": "epoch", "data": json.dumps({"run": run, "epoch": epoch, "metrics": metrics})}
        if record.status in FINISHED:
            yield _end(record)
            return
        while True:
            try:
                await slot.renew_if_due()
            except redis.RedisError as exc:
                raise _Unavailable from exc
            left = deadline - time.monotonic()
            if left <= 0 or subscription.lagging:
                # A clean end the client can act on: reconnect to go on (history is replayed first).
                latest = await _read(jobs.get, tenant, job_id)
                reason = "lagging" if subscription.lagging else "max_duration"
                yield _end(latest or record, reason=reason)
                return
            message = await subscription.next(min(5.0, left))
            if message is None:
                # Quiet for a while: make sure the job did not end (or vanish) without us hearing.
                latest = await _read(jobs.get, tenant, job_id)
                if latest is None or latest.status in FINISHED:
                    yield _end(latest)
                    return
                continue
            event = json.loads(message)
            data = event["data"]
            if event["event"] == "epoch":
                if (data["run"], data["epoch"]) in sent:
                    continue
                sent.add((data["run"], data["epoch"]))
            yield {"event": event["event"], "data": json.dumps(data)}
            if event["event"] == "status" and data.get("status") in FINISHED:
                latest = await _read(jobs.get, tenant, job_id)
                yield _end(latest, data)
                return
    except _Unavailable:
        # Redis stopped answering (frozen, partitioned): a clean end the client can act on, with
        # the last status this stream knew; reconnecting replays the history once Redis is back.
        yield _end(record, reason="unavailable")
    finally:
        subscription.close()
        await slot.release()


def _end(latest: JobRecord | None, event: dict | None = None, reason: str | None = None) -> dict:
    """The last event. ``latest`` None means the job was deleted meanwhile (then the status event
    that ended it, if any, says how). ``reason`` says why a stream ended before its job did
    (``max_duration``, ``lagging``, ``unavailable``); absent when the job ended."""
    if latest is not None:
        data = {"status": latest.status, "verdict": latest.verdict, "error": latest.error}
    else:
        event = event or {}
        data = {"status": event.get("status", "deleted"), "verdict": event.get("verdict"), "error": event.get("error")}
    if reason:
        data["reason"] = reason
    return {"event": "end", "data": json.dumps(data)}
