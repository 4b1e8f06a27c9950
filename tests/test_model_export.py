"""Which weights a run's saved model keeps (in-process Keras, tiny data)."""

from __future__ import annotations

import hashlib

import keras
import numpy as np

from core.blobs.local import LocalBlobStore
from core.data import prepare_arrays
from core.job_config import DataConfig, JobConfig
from tests.helpers import GOOD
from worker.model import build_model
from worker.model_export import KeepWeights, save_model


def _fit(policy: str, validation: bool, epochs: int = 6) -> tuple[KeepWeights, dict]:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    X = rng.random((64, 2, 1)).astype("float32")
    y = (X[:, -1, 0] > 0.5).astype("float32")
    config = JobConfig.model_validate({"dataset_id": "ds_test", "training": {"learning_rate": 0.05}})
    model = build_model(config, 2, 1, 1)
    keeper = KeepWeights(policy)
    history = model.fit(
        X[:48],
        y[:48],
        validation_data=(X[48:], y[48:]) if validation else None,
        epochs=epochs,
        batch_size=16,
        verbose=0,
        callbacks=[keeper],
    ).history
    return keeper, history


def test_best_keeps_the_lowest_validation_loss_epoch_earliest_on_ties():
    keeper, history = _fit("best", validation=True)
    kept = keeper.apply()
    best = int(np.argmin(history["val_loss"])) + 1
    assert kept == {
        "policy": "best",
        "epoch": best,
        "epochs_trained": 6,
        "monitor": "val_loss",
        "value": history["val_loss"][best - 1],
    }
    for saved, current in zip(keeper.best_weights, keeper.model.get_weights()):
        np.testing.assert_array_equal(saved, current)


def test_last_keeps_the_last_epoch_and_best_without_validation_falls_back_to_it():
    keeper, _ = _fit("last", validation=True)
    assert keeper.apply() == {"policy": "last", "epoch": 6, "epochs_trained": 6}
    keeper, _ = _fit("best", validation=False)
    kept = keeper.apply()
    assert kept["policy"] == "last" and kept["epoch"] == 6 and "no validation data" in kept["reason"]
    for saved, current in zip(keeper.last_weights, keeper.model.get_weights()):
        np.testing.assert_array_equal(saved, current)


def test_each_attempt_saves_its_own_file(tmp_path):
    """A stale trainer (its job requeued and claimed again) saves beside the current attempt's file,
    never over it, and removing its own file (what the runner does once fenced) leaves the other."""
    keeper, _ = _fit("best", validation=True)
    spec = prepare_arrays(GOOD / "classic.csv", "csv", DataConfig(target="label", window=2), "binary_classification").spec
    store = LocalBlobStore(tmp_path / "blobs")
    common = {"tenant": "t", "job_id": "job_x", "run": 1, "seed": 0, "task": "binary_classification", "spec": spec}
    current = save_model(store, keeper.model, keeper, attempt=2, **common)
    stale = save_model(store, keeper.model, keeper, attempt=1, **common)
    assert stale["blob"] != current["blob"]
    store.delete(stale["blob"])
    path = store.local_path(current["blob"])
    assert path is not None and hashlib.sha256(path.read_bytes()).hexdigest() == current["sha256"]
