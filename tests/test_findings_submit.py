"""Data checks at submit: the sketch stored at upload holds the table's values while they fit, the
submit response carries the findings it decides, the worker fills in what it could not (and reads
nothing when there is nothing left), and a target that cannot train a classifier is a 422.

Through the real API on the embedded Redis, the real Celery worker where a job trains; the
equality of submit-time and worker findings for every data rule is in tests/test_findings_data.py."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.data import inspect_dataset
from core.data.sketch import SKETCH_CELLS, with_values
from core.data.tables import scan_table
from core.job_config import JobConfig
from diagnosis.findings import data as rules
from service.data_findings import submit_findings
from tests.helpers import csv_bytes, upload, wait_for
from worker.data_checks import check_data

MAX_BYTES = 1 << 30


def profile_of(path: Path) -> dict:
    return json.loads(json.dumps(inspect_dataset(path, path.name, max_bytes=MAX_BYTES, profile=True)["profile"]))


def imbalanced(rows: int = 420, seed: int = 0) -> bytes:
    x = np.random.default_rng(seed).random(rows)
    return csv_bytes({"x": x.round(6), "label": (x > 20 / 21).astype(int)})


def test_the_sketch_holds_the_values_the_file_holds(tmp_path):
    rng = np.random.default_rng(0)
    rows = 500
    columns = {"a": rng.standard_normal(rows).round(6), "hour": np.arange(rows) % 24,
               "kind": rng.choice(["walk", "run", "sit"], rows), "b": rng.random(rows).round(4)}
    csv = tmp_path / "data.csv"
    csv.write_bytes(csv_bytes(columns))
    parquet = tmp_path / "data.parquet"
    pq.write_table(pa.table(columns), parquet)
    for path, fmt in ((csv, "csv"), (parquet, "parquet")):
        scan = with_values(profile_of(path))
        assert scan is not None
        direct = scan_table(path, fmt, max_bytes=MAX_BYTES, numbers=frozenset({"a", "hour", "b"}), labels="kind")
        for name in ("a", "hour", "b"):
            np.testing.assert_array_equal(scan.values[name], direct.values[name])
        assert list(scan.values["kind"]) == list(direct.values["kind"]) == list(columns["kind"])


def test_large_string_labels_are_kept_too(tmp_path):
    path = tmp_path / "large.parquet"
    labels = ["up", "down", None, "up"] * 25
    pq.write_table(pa.table({"x": np.arange(100.0), "move": pa.array(labels, pa.large_string())}), path)
    scan = with_values(profile_of(path))
    assert scan is not None and list(scan.values["move"]) == labels


def decided(findings: list[dict]) -> dict[str, dict]:
    return {f["rule"]: f for f in findings if f.get("evidence") != rules.DEFERRED}


def test_a_table_past_the_bound_keeps_no_values_and_its_profile_decides_what_needs_none(tmp_path):
    rows = SKETCH_CELLS // 2 + 1  # two numeric columns: one row past the bound
    x = np.random.default_rng(1).random(rows)
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes({"x": x.round(5), "label": (x > 20 / 21).astype(int)}))
    profile = profile_of(path)
    assert profile["sketch"] is None
    assert len(json.dumps(profile)) < 4096  # column facts and the label values only
    job = JobConfig.model_validate({"dataset_id": "ds_test", "data": {"target": "label"}})
    at_submit = submit_findings(profile, job, "csv")
    # Sizes and config decide these; the class counts of the training part need the values.
    assert set(decided(at_submit)) == {"too_few_windows", "feature_scales"}
    waiting = [f for f in at_submit if f["evidence"] == rules.DEFERRED]
    assert {f["rule"] for f in waiting} == {"constant_target", "class_imbalance", "duplicate_windows",
                                          "target_leakage", "label_shift"}
    assert all("too large for the upload sketch" in f["message"] for f in waiting)
    # What submit decided is what the worker's full check of the file finds.
    full = {f["rule"]: f for f in check_data(path, "csv", job, None)}
    assert all(full[rule] == f for rule, f in decided(at_submit).items())
    # The worker decides the rest from the file: here the 20:1 imbalance.
    filled = {f["rule"]: f for f in check_data(path, "csv", job, at_submit)}
    assert filled["class_imbalance"]["status"] == "issue_found"
    assert filled == full and not rules.undecided(list(filled.values()))


def big_regression(path: Path, target: np.ndarray, scale: str, split: float, parameters: int = 0) -> list[dict]:
    """Submit's findings for a regression on ``target`` (past the sketch's bound), after checking
    that every one it decided equals the worker's full check of the file; returns them."""
    rows = len(target)
    rng = np.random.default_rng(5)
    path.write_bytes(csv_bytes({"a": rng.random(rows).round(4), "b": (rng.random(rows) * 1e4).round(1),
                                "y": target}))
    profile = profile_of(path)
    assert profile["sketch"] is None
    job = JobConfig.model_validate({"dataset_id": "ds_test", "task": "regression",
                                    "model": {"layers": [{"units": 4 + parameters}]},
                                    "data": {"target": "y", "scale": scale, "validation_split": split}})
    at_submit = submit_findings(profile, job, "csv")
    full = {f["rule"]: f for f in check_data(path, "csv", job, None)}
    assert decided(at_submit) and all(full[rule] == f for rule, f in decided(at_submit).items())
    assert rules.merge(at_submit, list(full.values())) == list(full.values())
    return at_submit


def test_a_big_table_decides_every_rule_its_profile_proves_as_the_worker_does(tmp_path):
    rows = SKETCH_CELLS // 3 + 7
    path = tmp_path / "big.csv"
    # A constant target, no validation part, unscaled inputs of different sizes.
    found = decided(big_regression(path, np.full(rows, 2.5), "none", 0.0))
    assert found["constant_target"]["status"] == "issue_found"
    assert found["constant_target"]["evidence"]["distinct_values"] == 1
    assert found["class_imbalance"]["status"] == "not_evaluated"  # regression: no classes
    assert found["duplicate_windows"]["status"] == found["label_shift"]["status"] == "not_evaluated"
    assert "feature_scales" not in found and "target_leakage" not in found  # they need the values
    # Constant over the training part only (it moves in the validation part): still proven.
    moving = np.where(np.arange(rows) < rows * 0.9, 1.0, 3.0)
    found = decided(big_regression(path, moving, "standard", 0.2))
    assert found["constant_target"]["status"] == "issue_found" and found["feature_scales"]["status"] == "ok"
    assert "label_shift" not in found and "duplicate_windows" not in found
    # One other value inside the training part: the profile cannot count them, the worker does.
    blip = np.zeros(rows)
    blip[rows // 3] = 1.0
    found = decided(big_regression(path, blip, "standard", 0.2))
    assert "constant_target" not in found
    # Too many parameters for the training windows, decided from the sizes alone.
    found = decided(big_regression(path, np.arange(rows) % 7 * 0.5, "minmax", 0.5, parameters=200))
    assert found["too_few_windows"]["status"] == "issue_found"
    assert set(found) == {"class_imbalance", "too_few_windows", "feature_scales"}


def test_a_sketch_at_the_bound_is_bounded(tmp_path):
    rows = SKETCH_CELLS // 4  # four numeric columns: exactly at the bound
    rng = np.random.default_rng(2)
    path = tmp_path / "bound.csv"
    path.write_bytes(csv_bytes({k: rng.standard_normal(rows).round(6) for k in "abcd"}))
    profile = profile_of(path)
    assert profile["sketch"] is not None
    # 2^16 float64 cells: 512 KiB raw, compressed, base64 (4/3): within 700 KiB stored.
    assert len(json.dumps(profile)) < 700 * 1024


def test_the_worker_reads_nothing_when_submit_decided_every_rule(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(imbalanced())
    job = JobConfig.model_validate({"dataset_id": "ds_test", "data": {"target": "label"}})
    at_submit = submit_findings(profile_of(path), job, "csv")
    assert not rules.undecided(at_submit)
    path.unlink()  # nothing to read: the submitted findings are the findings
    assert check_data(path, "csv", job, at_submit) == at_submit
    # One rule left open (as a costly one would be): the worker checks the file for it alone.
    path.write_bytes(imbalanced())
    partial = [f if f["rule"] != "target_leakage" else rules.deferred("target_leakage", "later") for f in at_submit]
    merged = check_data(path, "csv", job, partial)
    assert merged == at_submit


def test_the_submit_response_carries_the_data_findings(client):
    dataset = upload(client, imbalanced(), "imbalanced.csv").json()
    submitted = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "label"},
                                              "training": {"epochs": 1}})
    assert submitted.status_code == 202, submitted.text
    found = {f["rule"]: f for f in submitted.json()["findings"]}
    assert list(found) == list(rules.RULES)
    assert found["class_imbalance"]["status"] == "issue_found"
    assert found["class_imbalance"]["evidence"]["majority_accuracy"] > 0.9
    assert {f["status"] for f in found.values()} <= {"ok", "issue_found"}  # all decided at submit
    shown = client.get(submitted.headers["location"]).json()["findings"]
    assert shown == submitted.json()["findings"]
    client.delete(submitted.headers["location"])


def test_a_constant_classification_target_is_refused_naming_the_column(client):
    x = np.random.default_rng(3).random(100)
    dataset = upload(client, csv_bytes({"x": x.round(5), "outcome": [1] * 100}), "constant.csv").json()
    answer = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "outcome"}})
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert "'outcome'" in problem["detail"]
    assert problem["errors"][0]["loc"][-1] == "target"


def test_the_worker_fills_in_what_the_sketch_could_not_decide(client, worker, tmp_path):
    rows = SKETCH_CELLS // 2 + 1
    x = np.random.default_rng(4).random(rows)
    dataset = upload(client, csv_bytes({"x": x.round(5), "label": (x > 20 / 21).astype(int)}), "big.csv").json()
    submitted = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "label"},
                                              "training": {"epochs": 1, "batch_size": 4096}})
    assert submitted.status_code == 202, submitted.text
    at_submit = decided(submitted.json()["findings"])
    assert set(at_submit) == {"too_few_windows", "feature_scales"}  # the profile decides these
    done = wait_for(client, submitted.json()["id"], timeout_s=240)
    assert done["status"] == "succeeded", done
    found = {f["rule"]: f for f in done["findings"]}
    assert found["class_imbalance"]["status"] == "issue_found"
    assert not rules.undecided(done["findings"])
    # What submit decided is what a full check of the same file finds (the job keeps submit's).
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes({"x": x.round(5), "label": (x > 20 / 21).astype(int)}))
    job = JobConfig.model_validate({"dataset_id": dataset["id"], "data": {"target": "label"},
                                    "training": {"epochs": 1, "batch_size": 4096}})
    full = {f["rule"]: f for f in check_data(path, "csv", job, None)}
    shown = {rule: {k: v for k, v in f.items() if v is not None} for rule, f in at_submit.items()}  # the API
    assert {rule: full[rule] for rule in at_submit} == shown  # shows an absent recommendation as null
    assert {rule: f["status"] for rule, f in found.items()} == {rule: f["status"] for rule, f in full.items()}
    diagnosis = client.get(done["links"]["diagnosis"]).json()
    # The final diagnosis keeps the merged set (its numbers rounded for display).
    assert {f["rule"]: f["status"] for f in diagnosis["findings"] if f["rule"] in rules.RULES} == {
        f["rule"]: f["status"] for f in done["findings"]}


def test_a_rule_that_does_not_apply_does_not_wait_for_the_worker(tmp_path):
    path = tmp_path / "series.csv"
    series = np.sin(np.arange(300) / 5).round(6)
    path.write_bytes(csv_bytes({"load": series, "temp": np.cos(np.arange(300) / 7).round(6)}))
    job = JobConfig.model_validate({"dataset_id": "ds_test", "task": "regression", "data": {"target": "load"}})
    at_submit = submit_findings(profile_of(path), job, "csv")
    imbalance = next(f for f in at_submit if f["rule"] == "class_imbalance")
    assert imbalance["status"] == "not_evaluated" and imbalance["evidence"] == {}  # regression: no classes
    assert not rules.undecided(at_submit)
    path.unlink()
    assert check_data(path, "csv", job, at_submit) == at_submit  # nothing left for the worker to read


def test_npz_checks_wait_for_the_worker(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, X=np.zeros((20, 3, 2)), y=np.arange(20) % 2)
    path = tmp_path / "data.npz"
    path.write_bytes(buffer.getvalue())
    job = JobConfig.model_validate({"dataset_id": "ds_test"})
    at_submit = submit_findings(None, job, "npz")
    assert {f["status"] for f in at_submit} == {"not_evaluated"}
    assert "NPZ" in at_submit[0]["message"]
