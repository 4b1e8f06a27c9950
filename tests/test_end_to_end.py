"""The whole path with real parts: HTTP → Redis → Celery worker → Keras fit → diagnosis → PNG."""
from __future__ import annotations

import io

from PIL import Image

from tests.helpers import classic_csv, upload, wait_for

VERDICTS = {"underfit", "overfit", "good_fit", "unstable", "inconclusive"}


def test_classic_example_trains_and_is_diagnosed(client, worker):
    created = upload(client, classic_csv(rows=300, seed=1), "classic.csv")
    assert created.status_code == 201, created.text
    dataset = created.json()
    assert created.headers["location"] == f"/v1/datasets/{dataset['id']}"
    assert dataset["format"] == "csv" and dataset["rows"] == 300 and dataset["columns"] == ["x", "label"]

    submitted = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "label"},
                                              "training": {"epochs": 6}})
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert submitted.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"
    # Defaults fill the config: the classic example (one LSTM of 5 units, 20 % validation).
    assert job["config"]["model"]["layers"] == [{"units": 5, "dropout": 0.0, "recurrent_dropout": 0.0,
                                                 "bidirectional": False}]
    assert job["config"]["data"]["validation_split"] == 0.2

    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["verdict"] in VERDICTS
    assert done["device"]["type"] == "cpu" and done["device"]["worker"].startswith("test-worker@")
    assert done["progress"]["fraction"] == 1.0 and done["finished_at"] and done["started_at"]

    history = client.get(done["links"]["history"]).json()
    [run] = history["runs"]
    assert run["run"] == 1 and run["seed"] == 0 and run["epochs_completed"] == 6
    assert set(run["history"]) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert all(len(values) == 6 for values in run["history"].values())

    diagnosis = client.get(done["links"]["diagnosis"]).json()
    assert diagnosis["verdict"] == done["verdict"] and diagnosis["final"] is True
    assert diagnosis["evidence"]["epochs"] == 6
    assert diagnosis["evidence"]["baseline_loss"] > 0

    for metric, url in done["links"]["plots"].items():
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png", metric
        image = Image.open(io.BytesIO(response.content))
        image.load()
        assert image.width >= 400 and image.height >= 300
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 10  # curves and text, not blank
