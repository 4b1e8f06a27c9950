"""The trained model and predictions, with real parts: a job trains on the worker, its model is
downloaded and reloaded here with plain `keras.saving.load_model`, and predictions the worker makes
through the API match what the reloaded model predicts on the same rows, preprocessed the same way."""

from __future__ import annotations

import io
import json
import time
import zipfile

import keras
import numpy as np
import pytest
import redis

from core import keys
from core.blobs import keys as blob_keys
from core.blobs import open_blob_store
from core.data import prepare_arrays
from core.data.inference import array_inputs, table_inputs
from core.job_config import DataConfig
from tests.helpers import csv_bytes, read_sse, upload, wait_for

ROWS = 160


def _table() -> dict[str, list]:
    rng = np.random.default_rng(11)
    x, z = rng.random(ROWS), rng.normal(5.0, 2.0, ROWS)
    return {"x": [f"{v:.5f}" for v in x], "z": [f"{v:.4f}" for v in z], "label": [int(v > 0.5) for v in x]}


@pytest.fixture(scope="module")
def table_job(client, worker) -> dict:
    dataset = upload(client, csv_bytes(_table()), "two-features.csv")
    assert dataset.status_code == 201, dataset.text
    submitted = client.post(
        "/v1/jobs",
        json={
            "dataset_id": dataset.json()["id"],
            "data": {"target": "label", "window": 3},
            "training": {"epochs": 8, "seed": 3},
        },
    )
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    # Before the job ends there is no model, and no predictions: 409, with a hint to wait.
    early = client.get(f"/v1/jobs/{job['id']}/model")
    early_prediction = client.post(f"/v1/jobs/{job['id']}/predictions", json={"rows": []})
    done = wait_for(client, job["id"], timeout_s=180)
    assert done["status"] == "succeeded", done
    if early.status_code != 200:  # the job may, in principle, have finished already
        assert early.status_code == 409 and "Retry-After" in early.headers, early.text
        assert early_prediction.status_code == 409, early_prediction.text
    return done


@pytest.fixture(scope="module")
def bundle(client, table_job, tmp_path_factory) -> dict:
    response = client.get(f"/v1/jobs/{table_job['id']}/model", params={"run": 1})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["model.keras", "preprocessing.json"]
    folder = tmp_path_factory.mktemp("bundle")
    archive.extractall(folder)
    model = keras.saving.load_model(folder / "model.keras")
    return {"response": response, "model": model, "pre": json.loads((folder / "preprocessing.json").read_text())}


def _rows(first: int, last: int) -> list[dict]:
    table = _table()
    return [
        {"x": float(table["x"][i]), "z": float(table["z"][i]), "label": table["label"][i]} for i in range(first, last)
    ]


def test_model_zip_has_the_preprocessing_and_etag(client, table_job, bundle):
    pre = bundle["pre"]
    assert pre["task"] == "binary_classification" and pre["job_id"] == table_job["id"] and pre["run"] == 1
    assert pre["input"] == {
        "kind": "table",
        "features": ["x", "z"],
        "window": 3,
        "horizon": 0,
        "timesteps": 3,
        "n_features": 2,
        "shape": [None, 3, 2],
    }
    assert pre["scaler"]["kind"] == "standard" and len(pre["scaler"]["mean"]) == 2
    assert pre["scaler"] == table_job["data_spec"]["scaler"]
    assert pre["class_mapping"] == {"0": 0, "1": 1} and pre["labels"] == ["0", "1"]
    # Best validation epoch, the same one the diagnosis names.
    diagnosis = client.get(f"/v1/jobs/{table_job['id']}/diagnosis").json()
    assert pre["weights"]["policy"] == "best" and pre["weights"]["epoch"] == diagnosis["evidence"]["best_epoch"]

    etag = bundle["response"].headers["etag"]
    again = client.get(f"/v1/jobs/{table_job['id']}/model")
    assert again.headers["etag"] == etag and again.content == bundle["response"].content  # same bytes every time
    cached = client.get(f"/v1/jobs/{table_job['id']}/model", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    missing_run = client.get(f"/v1/jobs/{table_job['id']}/model", params={"run": 2})
    assert missing_run.status_code == 404 and "run=1..1" in missing_run.json()["detail"]


def test_saved_weights_are_the_best_validation_epochs(client, table_job, bundle, settings):
    """Evaluating the reloaded model on the job's validation part gives the val_loss Keras logged at
    the kept epoch: the file holds that epoch's weights, not the last ones."""
    job = table_job
    blob = open_blob_store(settings).local_path(blob_keys.dataset("default", job["dataset_id"]))
    prepared = prepare_arrays(blob, "csv", DataConfig(**job["config"]["data"]), job["config"]["task"])
    loss = bundle["model"].evaluate(prepared.X_val, prepared.y_val, verbose=0, return_dict=True)["loss"]
    history = client.get(f"/v1/jobs/{job['id']}/history").json()["runs"][0]["history"]
    epoch = bundle["pre"]["weights"]["epoch"]
    assert loss == pytest.approx(history["val_loss"][epoch - 1], rel=1e-3)


def test_worker_predictions_match_the_reloaded_model(client, table_job, bundle):
    rows = _rows(10, 40)
    answer = client.post(f"/v1/jobs/{table_job['id']}/predictions", json={"rows": rows}, headers={"Prefer": "wait=60"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["preference-applied"] == "wait=60"
    result = answer.json()
    assert result["status"] == "succeeded" and result["count"] == len(rows) - 2
    items = result["predictions"]
    assert [item["rows"] for item in items[:2]] == [[1, 3], [2, 4]]

    features = np.array([[row["x"], row["z"]] for row in rows])
    local = bundle["model"].predict(table_inputs(bundle["pre"], features), verbose=0)[:, 0]
    served = np.array([item["probabilities"]["1"] for item in items])
    np.testing.assert_allclose(served, local, atol=1e-5)
    assert [item["label"] for item in items] == [str(int(p >= 0.5)) for p in local]

    # The same rows as a CSV body give the same predictions.
    csv_body = "z,x\n" + "".join(f"{row['z']},{row['x']}\n" for row in rows)
    as_csv = client.post(
        f"/v1/jobs/{table_job['id']}/predictions",
        content=csv_body,
        headers={"Content-Type": "text/csv", "Prefer": "wait=60"},
    )
    assert as_csv.status_code == 200, as_csv.text
    np.testing.assert_allclose([i["probabilities"]["1"] for i in as_csv.json()["predictions"]], local, atol=1e-5)


def test_prediction_without_wait_is_a_resource_to_poll(client, table_job):
    created = client.post(f"/v1/jobs/{table_job['id']}/predictions", json={"rows": _rows(0, 5)})
    assert created.status_code == 202, created.text
    location = created.headers["location"]
    assert location == created.json()["links"]["self"] and created.json()["status"] == "queued"
    deadline = time.monotonic() + 60
    while (result := client.get(location).json())["status"] == "queued":
        assert time.monotonic() < deadline, result
        time.sleep(0.1)
    assert result["status"] == "succeeded" and result["count"] == 3 and len(result["predictions"]) == 3
    assert client.get(f"/v1/jobs/{table_job['id']}/predictions/pred_000000000000aaaaaaaaaaaa").status_code == 404


@pytest.mark.parametrize(
    "body, where, words",
    [
        ({"rows": [*_rows(0, 4), {"x": "abc", "z": 1.0}]}, ["body", "rows", 4, "x"], ["row 5", "'x'"]),
        ({"rows": [*_rows(0, 2), {"x": 0.5}, *_rows(3, 5)]}, ["body", "rows", 2, "z"], ["row 3", "'z'", "missing"]),
        ({"rows": [*_rows(0, 3), {"x": 0.1, "z": None}]}, ["body", "rows", 3, "z"], ["row 4", "'z'"]),
        ({"rows": _rows(0, 2)}, ["body", "rows"], ["windows of 3 rows", "at least 3"]),
        ({"X": [[[1.0, 2.0]] * 3]}, ["body", "rows"], ["'rows'"]),
    ],
    ids=["text", "missing-column", "null", "too-few-rows", "wrong-shape-of-body"],
)
def test_bad_rows_are_422_naming_column_and_row(client, table_job, body, where, words):
    response = client.post(f"/v1/jobs/{table_job['id']}/predictions", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == where
    assert all(word in problem["detail"] for word in words), problem["detail"]


def test_bad_csv_rows_and_sizes(client, table_job):
    url = f"/v1/jobs/{table_job['id']}/predictions"
    bad = client.post(url, content="x,z\n0.1,1\n0.2,2\n0.3,oops\n", headers={"Content-Type": "text/csv"})
    assert bad.status_code == 422 and "row 3, column 'z'" in bad.json()["detail"], bad.text
    other = client.post(url, content=b"\x00\x01", headers={"Content-Type": "application/octet-stream"})
    assert other.status_code == 415, other.text
    many = client.post(url, content="x,z\n" + "0.1,1\n" * 10_001, headers={"Content-Type": "text/csv"})
    assert many.status_code == 413 and "LSTM_DOCTOR_MAX_PREDICTION_ROWS" in many.json()["detail"], many.text


def test_npz_model_predicts_from_x(client, worker, bundle, tmp_path, settings):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 4, 2))
    y = X[:, -1, 0] * 2.0 + 1.0
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=y)
    dataset = upload(client, buffer.getvalue(), "series.npz").json()
    job = client.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "task": "regression", "training": {"epochs": 3, "keep": "last"}}
    ).json()
    done = wait_for(client, job["id"], timeout_s=180)
    assert done["status"] == "succeeded", done

    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job['id']}/model").content))
    archive.extractall(tmp_path)
    pre = json.loads((tmp_path / "preprocessing.json").read_text())
    assert pre["weights"] == {"policy": "last", "epoch": 3, "epochs_trained": 3}
    assert pre["input"]["kind"] == "arrays" and pre["input"]["shape"] == [None, 4, 2]
    model = keras.saving.load_model(tmp_path / "model.keras")

    sample = X[:7]
    answer = client.post(
        f"/v1/jobs/{job['id']}/predictions", json={"X": sample.tolist()}, headers={"Prefer": "wait=60"}
    )
    assert answer.status_code == 200, answer.text
    local = model.predict(array_inputs(pre, sample), verbose=0)[:, 0]
    np.testing.assert_allclose([item["value"] for item in answer.json()["predictions"]], local, atol=1e-5)

    wrong = client.post(f"/v1/jobs/{job['id']}/predictions", json={"X": X[:2, :3].tolist()})
    assert wrong.status_code == 422 and "(samples, 4, 2)" in wrong.json()["detail"], wrong.text
    table_rows = client.post(
        f"/v1/jobs/{job['id']}/predictions", content="a,b\n1,2\n", headers={"Content-Type": "text/csv"}
    )
    assert table_rows.status_code == 415, table_rows.text

    # Deleting the job deletes its model files too.
    store = open_blob_store(settings)
    prefix = blob_keys.job_models_prefix("default", job["id"])
    assert list(store.keys(prefix)) == [blob_keys.model("default", job["id"], 1, attempt=1)]
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert list(store.keys(prefix)) == []
    # ...and settles what its delete script said was owed (nothing left for core.orphans).
    assert not redis.Redis.from_url(settings.redis_url).sismember(keys.blob_purges(), prefix)


def test_events_as_a_json_list_match_the_stream(client, table_job):
    url = f"/v1/jobs/{table_job['id']}/events"
    pages, after = [], None
    while True:
        params = {"limit": 3, **({"after": after} if after else {})}
        page = client.get(url, params=params, headers={"Accept": "application/json"})
        assert page.status_code == 200 and page.headers["content-type"] == "application/json", page.text
        body = page.json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            break
        assert body["next_cursor"] == body["items"][-1]["id"]
        after = body["next_cursor"]
    events = [event for page in pages for event in page]
    assert all(len(page) == 3 for page in pages[:-1])
    assert [(e["type"], e["data"].get("status")) for e in events] == (
        [("status", "running")] + [("epoch", None)] * 8 + [("status", "succeeded")]
    )
    assert [e["data"]["epoch"] for e in events if e["type"] == "epoch"] == list(range(1, 9))
    assert len({e["id"] for e in events}) == len(events) and all(e["created_at"] for e in events)

    streamed = read_sse(client, url)
    epochs = [data for kind, data in streamed if kind == "epoch"]
    assert epochs == [e["data"] for e in events if e["type"] == "epoch"]
    # Past the last event: an empty page, for a client polling for newer ones.
    assert client.get(url, params={"after": events[-1]["id"]}, headers={"Accept": "application/json"}).json() == {
        "items": [],
        "next_cursor": None,
    }
    bad = client.get(url, params={"after": "yesterday"}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "after"]


def test_the_readme_recipe_predicts_like_the_service(client, table_job, bundle, tmp_path, monkeypatch):
    """The README's load-and-predict snippet, run as written on the downloaded zip."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Trained models and predictions") :]
    snippet = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    (tmp_path / "model.zip").write_bytes(bundle["response"].content)
    monkeypatch.chdir(tmp_path)
    rows = _rows(0, 12)
    scope = {"my_rows": rows}
    exec(compile(snippet, "README.md", "exec"), scope)
    served = client.post(
        f"/v1/jobs/{table_job['id']}/predictions", json={"rows": rows}, headers={"Prefer": "wait=60"}
    ).json()
    np.testing.assert_allclose(
        scope["probabilities"][:, 0], [item["probabilities"]["1"] for item in served["predictions"]], atol=1e-5
    )
