"""Diagnosing histories trained elsewhere over HTTP, and the job diagnosis' availability."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.helpers import classic_csv, submit, upload, wait_for


def overfit_history(epochs: int = 40) -> dict:
    e = np.arange(1, epochs + 1)
    loss = 0.7 * np.exp(-e / 8) + 0.02
    val = 0.45 + 0.004 * (e - 12) ** 2 / 4
    return {"loss": loss.round(4).tolist(), "val_loss": val.round(4).tolist(),
            "acc": (1 - loss / 2).round(4).tolist(), "val_acc": (0.8 - val / 10).round(4).tolist()}


def test_external_history_is_diagnosed_stored_and_plotted(client):
    history = overfit_history()
    history["val_acc"][3] = None  # NaN as null…
    history["val_acc"][4] = "NaN"  # …or as a string: both are read as NaN
    created = client.post("/v1/diagnoses", json={"history": history, "task": "binary_classification"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/v1/diagnoses/{body['id']}" == body["links"]["self"]
    assert body["verdict"] == "overfit" and "val_loss_rising" in body["reasons"]
    assert body["evidence"]["best_epoch"] < 30 and body["final"] is True
    assert set(body["links"]["plots"]) >= {"loss", "accuracy"}
    assert client.get(body["links"]["self"]).json() == body

    png = client.get(body["links"]["plots"]["accuracy"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    Image.open(io.BytesIO(png.content)).verify()
    svg = client.get(f"/v1/diagnoses/{body['id']}/plots/loss.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"Training vs Validation loss" in svg.content
    cached = client.get(body["links"]["plots"]["loss"], headers={"If-None-Match": png.headers["etag"]})
    assert cached.status_code == 200  # a different plot: its own ETag
    again = client.get(body["links"]["plots"]["accuracy"], headers={"If-None-Match": png.headers["etag"]})
    assert again.status_code == 304 and not again.content

    missing = client.get(f"/v1/diagnoses/{body['id']}/plots/mae.png")
    assert missing.status_code == 404 and "loss" in missing.json()["detail"] and "accuracy" in missing.json()["detail"]


def test_nan_loss_given_either_way_is_unstable(client):
    for nan in (None, "NaN"):
        history = {"loss": [0.7, 0.6, nan, nan], "val_loss": [0.7, 0.65, nan, nan]}
        body = client.post("/v1/diagnoses", json={"history": history}).json()
        assert body["verdict"] == "unstable" and "nan_loss" in body["reasons"], body


def test_several_runs_get_per_run_verdicts(client):
    runs = [{"history": overfit_history(30 + i)} for i in range(3)]
    body = client.post("/v1/diagnoses", json={"runs": runs}).json()
    assert len(body["runs"]) == 3 and body["spread"] is not None


def test_bad_external_histories_are_422(client):
    cases = [
        ({}, "history"),
        ({"history": {"loss": [1.0]}, "runs": [{"history": {"loss": [1.0]}}]}, "history"),
        ({"history": {"val_loss": [1.0, 0.9]}}, "loss"),
        ({"history": {"loss": [1.0, 0.9], "val_loss": [1.0]}}, "val_loss"),
        ({"history": {"loss": []}}, "loss"),
        ({"history": {"loss": ["lots"]}}, "loss"),
        ({"history": {"loss": [1.0]}, "task": "poetry"}, "task"),
        ({"history": {"loss": [1.0]}, "extra": 1}, "extra"),
        ({"history": [1, 2, 3]}, "history"),
    ]
    for body, field in cases:
        response = client.post("/v1/diagnoses", json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert field in problem["detail"] or any(field in map(str, e["loc"]) for e in problem["errors"]), body
    assert client.get("/v1/diagnoses/dx_unknown").status_code == 404


def test_job_diagnosis_is_409_before_a_few_epochs_then_provisional_or_final(client, worker):
    ds = upload(client, classic_csv(rows=1500, seed=8), "dx-wait.csv").json()["id"]
    job = submit(client, ds, data={"target": "label"}, training={"epochs": 8})
    early = client.get(f"/v1/jobs/{job['id']}/diagnosis")
    assert early.status_code == 409 and "epochs" in early.json()["detail"]
    plot = client.get(f"/v1/jobs/{job['id']}/plots/loss.png")
    assert plot.status_code == 200  # drawn from the history so far, even when empty
    done = wait_for(client, job["id"])
    final = client.get(f"/v1/jobs/{job['id']}/diagnosis").json()
    assert final["final"] is True and final["verdict"] == done["verdict"]
