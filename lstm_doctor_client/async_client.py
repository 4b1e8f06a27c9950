"""The asynchronous client: the same methods as `Client` (from `operations`), awaitable.

async with AsyncClient() as doctor:
    job = await doctor.submit((await doctor.upload(frame)).id, target="label")
    job = await doctor.wait(job.id)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from lstm_doctor_client import _common as c
from lstm_doctor_client import operations as ops


class AsyncClient(ops.Operations):
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``url`` and ``api_key`` default to LSTM_DOCTOR_URL and LSTM_DOCTOR_API_KEY."""
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=c.base_url(url), headers=c.auth_headers(api_key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, operation: ops.Operation) -> Any:
        async with contextlib.AsyncExitStack() as stream:
            events: AsyncIterator[ServerSentEvent] | None = None
            answer: Any = None
            error: BaseException | None = None
            while True:
                done, step = ops.advance(operation, answer, error)
                if done:
                    return step
                answer, error = None, None
                if not isinstance(step, ops.NextEvent):
                    await stream.aclose()  # a followed stream ends with the first other step
                try:
                    if isinstance(step, ops.Call):
                        answer = await self._run(ops.retrying(step, self.retries))
                    elif isinstance(step, ops.Send):
                        files = step.call.files() if step.call.files else None
                        call = step.call
                        answer = await self._http.request(call.method, call.path, files=files, **call.kwargs)
                    elif isinstance(step, ops.Pause):
                        await asyncio.sleep(step.seconds)
                    elif isinstance(step, ops.Follow):
                        timeout = httpx.Timeout(30.0, read=step.read_timeout_s)
                        connect = aconnect_sse(self._http, "GET", step.path, timeout=timeout)
                        source = await stream.enter_async_context(connect)
                        events = source.aiter_sse() if source.response.status_code == 200 else None
                        answer = await _next(events)
                    elif isinstance(step, ops.NextEvent):
                        answer = await _next(events)
                    elif isinstance(step, ops.Save):
                        await asyncio.to_thread(step.path.write_bytes, step.content)
                        answer = step.path
                except Exception as exc:  # noqa: BLE001 - handed to the operation, which re-raises what it cannot handle
                    error = exc


async def _next(events: AsyncIterator[ServerSentEvent] | None) -> tuple[str, dict[str, Any]] | None:
    sse = await anext(events, None) if events is not None else None
    return ops.event_pair(sse) if sse is not None else None
