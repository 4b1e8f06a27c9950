"""The data checks: each rule on data that breaks it and on data that does not, on real files (CSV
and NPZ) through the worker's check of the file (``worker.data_checks.check_data``), and for tables
also through the submit-time check on the sketch stored at upload (``service.data_findings``),
which must give exactly the same findings."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from core.cost import parameter_count
from core.data import inspect_dataset
from core.job_config import JobConfig
from service.data_findings import submit_findings
from tests.helpers import classic_csv, csv_bytes
from worker.data_checks import check_data


def check(tmp_path: Path, content: bytes, fmt: str = "csv", **config) -> dict[str, dict]:
    path = tmp_path / f"data.{fmt}"
    path.write_bytes(content)
    job = JobConfig.model_validate({"dataset_id": "ds_test", **config})
    findings = check_data(path, fmt, job, None)
    assert all(f["status"] in ("ok", "issue_found", "not_evaluated") for f in findings)
    profile = inspect_dataset(path, path.name, max_bytes=1 << 30, profile=True).get("profile")
    stored = json.loads(json.dumps(profile))  # as Redis keeps it
    at_submit = submit_findings(stored, job, fmt)
    if fmt == "npz":
        assert {f["status"] for f in at_submit} == {"not_evaluated"}
    else:
        assert json.loads(json.dumps(at_submit)) == json.loads(json.dumps(findings))
    return {f["rule"]: f for f in findings}


def issues(found: dict[str, dict]) -> set[str]:
    return {rule for rule, f in found.items() if f["status"] == "issue_found"}


def npz(X: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=y)
    return buffer.getvalue()


def test_the_classic_example_raises_nothing(tmp_path):
    found = check(tmp_path, classic_csv(rows=400), data={"target": "label"})
    assert issues(found) == set()
    assert list(found) == ["constant_target", "class_imbalance", "too_few_windows", "feature_scales",
                           "duplicate_windows", "target_leakage", "label_shift"]
    assert found["class_imbalance"]["evidence"]["majority_accuracy"] == pytest.approx(0.5, abs=0.1)
    for f in found.values():
        assert f["message"] and isinstance(f["parameters"], dict) and isinstance(f["evidence"], dict)


def test_constant_target_is_found(tmp_path):
    x = np.random.default_rng(0).random(200)
    found = check(tmp_path, csv_bytes({"x": x.round(5), "y": [3.5] * 200}), task="regression", data={"target": "y"})
    assert found["constant_target"]["status"] == "issue_found"
    assert found["constant_target"]["evidence"]["distinct_values"] == 1
    varied = check(tmp_path, csv_bytes({"x": x.round(5), "y": (x * 3).round(5)}), task="regression",
                   data={"target": "y"})
    assert varied["constant_target"]["status"] == "ok"


def test_class_imbalance_names_the_accuracy_to_beat(tmp_path):
    rng = np.random.default_rng(1)
    label = (rng.random(630) < 1 / 21).astype(int)  # about 20:1
    label[:3] = 1  # the rare class occurs in training
    found = check(tmp_path, csv_bytes({"x": rng.random(630).round(5), "label": label}), data={"target": "label"})
    imbalance = found["class_imbalance"]
    assert imbalance["status"] == "issue_found"
    assert imbalance["evidence"]["ratio"] >= 10 and imbalance["evidence"]["majority_class"] == "0"
    assert imbalance["evidence"]["majority_accuracy"] > 0.9
    assert f"{imbalance['evidence']['majority_accuracy']:.1%}" in imbalance["message"]
    assert imbalance["parameters"] == {"max_ratio": 10.0}


def test_too_few_windows_for_a_big_model(tmp_path):
    found = check(tmp_path, classic_csv(rows=60), data={"target": "label"},
                  model={"layers": [{"units": 64}, {"units": 64}]})
    assert found["too_few_windows"]["status"] == "issue_found"
    assert found["too_few_windows"]["evidence"]["training_windows"] == 48
    assert check(tmp_path, classic_csv(rows=60), data={"target": "label"})["too_few_windows"]["status"] == "ok"


def test_feature_scales_only_matter_unscaled(tmp_path):
    rng = np.random.default_rng(2)
    a, b = rng.random(300), rng.random(300)
    content = csv_bytes({"a": a.round(6), "b": (b * 1e5).round(1), "label": (a > 0.5).astype(int)})
    unscaled = check(tmp_path, content, data={"target": "label", "scale": "none"})
    assert unscaled["feature_scales"]["status"] == "issue_found"
    assert "'b'" in unscaled["feature_scales"]["message"]
    assert check(tmp_path, content, data={"target": "label"})["feature_scales"]["status"] == "ok"
    # One feature far from unit scale saturates the gates on its own.
    big = check(tmp_path, csv_bytes({"x": (a * 1e4).round(2), "label": (a > 0.5).astype(int)}),
                data={"target": "label", "scale": "none"})
    assert big["feature_scales"]["status"] == "issue_found"


def test_duplicated_file_shares_windows_across_the_split(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.random(150)
    twice = np.concatenate([x, x])
    content = csv_bytes({"x": twice.round(6), "label": (twice > 0.5).astype(int)})
    found = check(tmp_path, content, data={"target": "label", "window": 3, "validation_split": 0.3})
    assert found["duplicate_windows"]["status"] == "issue_found"
    assert found["duplicate_windows"]["evidence"]["share"] > 0.9
    # Few distinct inputs: repeats are the nature of the data, not a copy.
    coarse = rng.integers(0, 2, 400)
    few = check(tmp_path, csv_bytes({"x": coarse, "label": coarse}), data={"target": "label", "horizon": 1,
                                                                            "features": ["x"]})
    assert few["duplicate_windows"]["status"] == "ok"


def test_a_copied_or_future_target_is_leakage(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.random(300)
    label = (x > 0.5).astype(int)
    copied = check(tmp_path, csv_bytes({"x": x.round(6), "leak": label * 2 + 1, "label": label}),
                   data={"target": "label"})
    assert copied["target_leakage"]["status"] == "issue_found"
    assert copied["target_leakage"]["evidence"]["feature"] == "leak"
    # Regression with horizon 2: a feature holding the target 3 rows ahead puts the answer
    # inside the window (one row before its end).
    series = np.cumsum(rng.standard_normal(300))
    future = np.append(series[3:], [0.0, 0.0, 0.0])
    leaked = check(tmp_path, csv_bytes({"load": series.round(6), "future": future.round(6)}), task="regression",
                   data={"target": "load", "window": 4, "horizon": 2})
    assert leaked["target_leakage"]["status"] == "issue_found"
    assert leaked["target_leakage"]["evidence"] == {"feature": "future", "shift": 3, "horizon": 2, "window": 4}
    # The target's own past as a feature (horizon ≥ 1) is forecasting, not leakage.
    honest = check(tmp_path, csv_bytes({"load": series.round(6)}), task="regression",
                   data={"target": "load", "features": ["load"], "window": 4, "horizon": 1})
    assert honest["target_leakage"]["status"] == "ok"


def test_npz_leakage_finds_the_timestep(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 6, 3)).astype("float32")
    y = (X[:, :, 0].sum(axis=1) > 0).astype("float32")
    assert issues(check(tmp_path, npz(X, y), fmt="npz")) == set()
    X[:, 4, 2] = y * 5 - 1
    found = check(tmp_path, npz(X, y), fmt="npz")
    assert found["target_leakage"]["status"] == "issue_found"
    assert found["target_leakage"]["evidence"] == {"feature": "feature 2", "timestep": 5, "timesteps": 6}


def test_label_shift_between_training_and_validation(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.random(500)
    label = np.concatenate([rng.random(400) < 0.5, rng.random(100) < 0.95]).astype(int)
    found = check(tmp_path, csv_bytes({"x": x.round(6), "label": label}), data={"target": "label"})
    assert found["label_shift"]["status"] == "issue_found"
    assert found["label_shift"]["evidence"]["psi"] >= 0.25
    trend = np.linspace(0, 10, 400) + rng.standard_normal(400) * 0.1
    drifting = check(tmp_path, csv_bytes({"x": rng.random(400).round(6), "y": trend.round(6)}), task="regression",
                     data={"target": "y"})
    assert drifting["label_shift"]["status"] == "issue_found"
    assert drifting["label_shift"]["evidence"]["mean_shift_in_training_std"] > 1
    stationary = check(tmp_path, csv_bytes({"x": rng.random(400).round(6), "y": rng.standard_normal(400).round(6)}),
                       task="regression", data={"target": "y"})
    assert stationary["label_shift"]["status"] == "ok"


def test_no_validation_part_leaves_those_rules_not_evaluated(tmp_path):
    found = check(tmp_path, classic_csv(rows=100), data={"target": "label", "validation_split": 0})
    assert found["duplicate_windows"]["status"] == "not_evaluated"
    assert found["label_shift"]["status"] == "not_evaluated"
    assert found["constant_target"]["status"] == found["class_imbalance"]["status"] == "ok"  # the rest still run


@pytest.mark.parametrize("model", [
    {"layers": [{"units": 5}]},
    {"layers": [{"units": 8, "bidirectional": True}, {"units": 4}], "dense": [6, 3]},
    {"layers": [{"units": 3}, {"units": 7, "bidirectional": True}]},
])
@pytest.mark.parametrize(("task", "outputs"), [("binary_classification", 1), ("multiclass_classification", 4),
                                               ("regression", 2)])
def test_parameter_count_matches_keras(model, task, outputs):
    from worker.model import build_model

    config = JobConfig.model_validate({"dataset_id": "ds_test", "task": task, "model": model})
    spec = {"n_features": 3, "classes": outputs, "outputs": outputs}
    assert parameter_count(config, spec) == build_model(config, 5, 3, outputs).count_params()
