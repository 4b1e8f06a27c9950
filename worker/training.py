"""One training run: seed, build, fit with our callbacks, return the Keras history."""
from __future__ import annotations

from collections.abc import Sequence

import keras

from core.config import JobConfig
from worker.model import build_model


def output_size(config: JobConfig, spec: dict) -> int:
    if config.task == "multiclass_classification":
        return int(spec["classes"])
    if config.task == "regression":
        return int(spec.get("outputs") or 1)
    return 1


def fit_run(
    config: JobConfig,
    prepared,  # core.data.PreparedData
    seed: int,
    callbacks: Sequence[keras.callbacks.Callback],
) -> dict[str, list[float]]:
    keras.utils.set_random_seed(seed)
    spec = prepared.spec
    model = build_model(config, int(spec["timesteps"]), int(spec["n_features"]), output_size(config, spec))
    has_validation = len(prepared.X_val) > 0
    extra: list[keras.callbacks.Callback] = []
    stopping = config.training.early_stopping
    if stopping is not None:
        extra.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss" if has_validation else "loss",
                patience=stopping.patience,
                min_delta=stopping.min_delta,
                restore_best_weights=stopping.restore_best_weights,
            )
        )
    history = model.fit(
        prepared.X_train,
        prepared.y_train,
        validation_data=(prepared.X_val, prepared.y_val) if has_validation else None,
        epochs=config.training.epochs,
        batch_size=config.training.batch_size,
        shuffle=config.training.shuffle,
        callbacks=[*callbacks, *extra],
        verbose=0,
    )
    return history.history
