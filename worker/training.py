"""One training run: seed, build, fit with our callbacks, return the Keras history.

Under the TensorFlow backend the arrays are fed through `worker.fast_input` (native tf.data
pipelines, several batches per compiled call); other backends fit on the arrays directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from core.cost import output_size as _output_size
from core.job_config import JobConfig
from worker import fast_input
from worker.health import HealthMonitor, instrumented
from worker.model import build_model


def output_size(config: JobConfig, spec: dict) -> int:
    return _output_size(config, spec)


def fit_run(
    config: JobConfig,
    prepared,  # core.data.PreparedData
    seed: int,
    callbacks: Sequence[keras.callbacks.Callback],
    health: HealthMonitor | None = None,
) -> dict[str, list[float]]:
    """``health`` watches the run's numeric health; its gradient counters need the optimizer
    instrumented, which the TensorFlow backend supports (elsewhere it records the rest)."""
    keras.utils.set_random_seed(seed)
    spec = prepared.spec
    instrument = instrumented if health is not None and fast_input.available() else None
    model = build_model(
        config, int(spec["timesteps"]), int(spec["n_features"]), output_size(config, spec), instrument=instrument
    )
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
        **_inputs(model, prepared, config.training.batch_size, config.training.shuffle, seed),
        epochs=config.training.epochs,
        callbacks=[*callbacks, *extra, *([health] if health is not None else [])],
        verbose=0,
    )
    return history.history


def _inputs(model: keras.Model, prepared, batch_size: int, shuffle: bool, seed: int) -> dict:
    """The data arguments of ``model.fit``: fast tf.data pipelines where the backend has them."""
    has_validation = len(prepared.X_val) > 0
    if not fast_input.available():
        return {
            "x": prepared.X_train,
            "y": prepared.y_train,
            "validation_data": (prepared.X_val, prepared.y_val) if has_validation else None,
            "batch_size": batch_size,
            "shuffle": shuffle,
        }
    # Read by Keras when fit builds its train and test functions, so setting it after compile
    # works; it changes how many batches one call runs, not what a batch computes.
    model.steps_per_execution = fast_input.steps_per_execution(len(prepared.X_train), batch_size)
    rows = getattr(prepared, "rows", None)
    if rows is not None:
        # Table windows: gathered per batch from the rows, never copied whole.
        window, train = prepared.window, len(prepared.X_train)
        return {
            "x": fast_input.window_batches(rows, window, 0, prepared.y_train, batch_size, shuffle, seed),
            "validation_data": (
                fast_input.window_batches(rows, window, train, prepared.y_val, batch_size, False, seed)
                if has_validation
                else None
            ),
            "shuffle": False,
        }
    return {
        "x": fast_input.training_batches(prepared.X_train, prepared.y_train, batch_size, shuffle, seed),
        "validation_data": (
            fast_input.fixed_batches(prepared.X_val, prepared.y_val, batch_size) if has_validation else None
        ),
        # The pipeline shuffles (or not) itself; Keras would only warn that it cannot.
        "shuffle": False,
    }
