"""The asynchronous client: the same methods as `Client`, awaitable.

async with AsyncClient() as doctor:
    job = await doctor.submit((await doctor.upload(frame)).id, target="label")
    job = await doctor.wait(job.id)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from lstm_doctor_client import _common as c
from lstm_doctor_client.errors import JobTimeout
from lstm_doctor_client.types import Dataset, Delivery, Diagnosis, EventPage, History, Job, Prediction, Progress

ProgressCallback = Callable[[Progress], object]


class AsyncClient:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
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

    async def request(
        self, method: str, path: str, *, files: Callable[[], dict] | None = None, **kwargs: Any
    ) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.request(method, path, files=files() if files else None, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(c.retry_delay(None, attempt))
                continue
            if response.status_code in c.RETRY_STATUSES and attempt < self.retries:
                await asyncio.sleep(c.retry_delay(response, attempt))
                continue
            return c.raise_for_problem(response)
        raise AssertionError("unreachable")

    async def upload(self, data: Any, name: str | None = None) -> Dataset:
        file_name, content = c.upload_file(data, name)
        if isinstance(content, Path):  # httpx's async client wants bytes or an async file
            content = await asyncio.to_thread(content.read_bytes)
        response = await self.request("POST", "/v1/datasets", files=lambda: c.files_for(file_name, content))
        return Dataset.model_validate(response.json())

    async def submit(
        self,
        dataset_id: str | Dataset,
        config: dict[str, Any] | None = None,
        *,
        target: str | None = None,
        **fields: Any,
    ) -> Job:
        dataset_id = dataset_id.id if isinstance(dataset_id, Dataset) else dataset_id
        body = c.job_config(dataset_id, config, target, fields)
        response = await self.request("POST", "/v1/jobs", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        return Job.model_validate(response.json())

    async def job(self, job_id: str) -> Job:
        return Job.model_validate((await self.request("GET", f"/v1/jobs/{job_id}")).json())

    async def cancel(self, job_id: str) -> Job:
        return Job.model_validate((await self.request("POST", f"/v1/jobs/{job_id}/cancel")).json())

    async def history(self, job_id: str) -> History:
        return History.model_validate((await self.request("GET", f"/v1/jobs/{job_id}/history")).json())

    async def diagnosis(self, job_id: str) -> Diagnosis:
        return Diagnosis.model_validate((await self.request("GET", f"/v1/jobs/{job_id}/diagnosis")).json())

    async def events(self, job_id: str, *, after: str | None = None, limit: int = 100) -> EventPage:
        params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
        response = await self.request(
            "GET", f"/v1/jobs/{job_id}/events", params=params, headers={"Accept": "application/json"}
        )
        return EventPage.model_validate(response.json())

    async def deliveries(self, job_id: str) -> list[Delivery]:
        items = (await self.request("GET", f"/v1/jobs/{job_id}/deliveries")).json()["items"]
        return [Delivery.model_validate(item) for item in items]

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        stream: bool = True,
        poll_s: float = 1.0,
    ) -> Job:
        deadline = None if timeout is None else time.monotonic() + timeout
        job = await self.job(job_id)
        seen: list[Progress] = []  # reported so far: polling after the stream repeats none

        def report(progress: Progress) -> None:
            seen.append(progress)
            if on_progress:
                on_progress(progress)

        if stream and not job.done:
            try:
                await self._follow(job, deadline, report)
            except (httpx.HTTPError, ValueError):
                pass
        return await self._poll(job_id, deadline, on_progress, poll_s, seen[-1] if seen else None)

    async def _follow(self, job: Job, deadline: float | None, on_progress: ProgressCallback) -> None:
        async with self._http.stream(
            "GET",
            f"/v1/jobs/{job.id}/events",
            headers={"Accept": "text/event-stream"},
            timeout=httpx.Timeout(30.0, read=60.0),
        ) as response:
            if response.status_code != 200:
                return
            async for event, data in _sse(response.aiter_lines()):
                if event == "epoch":
                    on_progress(Progress.model_validate(c.progress_of(job.config, data["run"], data["epoch"])))
                if event == "end":
                    return
                if deadline is not None and time.monotonic() > deadline:
                    raise JobTimeout(f"job {job.id} did not end in time")

    async def _poll(
        self,
        job_id: str,
        deadline: float | None,
        on_progress: ProgressCallback | None,
        poll_s: float,
        seen: Progress | None = None,
    ) -> Job:
        while True:
            job = await self.job(job_id)
            if on_progress and job.progress != seen:
                seen = job.progress
                on_progress(job.progress)
            if job.done:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise JobTimeout(f"job {job_id} is still {job.status}")
            await asyncio.sleep(poll_s)

    async def plot(self, job_id: str, path: str | Path, metric: str | None = None) -> Path:
        path = Path(path)
        name = f"{metric or path.stem}{path.suffix or '.png'}"
        content = (await self.request("GET", f"/v1/jobs/{job_id}/plots/{name}")).content
        await asyncio.to_thread(path.write_bytes, content)
        return path

    async def download_model(self, job_id: str, path: str | Path, run: int = 1) -> Path:
        path = Path(path)
        content = (await self.request("GET", f"/v1/jobs/{job_id}/model", params={"run": run})).content
        await asyncio.to_thread(path.write_bytes, content)
        return path

    async def predict(
        self,
        job_id: str,
        rows: Any = None,
        *,
        X: Any = None,
        csv: str | bytes | None = None,
        run: int = 1,
        wait: float = 30.0,
    ) -> Prediction:
        kwargs = c.prediction_request(rows, X, csv)
        headers = {**kwargs.pop("headers", {}), "Prefer": f"wait={max(int(wait), 0)}"}
        deadline = time.monotonic() + wait
        response = await self.request(
            "POST", f"/v1/jobs/{job_id}/predictions", params={"run": run}, headers=headers, **kwargs
        )
        prediction = Prediction.model_validate(response.json())
        while prediction.status == "queued" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            prediction = Prediction.model_validate((await self.request("GET", prediction.links["self"])).json())
        return prediction


async def _sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    buffered: list[str] = []
    async for line in lines:
        buffered.append(line)
        if not line:
            for pair in c.sse_events(iter(buffered)):
                yield pair
            buffered = []
    for pair in c.sse_events(iter(buffered)):
        yield pair
