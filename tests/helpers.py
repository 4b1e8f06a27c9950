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
