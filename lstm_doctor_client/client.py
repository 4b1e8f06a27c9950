"""The synchronous client.

from lstm_doctor_client import Client
with Client("http://127.0.0.1:8000", api_key="…") as doctor:
    dataset = doctor.upload("data.csv")
    job = doctor.submit(dataset.id, target="label", training={"epochs": 50})
    job = doctor.wait(job.id, on_progress=print)
    print(doctor.diagnosis(job.id).summary)
    doctor.plot(job.id, "loss.png")
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lstm_doctor_client import _common as c
from lstm_doctor_client.errors import JobTimeout
from lstm_doctor_client.types import Dataset, Delivery, Diagnosis, EventPage, History, Job, Prediction, Progress

ProgressCallback = Callable[[Progress], object]


class Client:
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

    def request(
        self, method: str, path: str, *, files: Callable[[], dict] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One API call, retried on 429/502/503/504 (after Retry-After) and on connection errors;
        a 4xx/5xx answer raises LstmDoctorError with the problem details."""
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, files=files() if files else None, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                time.sleep(c.retry_delay(None, attempt))
                continue
            if response.status_code in c.RETRY_STATUSES and attempt < self.retries:
                time.sleep(c.retry_delay(response, attempt))
                continue
            return c.raise_for_problem(response)
        raise AssertionError("unreachable")

    # Datasets and jobs
    def upload(self, data: Any, name: str | None = None) -> Dataset:
        """A path, a pandas DataFrame, arrays ``(X, y)`` or ``{"X": X, "y": y}``, or bytes."""
        file_name, content = c.upload_file(data, name)
        response = self.request("POST", "/v1/datasets", files=lambda: c.files_for(file_name, content))
        return Dataset.model_validate(response.json())

    def submit(
        self,
        dataset_id: str | Dataset,
        config: dict[str, Any] | None = None,
        *,
        target: str | None = None,
        **fields: Any,
    ) -> Job:
        """Submits a job; ``fields`` are top-level config blocks (``training={"epochs": 50}``, …).
        Sent with an Idempotency-Key, so a retried submission never trains twice."""
        dataset_id = dataset_id.id if isinstance(dataset_id, Dataset) else dataset_id
        body = c.job_config(dataset_id, config, target, fields)
        response = self.request("POST", "/v1/jobs", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        return Job.model_validate(response.json())

    def job(self, job_id: str) -> Job:
        return Job.model_validate(self.request("GET", f"/v1/jobs/{job_id}").json())

    def cancel(self, job_id: str) -> Job:
        return Job.model_validate(self.request("POST", f"/v1/jobs/{job_id}/cancel").json())

    def history(self, job_id: str) -> History:
        return History.model_validate(self.request("GET", f"/v1/jobs/{job_id}/history").json())

    def diagnosis(self, job_id: str) -> Diagnosis:
        return Diagnosis.model_validate(self.request("GET", f"/v1/jobs/{job_id}/diagnosis").json())

    def events(self, job_id: str, *, after: str | None = None, limit: int = 100) -> EventPage:
        params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
        response = self.request(
            "GET", f"/v1/jobs/{job_id}/events", params=params, headers={"Accept": "application/json"}
        )
        return EventPage.model_validate(response.json())

    def deliveries(self, job_id: str) -> list[Delivery]:
        items = self.request("GET", f"/v1/jobs/{job_id}/deliveries").json()["items"]
        return [Delivery.model_validate(item) for item in items]

    # Waiting
    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        stream: bool = True,
        poll_s: float = 1.0,
    ) -> Job:
        """Returns the job once it ended. Follows its event stream (Server-Sent Events); if the
        stream cannot be held (a proxy, a dropped connection), polls the job instead."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.job(job_id)
        seen: list[Progress] = []  # reported so far: polling after the stream repeats none

        def report(progress: Progress) -> None:
            seen.append(progress)
            if on_progress:
                on_progress(progress)

        if stream and not job.done:
            try:
                self._follow(job, deadline, report)
            except (httpx.HTTPError, ValueError):
                pass  # fall back to polling, below
        return self._poll(job_id, deadline, on_progress, poll_s, seen[-1] if seen else None)

    def _follow(self, job: Job, deadline: float | None, on_progress: ProgressCallback) -> None:
        read_timeout = 60.0  # the server pings every 15 s
        with self._http.stream(
            "GET",
            f"/v1/jobs/{job.id}/events",
            headers={"Accept": "text/event-stream"},
            timeout=httpx.Timeout(30.0, read=read_timeout),
        ) as response:
            if response.status_code != 200:
                return
            for event, data in c.sse_events(response.iter_lines()):
                if event == "epoch":
                    on_progress(Progress.model_validate(c.progress_of(job.config, data["run"], data["epoch"])))
                if event == "end":
                    return
                if deadline is not None and time.monotonic() > deadline:
                    raise JobTimeout(f"job {job.id} did not end in time")

    def _poll(
        self,
        job_id: str,
        deadline: float | None,
        on_progress: ProgressCallback | None,
        poll_s: float,
        seen: Progress | None = None,
    ) -> Job:
        while True:
            job = self.job(job_id)
            if on_progress and job.progress != seen:
                seen = job.progress
                on_progress(job.progress)
            if job.done:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise JobTimeout(f"job {job_id} is still {job.status}")
            time.sleep(poll_s)

    # Results
    def plot(self, job_id: str, path: str | Path, metric: str | None = None) -> Path:
        """Saves a plot; the metric defaults to the file's name (``loss.png``), the format to its
        suffix (.png or .svg)."""
        path = Path(path)
        name = f"{metric or path.stem}{path.suffix or '.png'}"
        path.write_bytes(self.request("GET", f"/v1/jobs/{job_id}/plots/{name}").content)
        return path

    def download_model(self, job_id: str, path: str | Path, run: int = 1) -> Path:
        """Saves the zip of the run's ``model.keras`` and ``preprocessing.json``."""
        path = Path(path)
        path.write_bytes(self.request("GET", f"/v1/jobs/{job_id}/model", params={"run": run}).content)
        return path

    def predict(
        self,
        job_id: str,
        rows: Any = None,
        *,
        X: Any = None,
        csv: str | bytes | None = None,
        run: int = 1,
        wait: float = 30.0,
    ) -> Prediction:
        """Rows (dicts or a DataFrame) or CSV for tables, X for NPZ-trained models. Answered inline
        when the worker is quick (``Prefer: wait``), else polled until done or ``wait`` passed."""
        kwargs = c.prediction_request(rows, X, csv)
        headers = {**kwargs.pop("headers", {}), "Prefer": f"wait={max(int(wait), 0)}"}
        deadline = time.monotonic() + wait
        response = self.request(
            "POST", f"/v1/jobs/{job_id}/predictions", params={"run": run}, headers=headers, **kwargs
        )
        prediction = Prediction.model_validate(response.json())
        while prediction.status == "queued" and time.monotonic() < deadline:
            time.sleep(c.retry_delay(response, 0) if response.headers.get("retry-after") else 0.2)
            response = self.request("GET", prediction.links["self"])
            prediction = Prediction.model_validate(response.json())
        return prediction
