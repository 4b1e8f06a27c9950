"""Windowing, horizon alignment, time-ordered split, scaling without leakage, class mapping."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data import DatasetError, prepare_arrays, resolve_spec
from core.data.windowing import count_samples, split_sizes, target_rows, training_input_rows
from core.job_config import DataConfig
from tests.helpers import GOOD


def _csv(tmp_path: Path, header: str, rows) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_classic_example_window_1_horizon_0(tmp_path):
    path = _csv(tmp_path, "x,label", [(i, i % 2) for i in range(10)])
    prepared = prepare_arrays(path, "csv", DataConfig(target="label", scale="none"), "binary_classification")
    assert prepared.X_train.shape == (8, 1, 1) and prepared.X_val.shape == (2, 1, 1)
    assert prepared.X_train.dtype == np.float32 and prepared.y_train.dtype == np.float32
    np.testing.assert_array_equal(prepared.X_train[:, 0, 0], np.arange(8))
    np.testing.assert_array_equal(np.concatenate([prepared.y_train, prepared.y_val]), np.arange(10) % 2)
    assert prepared.spec["class_mapping"] == {"0": 0, "1": 1}


def test_windows_and_horizon_align_inputs_with_the_later_target(tmp_path):
    rows = [(i, 100 + i, 1000 + i) for i in range(20)]  # a, b, target = row index in each
    path = _csv(tmp_path, "a,b,target", rows)
    data = DataConfig(target="target", window=4, horizon=3, validation_split=0.25, scale="none")
    prepared = prepare_arrays(path, "csv", data, "regression")
    spec = prepared.spec
    assert spec["samples"] == 20 - 4 - 3 + 1 == 14
    assert (spec["train_samples"], spec["val_samples"]) == (10, 4)
    assert (spec["timesteps"], spec["n_features"], spec["features"]) == (4, 2, ["a", "b"])
    X = np.concatenate([prepared.X_train, prepared.X_val])
    y = np.concatenate([prepared.y_train, prepared.y_val])
    assert X.shape == (14, 4, 2) and y.shape == (14,)
    for i in range(14):
        np.testing.assert_array_equal(X[i, :, 0], np.arange(i, i + 4))  # rows [i, i + window)
        np.testing.assert_array_equal(X[i, :, 1], 100 + np.arange(i, i + 4))
        assert y[i] == 1000 + i + 4 - 1 + 3  # row i + window - 1 + horizon


def test_no_validation_target_row_is_seen_by_training():
    for rows, window, horizon, split in [(50, 1, 0, 0.2), (50, 7, 0, 0.3), (50, 5, 4, 0.2), (9, 3, 2, 0.5)]:
        samples = count_samples(rows, window, horizon)
        train, val = split_sizes(samples, split)
        targets = range(rows)[target_rows(window, horizon, samples)]
        seen_by_training = set(range(rows)[training_input_rows(train, window)]) | set(targets[:train])
        assert val and not seen_by_training & set(targets[train:])


def test_scaler_is_fitted_on_the_training_rows_only(tmp_path):
    # The validation part lives on a wildly different scale: any of it in the statistics shows.
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 80), rng.normal(1e6, 1e3, 20)])
    path = _csv(tmp_path, "x,y", [(v, i % 2) for i, v in enumerate(x)])
    window = 3
    prepared = prepare_arrays(path, "csv", DataConfig(target="y", window=window), "binary_classification")
    train = prepared.spec["train_samples"]
    seen = x[: train + window - 1]
    scaler = prepared.spec["scaler"]
    assert scaler["kind"] == "standard"
    assert scaler["mean"] == pytest.approx([seen.mean()]) and scaler["std"] == pytest.approx([seen.std()])
    assert abs(scaler["mean"][0]) < 1  # nowhere near the validation part's 1e6
    assert abs(prepared.X_train.mean()) < 0.5 and prepared.X_val.mean() > 1e4

    minmax = prepare_arrays(path, "csv", DataConfig(target="y", window=window, scale="minmax"), "binary_classification")
    assert minmax.spec["scaler"]["min"] == [seen.min()] and minmax.spec["scaler"]["max"] == [seen.max()]
    assert minmax.X_train.min() == 0 and minmax.X_train.max() == 1


def test_constant_feature_stays_finite(tmp_path):
    path = _csv(tmp_path, "c,x,y", [(5, i, i % 2) for i in range(10)])
    for scale in ("standard", "minmax"):
        prepared = prepare_arrays(path, "csv", DataConfig(target="y", scale=scale), "binary_classification")
        assert np.isfinite(prepared.X_train).all() and (prepared.X_train[:, :, 0] == 0).all()


def test_text_labels_are_mapped_in_sorted_order(tmp_path):
    labels = ["up", "down", "flat", "up", "down", "flat", "up", "flat", "down", "up"]
    path = _csv(tmp_path, "x,move", [(i, m) for i, m in enumerate(labels)])
    prepared = prepare_arrays(path, "csv", DataConfig(target="move"), "multiclass_classification")
    assert prepared.spec["class_mapping"] == {"down": 0, "flat": 1, "up": 2} and prepared.spec["classes"] == 3
    assert prepared.y_train.dtype == np.int32
    mapping = prepared.spec["class_mapping"]
    np.testing.assert_array_equal(np.concatenate([prepared.y_train, prepared.y_val]), [mapping[m] for m in labels])


def test_binary_numeric_labels_map_to_0_1_in_sorted_order(tmp_path):
    path = _csv(tmp_path, "x,label", [(i, [7, -3][i % 2]) for i in range(10)])
    prepared = prepare_arrays(path, "csv", DataConfig(target="label"), "binary_classification")
    assert prepared.spec["class_mapping"] == {"-3": 0, "7": 1}
    np.testing.assert_array_equal(prepared.y_train, [1, 0, 1, 0, 1, 0, 1, 0])


def test_classes_come_from_the_rows_used_as_targets(tmp_path):
    # Row 0's label "c" is never a target when window is 2, so binary works.
    path = _csv(tmp_path, "x,label", [(0, "c")] + [(i, "ab"[i % 2]) for i in range(1, 10)])
    spec = resolve_spec(path, "csv", DataConfig(target="label", window=2), "binary_classification")
    assert spec["class_mapping"] == {"a": 0, "b": 1}


def test_training_part_with_one_class_is_refused(tmp_path):
    path = _csv(tmp_path, "x,label", [(i, int(i >= 8)) for i in range(10)])
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "csv", DataConfig(target="label"), "binary_classification")
    assert caught.value.errors[0]["loc"] == ["body", "data", "validation_split"]
    assert "only class '0'" in caught.value.detail


def test_autoregression_uses_the_target_as_a_feature_with_a_horizon(tmp_path):
    path = _csv(tmp_path, "x", [(i * 2,) for i in range(10)])
    prepared = prepare_arrays(path, "csv", DataConfig(target="x", features=["x"], window=2, horizon=1,
                                                       scale="none", validation_split=0), "regression")
    assert prepared.X_val.shape == (0, 2, 1) and prepared.spec["val_samples"] == 0
    np.testing.assert_array_equal(prepared.X_train[0, :, 0], [0, 2])
    assert prepared.y_train[0] == 4


def test_validation_split_that_yields_no_validation_sample_is_refused(tmp_path):
    path = _csv(tmp_path, "x,y", [(i, i) for i in range(10)])
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "csv", DataConfig(target="y", validation_split=1e-17), "regression")
    assert "set it to 0" in caught.value.detail


def test_npz_2d_X_gets_a_features_axis_and_2d_y_gives_outputs():
    prepared = prepare_arrays(GOOD / "windows_2d.npz", "npz", DataConfig(validation_split=0.25), "regression")
    assert prepared.X_train.shape == (9, 5, 1) and prepared.X_val.shape == (3, 5, 1)
    assert prepared.y_train.shape == (9, 2) and prepared.spec["outputs"] == 2
    assert (prepared.spec["timesteps"], prepared.spec["n_features"], prepared.spec["window"]) == (5, 1, None)
    raw = np.load(GOOD / "windows_2d.npz")["X"]
    scaler = prepared.spec["scaler"]
    assert scaler["mean"] == pytest.approx([raw[:9].mean()], rel=1e-5)


def test_npz_multiclass_labels_and_per_feature_scaling():
    prepared = prepare_arrays(GOOD / "windows.npz", "npz", DataConfig(), "multiclass_classification")
    assert prepared.spec["class_mapping"] == {"0": 0, "1": 1, "2": 2}
    assert prepared.X_train.shape == (9, 5, 3) and prepared.y_train.dtype == np.int32
    raw = np.load(GOOD / "windows.npz")["X"][:9]
    assert prepared.spec["scaler"]["std"] == pytest.approx(raw.reshape(-1, 3).std(axis=0).tolist())


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(1, 2), st.integers(1, 5), st.integers(0, 3), st.sampled_from([0.0, 0.2, 0.5]))
def test_windows_match_a_naive_loop(rows, n_features, window, horizon, split):
    values = np.arange(rows * n_features, dtype=float).reshape(rows, n_features)
    target = np.arange(rows) * 10.0
    with tempfile.TemporaryDirectory() as tmp:
        path = _csv(Path(tmp), ",".join(f"f{j}" for j in range(n_features)) + ",y",
                    [(*values[i], target[i]) for i in range(rows)])
        data = DataConfig(target="y", window=window, horizon=horizon, validation_split=split, scale="none")
        try:
            prepared = prepare_arrays(path, "csv", data, "regression")
        except DatasetError as e:  # too few samples for this window/split: a 422, never a crash
            assert e.status == 422
            return
    samples = rows - window - horizon + 1
    expected_X = np.array([values[i:i + window] for i in range(samples)]).reshape(samples, window, n_features)
    expected_y = [target[i + window - 1 + horizon] for i in range(samples)]
    train = prepared.spec["train_samples"]
    np.testing.assert_array_equal(np.concatenate([prepared.X_train, prepared.X_val]), expected_X)
    np.testing.assert_array_equal(np.concatenate([prepared.y_train, prepared.y_val]), expected_y)
    assert len(prepared.X_train) == train == int(samples * (1 - split))
