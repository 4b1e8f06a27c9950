"""The health monitor on real Keras fits (tiny data, in-process): the NumPy replay matches Keras,
watching does not change what is trained, records are JSON-safe, and training.stop_on stops runs."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from core.data import PreparedData
from core.job_config import JobConfig
from diagnosis.findings import training as rules
from worker import activations, devices, fast_input
from worker.health import EVERY_STEPS, HealthMonitor, layer_names
from worker.model import build_model
from worker.training import fit_run


@pytest.fixture(scope="module", autouse=True)
def _like_a_worker():
    devices.prepare()


def classic(samples: int = 200, seed: int = 0) -> PreparedData:
    x = np.random.default_rng(seed).random(samples).astype("float32")
    X, y = ((x - 0.5) / 0.29).reshape(-1, 1, 1), (x > 0.5).astype("float32")
    train = int(samples * 0.8)
    return PreparedData(X[:train], y[:train], X[train:], y[train:], {"timesteps": 1, "n_features": 1})


def noisy_series(samples: int = 240, window: int = 8, seed: int = 0) -> PreparedData:
    rng = np.random.default_rng(seed)
    s = np.sin(np.arange(samples + window) / 4) + 0.3 * rng.standard_normal(samples + window)
    X = np.stack([s[i:i + window] for i in range(samples)])[..., None].astype("float32")
    y = s[window:].astype("float32")
    train = int(samples * 0.8)
    return PreparedData(X[:train], y[:train], X[train:], y[train:],
                        {"timesteps": window, "n_features": 1, "outputs": 1})


def job(task: str = "binary_classification", **training) -> JobConfig:
    return JobConfig.model_validate({"dataset_id": "ds_test", "task": task,
                                     "training": {"epochs": 4, "batch_size": 16, **training}})


@pytest.mark.parametrize(("task", "model", "outputs"), [
    ("binary_classification", {"layers": [{"units": 5}]}, 1),
    ("multiclass_classification", {"layers": [{"units": 6, "bidirectional": True}, {"units": 4}], "dense": [5]}, 3),
    ("regression", {"layers": [{"units": 3}, {"units": 4, "bidirectional": True}], "dense": [4]}, 2),
])
def test_numpy_replay_matches_keras(task, model, outputs):
    keras.utils.set_random_seed(1)
    config = JobConfig.model_validate({"dataset_id": "ds_test", "task": task, "model": model})
    built = build_model(config, 7, 3, outputs)
    x = np.random.default_rng(2).standard_normal((16, 7, 3)).astype("float32")
    reading = activations.forward(built, layer_names(built), x)
    np.testing.assert_allclose(reading.predictions, built.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    assert [r.name for r in reading.layers][-1] == "output"
    assert all(0 <= r.saturation <= 1 for r in reading.layers if r.kind == "lstm")


@pytest.mark.skipif(not fast_input.available(), reason="gradient counters are compiled into TensorFlow's step")
def test_watching_changes_nothing_and_records_every_epoch():
    config, data = job(), classic()
    plain = fit_run(config, data, seed=3, callbacks=[])
    monitor = HealthMonitor(config.task, data.X_train, data.y_train)
    watched = fit_run(config, data, seed=3, callbacks=[], health=monitor)
    assert watched == plain  # same seed, same history, to the last digit
    assert [r["epoch"] for r in monitor.records] == [0, 1, 2, 3, 4]
    json.dumps(monitor.records, allow_nan=False)  # stored as is: no NaN literals
    last = monitor.records[-1]
    steps_per_epoch = -(-len(data.X_train) // 16)
    assert last["grad_steps"] == -(-steps_per_epoch // EVERY_STEPS) and last["grad_norm"] > 0  # sampled steps
    assert {"grad_norm/lstm_1", "grad_norm/output", "update_ratio/lstm_1", "weight_norm/lstm_1",
            "saturation/lstm_1", "dead_units/lstm_1", "sample_loss"} <= set(last)
    assert last["grad_norm_min"] <= last["grad_norm"] <= last["grad_norm_max"]
    assert monitor.records[0].get("grad_norm") is None  # before the first step there is no gradient
    assert {f["status"] for f in rules.evaluate([plain], [monitor.records])} == {"ok"}


@pytest.mark.skipif(not fast_input.available(), reason="gradient counters are compiled into TensorFlow's step")
def test_every_nth_step_is_recorded_and_each_epoch_reads_its_own_steps():
    config, data = job(), classic()  # 160 training samples, batch 16: 10 steps per epoch
    every = HealthMonitor(config.task, data.X_train, data.y_train)
    fit_run(config, data, seed=3, callbacks=[], health=every)
    third = HealthMonitor(config.task, data.X_train, data.y_train, every_steps=3)
    fit_run(config, data, seed=3, callbacks=[], health=third)
    # Steps 1, 4, 7, 10 | 13, 16, 19 | 22, 25, 28 | 31, 34, 37, 40 of the run.
    assert [r.get("grad_steps") for r in third.records] == [None, 4, 3, 3, 4]
    for sampled, full in zip(third.records[1:], every.records[1:]):
        assert full["grad_norm_min"] <= sampled["grad_norm"] <= full["grad_norm_max"]
        assert sampled["grad_norm_first"] == full["grad_norm_first"]  # step 1 is recorded either way


@pytest.mark.skipif(not fast_input.available(), reason="gradient counters are compiled into TensorFlow's step")
def test_stop_on_nan_ends_the_run_at_the_first_non_finite_step():
    config = job("regression", optimizer="sgd", learning_rate=10.0, epochs=6)
    data = noisy_series()
    unstopped = HealthMonitor(config.task, data.X_train, data.y_train)
    history = fit_run(config, data, seed=0, callbacks=[], health=unstopped)
    assert len(history["loss"]) == 6
    found = {f["rule"]: f for f in rules.evaluate([history], [unstopped.records])}
    assert found["non_finite"]["status"] == "issue_found"
    assert found["exploding_gradients"]["status"] == "issue_found"
    assert found["non_finite"]["evidence"]["what"] == "gradient"

    monitor = HealthMonitor(config.task, data.X_train, data.y_train, stop_on=["nan"])
    stopped = fit_run(config, data, seed=0, callbacks=[], health=monitor)
    first_bad = found["non_finite"]["evidence"]["epoch"]
    assert len(stopped["loss"]) == first_bad < 6
    assert monitor.stopped == {"rule": "non_finite", "stop_on": "nan", "epoch": first_bad}
    assert monitor.records[-1]["stopped"] == "non_finite"


@pytest.mark.skipif(not fast_input.available(), reason="gradient counters are compiled into TensorFlow's step")
def test_stop_on_overfit_restores_the_best_weights():
    # Few, noisy samples and a big model for many epochs: validation loss turns up early.
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 4, 3)).astype("float32")
    y = (X[:, -1, 0] + 0.8 * rng.standard_normal(60) > 0).astype("float32")
    data = PreparedData(X[:40], y[:40], X[40:], y[40:], {"timesteps": 4, "n_features": 3})
    config = JobConfig.model_validate({"dataset_id": "ds_test", "model": {"layers": [{"units": 64}], "dense": [64]},
                                       "training": {"epochs": 80, "batch_size": 8, "learning_rate": 0.01}})
    monitor = HealthMonitor(config.task, data.X_train, data.y_train, stop_on=["overfit"])
    history = fit_run(config, data, seed=0, callbacks=[], health=monitor)
    assert monitor.stopped is not None and monitor.stopped["rule"] == "overfit"
    assert len(history["loss"]) == monitor.stopped["epoch"] < 80
    best = monitor.stopped["restored_epoch"]
    assert best == int(np.argmin(history["val_loss"])) + 1
    finding = rules.evaluate([history], [monitor.records], stop_on=["overfit"])[-1]
    assert finding["rule"] == "overfit" and finding["status"] == "issue_found"
    assert finding["evidence"]["stopped"] is True and finding["evidence"]["best_epoch"] == best


@pytest.mark.parametrize(("units", "replayed"), [(128, True), (512, False)])
def test_big_models_replay_fewer_samples_or_none(units, replayed):
    from worker.health import MIN_REPLAY_SAMPLES, REPLAY_BUDGET, SAMPLE_BATCH

    config = JobConfig.model_validate({"dataset_id": "ds_test", "model": {"layers": [{"units": units}] * 2}})
    model = build_model(config, 64, 8, 1)
    x, y = np.zeros((200, 64, 8), dtype="float32"), np.zeros(200, dtype="float32")
    monitor = HealthMonitor(config.task, x, y)
    monitor.set_model(model)
    monitor.on_train_begin()
    samples = int(REPLAY_BUDGET // activations.replay_cost(model, 64))
    assert samples < SAMPLE_BATCH and (samples >= MIN_REPLAY_SAMPLES) == replayed
    [record] = monitor.records
    assert "weight_norm/lstm_2" in record  # measured on the backend, whatever the size
    assert ("saturation/lstm_1" in record) == replayed
    if replayed:
        assert len(monitor.x_sample) == samples
