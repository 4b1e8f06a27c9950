"""The synchronous client: performs the steps of `operations`, blocking.

from lstm_doctor_client import Client
with Client("http://127.0.0.1:8000", api_key="…") as doctor:
    dataset = doctor.upload("data.csv")
    job = doctor.submit(dataset.id, target="label", training={"epochs": 50})
    job = doctor.wait(job.id, on_progress=print)
    print(doctor.diagnosis(job.id).summary)
    doctor.plot(job.id, "loss.png")
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from lstm_doctor_client import _common as c
from lstm_doctor_client import operations as ops


class Client(ops.Operations):
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``url`` and ``api_key`` default to LSTM_DOCTOR_URL and LSTM_DOCTOR_API_KEY."""
        self.retries = retries
        self._http = httpx.Client(
            base_url=c.base_url(url), headers=c.auth_headers(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, operation: ops.Operation) -> Any:
        with contextlib.ExitStack() as stream:
            events: Iterator[ServerSentEvent] | None = None
            answer: Any = None
            error: BaseException | None = None
            while True:
                done, step = ops.advance(operation, answer, error)
                if done:
                    return step
                answer, error = None, None
                if not isinstance(step, ops.NextEvent):
                    stream.close()  # a followed stream ends with the first other step
                try:
                    if isinstance(step, ops.Call):
                        answer = self._run(ops.retrying(step, self.retries))
                    elif isinstance(step, ops.Send):
                        files = step.call.files() if step.call.files else None
                        answer = self._http.request(step.call.method, step.call.path, files=files, **step.call.kwargs)
                    elif isinstance(step, ops.Pause):
                        time.sleep(step.seconds)
                    elif isinstance(step, ops.Follow):
                        timeout = httpx.Timeout(30.0, read=step.read_timeout_s)
                        source = stream.enter_context(connect_sse(self._http, "GET", step.path, timeout=timeout))
                        events = source.iter_sse() if source.response.status_code == 200 else None
                        answer = _next(events)
                    elif isinstance(step, ops.NextEvent):
                        answer = _next(events)
                    elif isinstance(step, ops.Save):
                        step.path.write_bytes(step.content)
                        answer = step.path
                except Exception as exc:  # noqa: BLE001 - handed to the operation, which re-raises what it cannot handle
                    error = exc


def _next(events: Iterator[ServerSentEvent] | None) -> tuple[str, dict[str, Any]] | None:
    sse = next(events, None) if events is not None else None
    return ops.event_pair(sse) if sse is not None else None
