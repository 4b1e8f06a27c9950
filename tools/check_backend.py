"""Runs the worker's training code on another Keras backend (not part of `make test`, which uses
TensorFlow): stacked, bidirectional and dropout models for each task, fitted with our callbacks
and early stopping; checks that every epoch is recorded and the same seed gives the same history.

    KERAS_BACKEND=torch .venv/bin/python tools/check_backend.py   # needs torch (or jax) installed
"""
from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np

from core.job_config import JobConfig
from worker import devices
from worker.callbacks import EpochRecorder, StopWhen
from worker.training import fit_run

CASES = [
    ("binary_classification", [{"units": 5}], lambda x: (x > 0.5).astype("float32")),
    ("multiclass_classification", [{"units": 4, "bidirectional": True}, {"units": 3, "recurrent_dropout": 0.1}],
     lambda x: np.digitize(x, [0.33, 0.66]).astype("int32")),
    ("regression", [{"units": 6, "dropout": 0.1}], lambda x: (2 * x + 1).astype("float32")),
]


def main() -> None:
    print("backend:", keras.backend.backend(), devices.describe("check"))
    x = np.random.default_rng(0).random((400, 1, 1)).astype("float32")
    for task, layers, target in CASES:
        y = target(x[:, 0, 0])
        prepared = SimpleNamespace(X_train=x[:320], y_train=y[:320], X_val=x[320:], y_val=y[320:],
                                   spec={"timesteps": 1, "n_features": 1, "classes": 3, "outputs": 1})
        config = JobConfig(dataset_id="ds_check", task=task, model={"layers": layers, "dense": [4]},
                           training={"epochs": 3, "early_stopping": {"patience": 1}})
        epochs: list[int] = []
        first = fit_run(config, prepared, 0, [EpochRecorder(lambda e, _, epochs=epochs: epochs.append(e)), StopWhen(lambda: False)])
        again = fit_run(config, prepared, 0, [])
        assert epochs == list(range(1, len(first["loss"]) + 1)), epochs
        assert first == again, "the same seed gave another history"
        print(f"{task}: ok, {len(epochs)} epochs, metrics {sorted(first)}")


if __name__ == "__main__":
    main()
