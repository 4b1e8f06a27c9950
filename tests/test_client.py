"""The Python client and its CLI against the real service (uvicorn, Redis, the Celery worker)."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zipfile

import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lstm_doctor_client import AsyncClient, Client, Dataset, Job, LstmDoctorError, Progress
from tests.helpers import classic_csv


@pytest.fixture(scope="module")
def doctor(api):
    with Client(api.url) as client:
        yield client


def test_upload_from_a_path_a_dataframe_and_arrays(doctor, tmp_path):
    path = tmp_path / "classic.csv"
    path.write_bytes(classic_csv(rows=90, seed=31))
    from_path = doctor.upload(path)
    assert isinstance(from_path, Dataset) and from_path.name == "classic.csv" and from_path.rows == 90

    frame = pd.read_csv(path)
    from_frame = doctor.upload(frame)
    assert from_frame.format == "csv" and from_frame.columns == ["x", "label"] and from_frame.rows == 90

    X, y = np.random.default_rng(0).random((20, 3, 2)), np.arange(20) % 2
    from_arrays = doctor.upload((X, y))
    assert from_arrays.format == "npz" and from_arrays.shape == {"X": [20, 3, 2], "y": [20]}


def test_submit_wait_and_results(doctor, worker, tmp_path):
    dataset = doctor.upload(classic_csv(rows=120, seed=32), name="classic.csv")
    job = doctor.submit(dataset, target="label", training={"epochs": 4})
    assert isinstance(job, Job) and job.status == "queued"
    seen: list[Progress] = []
    done = doctor.wait(job.id, timeout=180, on_progress=seen.append)
    assert done.status == "succeeded" and done.verdict
    assert [p.epoch for p in seen] == [1, 2, 3, 4] and seen[-1].fraction == 1.0  # from the event stream

    diagnosis = doctor.diagnosis(job.id)
    assert diagnosis.verdict == done.verdict and diagnosis.evidence.epochs == 4
    assert doctor.history(job.id).runs[0].epochs_completed == 4
    assert [event.type for event in doctor.events(job.id, limit=2).items] == ["status", "epoch"]

    png = doctor.plot(job.id, tmp_path / "loss.png")
    assert Image.open(png).format == "PNG"
    svg = doctor.plot(job.id, tmp_path / "acc.svg", metric="accuracy")
    assert svg.read_text().lstrip().startswith("<?xml")
    archive = zipfile.ZipFile(doctor.download_model(job.id, tmp_path / "model.zip"))
    assert sorted(archive.namelist()) == ["model.keras", "preprocessing.json"]

    prediction = doctor.predict(job.id, rows=[{"x": 0.9}, {"x": 0.1}], wait=60)
    assert prediction.status == "succeeded" and prediction.count == 2
    assert all(
        p["label"] in ("0", "1") and sum(p["probabilities"].values()) == pytest.approx(1.0)
        for p in prediction.predictions
    )
    as_frame = doctor.predict(job.id, pd.DataFrame({"x": [0.9, 0.1]}), wait=60)
    assert as_frame.predictions == prediction.predictions

    # Polling instead of the stream gives the same answer.
    polled: list[Progress] = []
    assert doctor.wait(job.id, stream=False, on_progress=polled.append).status == "succeeded"
    assert polled[-1].fraction == 1.0


def test_errors_carry_the_problem_details(doctor):
    with pytest.raises(LstmDoctorError) as caught:
        doctor.job("job_000000000000aaaaaaaaaaaa")
    assert caught.value.status == 404 and "no job" in caught.value.detail


def test_async_client(api, worker, tmp_path):
    """The same operations as the sync client (one implementation: lstm_doctor_client.operations),
    awaited: an upload from a path, the event stream, files saved."""
    path = tmp_path / "a.csv"
    path.write_bytes(classic_csv(rows=100, seed=33))

    async def scenario() -> tuple[Job, str]:
        async with AsyncClient(api.url) as doctor:
            dataset = await doctor.upload(path)
            assert dataset.name == "a.csv" and dataset.rows == 100
            job = await doctor.submit(dataset.id, target="label", training={"epochs": 3})
            steps: list[int] = []
            done = await doctor.wait(job.id, timeout=180, on_progress=lambda p: steps.append(p.epoch))
            assert steps == [1, 2, 3]
            png = await doctor.plot(job.id, tmp_path / "loss.png")
            assert Image.open(png).format == "PNG"
            return done, (await doctor.diagnosis(job.id)).verdict

    done, verdict = asyncio.run(scenario())
    assert done.status == "succeeded" and verdict == done.verdict


def test_async_retries_and_problems():
    """The async client retries and raises exactly as the sync one (a transport that answers like
    an overloaded server, then a missing job)."""
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"}),
            httpx.Response(404, json={"title": "Not Found", "detail": "no job job_x"}),
        ]
    )
    transport = httpx.MockTransport(lambda request: next(answers))

    async def scenario() -> LstmDoctorError:
        async with AsyncClient("http://doctor.test", transport=transport) as doctor:
            with pytest.raises(LstmDoctorError) as caught:
                await doctor.job("job_x")
            return caught.value

    error = asyncio.run(scenario())
    assert error.status == 404 and error.detail == "no job job_x"


def test_retries_honour_retry_after():
    """429/503 answers are retried after the server's Retry-After (a transport that answers like
    an overloaded server; the real service's 429 needs a full queue)."""
    calls: list[float] = []
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "1"}, json={"detail": "busy"}),
            httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "slow down"}),
            httpx.Response(200, json={"items": [], "next_cursor": None}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        import time

        calls.append(time.monotonic())
        return next(answers)

    with Client("http://doctor.test", transport=httpx.MockTransport(handler)) as client:
        assert client.request("GET", "/v1/jobs").json()["items"] == []
    assert len(calls) == 3 and calls[1] - calls[0] >= 1.0

    give_up = Client(
        "http://doctor.test",
        retries=1,
        transport=httpx.MockTransport(
            lambda request: httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "down"})
        ),
    )
    with pytest.raises(LstmDoctorError) as caught:
        give_up.request("GET", "/v1/jobs")
    assert caught.value.status == 503 and caught.value.detail == "down"


def test_cli_submit_wait_and_plot(api, worker, tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(classic_csv(rows=120, seed=34))
    env = {**os.environ, "LSTM_DOCTOR_URL": api.url}
    env.pop("LSTM_DOCTOR_API_KEY", None)
    cli = [sys.executable, "-m", "service.cli"]
    submitted = subprocess.run(
        [*cli, "submit", str(data), "--target", "label", "--epochs", "3", "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.startswith("verdict: ") and "epoch" in submitted.stderr  # the progress bar
    job_id = submitted.stderr.split()[1]
    assert job_id.startswith("job_")

    plotted = subprocess.run(
        [*cli, "plot", job_id, str(tmp_path / "loss.png")], env=env, capture_output=True, text=True, timeout=120
    )
    assert plotted.returncode == 0, plotted.stderr
    assert Image.open(io.BytesIO((tmp_path / "loss.png").read_bytes())).format == "PNG"

    missing = subprocess.run(
        [*cli, "plot", "job_000000000000aaaaaaaaaaaa", str(tmp_path / "x.png")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "404" in missing.stderr and not (tmp_path / "x.png").exists()


def test_wait_falls_back_to_polling_when_the_stream_is_refused(api, worker):
    """A proxy that will not pass event streams: wait() still returns the finished job."""
    real = httpx.HTTPTransport()
    refused: list[str] = []

    def no_streams(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            refused.append(request.url.path)
            return httpx.Response(502, text="streams not allowed here")
        return real.handle_request(request)

    with Client(api.url, transport=httpx.MockTransport(no_streams)) as doctor:
        dataset = doctor.upload(classic_csv(rows=100, seed=35), name="b.csv")
        job = doctor.submit(dataset.id, target="label", training={"epochs": 2})
        seen: list[Progress] = []
        done = doctor.wait(job.id, timeout=180, on_progress=seen.append, poll_s=0.2)
    assert done.status == "succeeded" and refused == [f"/v1/jobs/{job.id}/events"]
    assert seen[-1].fraction == 1.0
