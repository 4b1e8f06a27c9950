"""Training jobs through the real stack: task types, repeats, reproducibility, cancellation,
idempotency, live events, and config validation."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from tests.helpers import classic_csv, csv_bytes, read_sse, submit, upload, wait_for


@pytest.fixture(scope="module")
def classic(client, worker) -> str:
    response = upload(client, classic_csv(rows=200, seed=2), "classic-jobs.csv")
    assert response.status_code in (200, 201)
    return response.json()["id"]


@pytest.fixture(scope="module")
def long_series(client, worker) -> str:
    """Enough rows that a many-epoch job runs long enough to be cancelled mid-way."""
    return upload(client, classic_csv(rows=4000, seed=3), "long.csv").json()["id"]


def test_multiclass_with_string_labels(client, classic):
    rng = np.random.default_rng(4)
    x = rng.random(240)
    labels = np.where(x < 0.33, "low", np.where(x < 0.66, "mid", "high"))
    ds = upload(client, csv_bytes({"x": [f"{v:.4f}" for v in x], "kind": list(labels)}), "kinds.csv").json()
    job = submit(client, ds["id"], task="multiclass_classification", data={"target": "kind", "window": 2},
                 training={"epochs": 3})
    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["data_spec"]["classes"] == 3
    assert set(done["data_spec"]["class_mapping"]) == {"low", "mid", "high"}
    history = client.get(done["links"]["history"]).json()["runs"][0]["history"]
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history)


def test_regression_forecast_reports_mae(client, worker):
    t = np.arange(300)
    y = np.sin(t / 8.0)
    ds = upload(client, csv_bytes({"t": list(t), "y": [f"{v:.5f}" for v in y]}), "sine.csv").json()
    job = submit(client, ds["id"], task="regression",
                 data={"target": "y", "features": ["y"], "window": 8, "horizon": 1},
                 model={"layers": [{"units": 8}, {"units": 4, "bidirectional": True}], "dense": [4]},
                 training={"epochs": 3, "optimizer": "rmsprop", "clipnorm": 1.0})
    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["links"]["plots"]["mae"].endswith("/plots/mae.png")
    history = client.get(done["links"]["history"]).json()["runs"][0]["history"]
    assert {"loss", "val_loss", "mae", "val_mae"} <= set(history)
    assert client.get(done["links"]["plots"]["mae"]).status_code == 200


def test_repeats_run_with_distinct_seeds(client, classic):
    job = submit(client, classic, data={"target": "label"}, training={"epochs": 3, "repeats": 3, "seed": 7})
    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    runs = client.get(done["links"]["history"]).json()["runs"]
    assert [r["seed"] for r in runs] == [7, 8, 9]
    assert all(r["epochs_completed"] == 3 for r in runs)
    assert len({tuple(r["history"]["loss"]) for r in runs}) == 3  # different seeds, different runs
    diagnosis = client.get(done["links"]["diagnosis"]).json()
    assert len(diagnosis["runs"]) == 3 and diagnosis["spread"]


def test_same_seed_gives_the_same_history(client, classic):
    config = {"data": {"target": "label"}, "training": {"epochs": 3, "seed": 11}}
    first, second = submit(client, classic, **config), submit(client, classic, **config)
    histories = []
    for job in (first, second):
        assert wait_for(client, job["id"])["status"] == "succeeded"
        histories.append(client.get(f"/v1/jobs/{job['id']}/history").json()["runs"][0]["history"])
    assert histories[0] == histories[1]


def test_cancel_running_then_queued(client, long_series):
    running = submit(client, long_series, data={"target": "label"}, training={"epochs": 500})
    queued = submit(client, long_series, data={"target": "label"}, training={"epochs": 500})
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{running['id']}").json()["progress"]["epoch"] < 1:
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(0.1)
    assert client.get(f"/v1/jobs/{queued['id']}").json()["status"] == "queued"

    assert client.post(f"/v1/jobs/{queued['id']}/cancel").status_code == 202
    assert client.get(f"/v1/jobs/{queued['id']}").json()["status"] == "cancelled"
    assert client.post(f"/v1/jobs/{running['id']}/cancel").status_code == 202

    stopped = wait_for(client, running["id"], timeout_s=30)
    assert stopped["status"] == "cancelled" and stopped["finished_at"]
    kept = client.get(f"/v1/jobs/{running['id']}/history").json()["runs"][0]
    assert 1 <= kept["epochs_completed"] < 500  # stopped early, history so far kept
    time.sleep(1.0)  # the worker is free now: a cancelled queued job must still never start
    never = client.get(f"/v1/jobs/{queued['id']}").json()
    assert never["status"] == "cancelled" and never["started_at"] is None
    again = client.post(f"/v1/jobs/{running['id']}/cancel")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


def test_idempotency_key(client, classic):
    body = {"dataset_id": classic, "data": {"target": "label"}, "training": {"epochs": 2}}
    headers = {"Idempotency-Key": "retry-me-1"}
    first = client.post("/v1/jobs", json=body, headers=headers)
    second = client.post("/v1/jobs", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["location"] == f"/v1/jobs/{first.json()['id']}"
    changed = client.post("/v1/jobs", json={**body, "training": {"epochs": 3}}, headers=headers)
    assert changed.status_code == 422 and "Idempotency-Key" in changed.json()["detail"]
    listed = client.get("/v1/jobs", params={"dataset_id": classic, "limit": 200}).json()["items"]
    assert sum(job["id"] == first.json()["id"] for job in listed) == 1
    wait_for(client, first.json()["id"])


def test_events_stream_epochs_then_closes(client, classic):
    job = submit(client, classic, data={"target": "label"}, training={"epochs": 4})
    events = read_sse(client, f"/v1/jobs/{job['id']}/events")
    names = [name for name, _ in events]
    epochs = [data for name, data in events if name == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert all(math.isfinite(e["metrics"]["loss"]) for e in epochs)
    assert names[-1] == "end" and events[-1][1]["status"] == "succeeded"
    # A stream opened after the end replays the history and closes at once.
    replay = read_sse(client, f"/v1/jobs/{job['id']}/events")
    assert [n for n, _ in replay].count("epoch") == 4 and replay[-1][0] == "end"


def test_job_list_filters_and_pages(client, classic):
    ids = {submit(client, classic, data={"target": "label"}, training={"epochs": 1})["id"] for _ in range(3)}
    seen, cursor = [], None
    while True:
        page = client.get("/v1/jobs", params={"dataset_id": classic, "limit": 2, "cursor": cursor}).json()
        assert len(page["items"]) <= 2
        seen += [job["id"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids <= set(seen) and len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # newest first
    for job_id in ids:
        wait_for(client, job_id)
    done = client.get("/v1/jobs", params={"status": "succeeded", "limit": 200}).json()["items"]
    assert all(job["status"] == "succeeded" for job in done)


def test_delete_job_and_dataset_in_use(client, long_series):
    job = submit(client, long_series, data={"target": "label"}, training={"epochs": 500})
    busy = client.delete(f"/v1/datasets/{long_series}")
    assert busy.status_code == 409 and job["id"] in busy.json()["detail"]
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
    # The worker notices the deletion at its next batch and stops; the dataset is free again.
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200 or client.delete(f"/v1/datasets/{long_series}").status_code == 409:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert client.get(f"/v1/datasets/{long_series}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"training": {"epochs": 0}}, "epochs"),
        ({"training": {"epochs": 100000}}, "epochs"),
        ({"model": {"layers": [{"units": 0}]}}, "units"),
        ({"model": {"layers": []}}, "layers"),
        ({"training": {"optimizer": "adamw"}}, "optimizer"),
        ({"surprise": True}, "surprise"),
        ({"data": {"target": "nope"}}, "target"),
        ({"data": {"target": "label", "window": 10000}}, "window"),
        ({"task": "regression", "data": {"target": "label", "validation_split": 1.5}}, "validation_split"),
        ({"dataset_id": "ds_missing"}, "dataset_id"),
    ],
)
def test_bad_configs_are_422_naming_the_field(client, classic, change, field):
    before = client.get("/v1/jobs", params={"limit": 200}).json()["items"]
    response = client.post("/v1/jobs", json={"dataset_id": classic, "data": {"target": "label"}, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in problem["detail"] or any(field in map(str, e["loc"]) for e in problem["errors"])
    assert client.get("/v1/jobs", params={"limit": 200}).json()["items"] == before  # nothing stored


def test_cudnn_eligibility_is_reported(client, classic):
    job = submit(client, classic, data={"target": "label"}, training={"epochs": 1},
                 model={"layers": [{"units": 4, "recurrent_dropout": 0.2}]})
    assert job["cudnn"]["eligible"] is False and "recurrent_dropout" in job["cudnn"]["reasons"][0]
    wait_for(client, job["id"])
