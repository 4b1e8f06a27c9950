"""Small things tests share: datasets as bytes, waiting for a job."""
from __future__ import annotations

import io
import time

import httpx
import numpy as np

TERMINAL = {"succeeded", "failed", "cancelled"}


def classic_csv(rows: int = 200, seed: int = 0) -> bytes:
    """The classic example: x uniform in [0, 1), label = x > 0.5."""
    x = np.random.default_rng(seed).random(rows)
    lines = ["x,label", *(f"{v:.6f},{int(v > 0.5)}" for v in x)]
    return ("\n".join(lines) + "\n").encode()


def upload(client: httpx.Client, content: bytes, filename: str = "data.csv", **kwargs) -> httpx.Response:
    return client.post("/v1/datasets", files={"file": (filename, io.BytesIO(content))}, **kwargs)


def wait_for(client: httpx.Client, job_id: str, statuses=TERMINAL, timeout_s: float = 120, **kwargs) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}", **kwargs).json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s: {job}")
        time.sleep(0.2)


def submit(client: httpx.Client, dataset_id: str, **config) -> dict:
    headers = config.pop("headers", None)
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, **config}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def csv_bytes(columns: dict[str, list]) -> bytes:
    names = list(columns)
    rows = zip(*columns.values())
    return (",".join(names) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)).encode()


def read_sse(client: httpx.Client, url: str, timeout_s: float = 120, **kwargs) -> list[tuple[str, dict]]:
    """All events of a stream until the server closes it."""
    import json

    events: list[tuple[str, dict]] = []
    event = None
    with client.stream("GET", url, timeout=timeout_s, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                events.append((event, json.loads(line.split(":", 1)[1])))
                event = None
    return events
