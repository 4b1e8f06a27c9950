"""Builds and compiles the Keras model a job config describes (Keras 3 API, any backend)."""

from __future__ import annotations

from collections.abc import Callable

import keras

from core.job_config import JobConfig, main_metric

_LOSS = {
    "binary_classification": "binary_crossentropy",
    "multiclass_classification": "sparse_categorical_crossentropy",
    "regression": "mse",
}
_OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}


def output_layer(task: str, outputs: int) -> keras.layers.Layer:
    if task == "binary_classification":
        return keras.layers.Dense(1, activation="sigmoid")
    if task == "multiclass_classification":
        return keras.layers.Dense(outputs, activation="softmax")
    return keras.layers.Dense(outputs, activation="linear")


def build_model(
    config: JobConfig, timesteps: int, features: int, outputs: int, *, instrument: Callable[[type], type] | None = None
) -> keras.Model:
    """The classic recipe by default: LSTM(5) → Dense(1, sigmoid), binary cross-entropy, adam.

    ``instrument`` may wrap the optimizer class (``worker.health.instrumented``)."""
    layers: list[keras.layers.Layer] = [keras.Input(shape=(timesteps, features))]
    stack = config.model.layers
    for i, spec in enumerate(stack):
        lstm = keras.layers.LSTM(
            spec.units,
            dropout=spec.dropout,
            recurrent_dropout=spec.recurrent_dropout,
            # Every layer but the last hands its whole sequence to the next one.
            return_sequences=i < len(stack) - 1,
        )
        layers.append(keras.layers.Bidirectional(lstm) if spec.bidirectional else lstm)
    layers += [keras.layers.Dense(units, activation="relu") for units in config.model.dense]
    layers.append(output_layer(config.task, outputs))
    model = keras.Sequential(layers)

    training = config.training
    optimizer_kwargs: dict[str, float] = {"learning_rate": training.learning_rate}
    if training.clipnorm is not None:
        optimizer_kwargs["clipnorm"] = training.clipnorm
    optimizer_class = _OPTIMIZERS[training.optimizer]
    if instrument is not None:
        optimizer_class = instrument(optimizer_class)
    model.compile(
        optimizer=optimizer_class(**optimizer_kwargs),
        loss=_LOSS[config.task],
        metrics=[main_metric(config.task)],
    )
    return model
