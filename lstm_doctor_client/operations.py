"""Every client operation, written once for both clients (the "sans-I/O" style of h11 and
gidgethub): an operation is a generator that yields the I/O it needs (`Call`, `Pause`, `Follow`,
`NextEvent`, `Save`) and receives each answer; `Client` and `AsyncClient` only perform those
steps, blocking or awaited. So retries, waiting, polling and result parsing cannot drift apart
between the two clients.

`Operations` is the public face both clients inherit: each attribute runs one operation on the
client's driver, typed `T` on `Client` and awaitable `T` on `AsyncClient`.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

import httpx
from httpx_sse import ServerSentEvent

from lstm_doctor_client import _common as c
from lstm_doctor_client.errors import JobTimeout
from lstm_doctor_client.types import Dataset, Delivery, Diagnosis, EventPage, History, Job, Prediction, Progress

if TYPE_CHECKING:
    from lstm_doctor_client.async_client import AsyncClient
    from lstm_doctor_client.client import Client

ProgressCallback = Callable[[Progress], object]


# The steps an operation yields, and what the driver sends back.
@dataclass(frozen=True)
class Call:
    """One API call, retried by `retrying`; answered with the final `httpx.Response`."""

    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    files: Callable[[], dict] | None = None  # built afresh per attempt: a file body is consumed


@dataclass(frozen=True)
class Send:
    """One HTTP attempt; answered with the response, or the transport error is thrown in."""

    call: Call


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Follow:
    """Open a Server-Sent Events stream; answered with its first (event, data), or None if it
    could not be held (a non-200 answer) or ended. Closed when the operation yields anything
    other than `NextEvent`, or ends."""

    path: str
    read_timeout_s: float = 60.0  # the server pings every 15 s


@dataclass(frozen=True)
class NextEvent:
    """The stream's next (event, data), or None when it ended."""


@dataclass(frozen=True)
class Save:
    """Write bytes to a file (off the event loop for `AsyncClient`); answered with the path."""

    path: Path
    content: bytes


Step = Call | Send | Pause | Follow | NextEvent | Save
Operation = Generator[Step, Any, Any]
T = TypeVar("T")
P = ParamSpec("P")


def advance(operation: Operation, answer: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Resumes `operation` with the last step's answer (or throws its error in): (True, the
    result) once it returned, else (False, its next step)."""
    try:
        step = operation.throw(error) if error is not None else operation.send(answer)
    except StopIteration as stop:
        return True, stop.value
    return False, step


def event_pair(sse: ServerSentEvent) -> tuple[str, dict[str, Any]]:
    return sse.event, json.loads(sse.data) if sse.data else {}


def retrying(call: Call, retries: int) -> Generator[Step, Any, httpx.Response]:
    """`call`, retried on 429/502/503/504 (after Retry-After) and on connection errors; a 4xx/5xx
    answer raises LstmDoctorError with the problem details."""
    for attempt in range(retries + 1):
        try:
            response = yield Send(call)
        except httpx.TransportError:
            if attempt == retries:
                raise
            yield Pause(c.retry_delay(None, attempt))
            continue
        if response.status_code in c.RETRY_STATUSES and attempt < retries:
            yield Pause(c.retry_delay(response, attempt))
            continue
        return c.raise_for_problem(response)
    raise AssertionError("unreachable")


# Operations. Each yields `Call`s (the driver retries them) and returns the typed result.
def request(
    method: str, path: str, *, files: Callable[[], dict] | None = None, **kwargs: Any
) -> Generator[Step, Any, httpx.Response]:
    """One API call, retried on 429/502/503/504 (after Retry-After) and on connection errors;
    a 4xx/5xx answer raises LstmDoctorError with the problem details."""
    return (yield Call(method, path, kwargs, files))


def upload(data: Any, name: str | None = None) -> Generator[Step, Any, Dataset]:
    """A path, a pandas DataFrame, arrays ``(X, y)`` or ``{"X": X, "y": y}``, or bytes."""
    file_name, content = c.upload_file(data, name)
    response = yield Call("POST", "/v1/datasets", files=lambda: c.files_for(file_name, content))
    return Dataset.model_validate(response.json())


def submit(
    dataset_id: str | Dataset, config: dict[str, Any] | None = None, *, target: str | None = None, **fields: Any
) -> Generator[Step, Any, Job]:
    """Submits a job; ``fields`` are top-level config blocks (``training={"epochs": 50}``, …).
    Sent with an Idempotency-Key, so a retried submission never trains twice."""
    dataset_id = dataset_id.id if isinstance(dataset_id, Dataset) else dataset_id
    body = c.job_config(dataset_id, config, target, fields)
    response = yield Call("POST", "/v1/jobs", {"json": body, "headers": {"Idempotency-Key": uuid.uuid4().hex}})
    return Job.model_validate(response.json())


def job(job_id: str) -> Generator[Step, Any, Job]:
    return Job.model_validate((yield Call("GET", f"/v1/jobs/{job_id}")).json())


def cancel(job_id: str) -> Generator[Step, Any, Job]:
    return Job.model_validate((yield Call("POST", f"/v1/jobs/{job_id}/cancel")).json())


def history(job_id: str) -> Generator[Step, Any, History]:
    return History.model_validate((yield Call("GET", f"/v1/jobs/{job_id}/history")).json())


def diagnosis(job_id: str) -> Generator[Step, Any, Diagnosis]:
    return Diagnosis.model_validate((yield Call("GET", f"/v1/jobs/{job_id}/diagnosis")).json())


def events(job_id: str, *, after: str | None = None, limit: int = 100) -> Generator[Step, Any, EventPage]:
    """One page of the job's events (a JSON list; `wait` follows the live stream)."""
    params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
    kwargs = {"params": params, "headers": {"Accept": "application/json"}}
    return EventPage.model_validate((yield Call("GET", f"/v1/jobs/{job_id}/events", kwargs)).json())


def deliveries(job_id: str) -> Generator[Step, Any, list[Delivery]]:
    items = (yield Call("GET", f"/v1/jobs/{job_id}/deliveries")).json()["items"]
    return [Delivery.model_validate(item) for item in items]


def wait(
    job_id: str,
    *,
    timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
    stream: bool = True,
    poll_s: float = 1.0,
) -> Generator[Step, Any, Job]:
    """Returns the job once it ended. Follows its event stream (Server-Sent Events); if the
    stream cannot be held (a proxy, a dropped connection), polls the job instead."""
    deadline = None if timeout is None else time.monotonic() + timeout
    current = yield from job(job_id)
    seen: Progress | None = None  # reported so far: polling after the stream repeats none
    if stream and not current.done:
        try:
            pair = yield Follow(f"/v1/jobs/{job_id}/events")
            while pair is not None:
                event, data = pair
                if event == "epoch":
                    seen = Progress.model_validate(c.progress_of(current.config, data["run"], data["epoch"]))
                    if on_progress:
                        on_progress(seen)
                if event == "end":
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise JobTimeout(f"job {job_id} did not end in time")
                pair = yield NextEvent()
        except (httpx.HTTPError, ValueError):
            pass  # fall back to polling, below
    while True:
        current = yield from job(job_id)
        if on_progress and current.progress != seen:
            seen = current.progress
            on_progress(current.progress)
        if current.done:
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise JobTimeout(f"job {job_id} is still {current.status}")
        yield Pause(poll_s)


def plot(job_id: str, path: str | Path, metric: str | None = None) -> Generator[Step, Any, Path]:
    """Saves a plot; the metric defaults to the file's name (``loss.png``), the format to its
    suffix (.png or .svg)."""
    path = Path(path)
    name = f"{metric or path.stem}{path.suffix or '.png'}"
    response = yield Call("GET", f"/v1/jobs/{job_id}/plots/{name}")
    return (yield Save(path, response.content))


def download_model(job_id: str, path: str | Path, run: int = 1) -> Generator[Step, Any, Path]:
    """Saves the zip of the run's ``model.keras`` and ``preprocessing.json``."""
    response = yield Call("GET", f"/v1/jobs/{job_id}/model", {"params": {"run": run}})
    return (yield Save(Path(path), response.content))


def predict(
    job_id: str,
    rows: Any = None,
    *,
    X: Any = None,
    csv: str | bytes | None = None,
    run: int = 1,
    wait: float = 30.0,
) -> Generator[Step, Any, Prediction]:
    """Rows (dicts or a DataFrame) or CSV for tables, X for NPZ-trained models. Answered inline
    when the worker is quick (``Prefer: wait``), else polled until done or ``wait`` passed."""
    kwargs = c.prediction_request(rows, X, csv)
    kwargs["headers"] = {**kwargs.get("headers", {}), "Prefer": f"wait={max(int(wait), 0)}"}
    deadline = time.monotonic() + wait
    response = yield Call("POST", f"/v1/jobs/{job_id}/predictions", {"params": {"run": run}, **kwargs})
    prediction = Prediction.model_validate(response.json())
    while prediction.status == "queued" and time.monotonic() < deadline:
        yield Pause(c.retry_delay(response, 0) if response.headers.get("retry-after") else 0.2)
        response = yield Call("GET", prediction.links["self"])
        prediction = Prediction.model_validate(response.json())
    return prediction


class _Bound(Generic[P, T]):
    """An operation as a client method: runs it on the client's driver (`_run`)."""

    def __init__(self, operation: Callable[P, Generator[Step, Any, T]]) -> None:
        self.operation = operation

    @overload
    def __get__(self, client: Client, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type | None = None) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: Any, owner: type | None = None) -> Any:
        operation = self.operation

        @functools.wraps(operation)
        def method(*args: Any, **kwargs: Any) -> Any:
            return client._run(operation(*args, **kwargs))

        return method


class Operations:
    """The methods both clients have (see each operation above for what it does)."""

    request = _Bound(request)
    # Datasets and jobs
    upload = _Bound(upload)
    submit = _Bound(submit)
    job = _Bound(job)
    cancel = _Bound(cancel)
    history = _Bound(history)
    diagnosis = _Bound(diagnosis)
    events = _Bound(events)
    deliveries = _Bound(deliveries)
    wait = _Bound(wait)
    # Results
    plot = _Bound(plot)
    download_model = _Bound(download_model)
    predict = _Bound(predict)
