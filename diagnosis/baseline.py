"""The trivial predictor's loss: the yardstick that says whether a model learned anything.

A training loss near this number means the model does no better than predicting the class
prior (classification) or the mean (regression), whatever the loss's absolute size.
"""

from __future__ import annotations

import numpy as np

# Probabilities are clipped like Keras' own cross-entropy (epsilon 1e-7), so a class missing
# from the training part costs a large but finite loss instead of inf.
_EPSILON = 1e-7


def baseline_loss(task: str, y_train: np.ndarray, y_val: np.ndarray) -> float:
    """Loss of the trivial predictor, fitted on ``y_train`` and scored on ``y_val``.

    Units match the Keras loss the worker uses for ``task``: binary cross-entropy of the
    training class prior, sparse categorical cross-entropy of the training class frequencies,
    or mean squared error of the training mean. An empty ``y_val`` scores on ``y_train``.
    """
    y_train = np.asarray(y_train, dtype=float)
    y_val = np.asarray(y_val, dtype=float)
    if y_train.size == 0:
        raise ValueError("baseline_loss needs at least one training target")
    if y_val.size == 0:
        y_val = y_train
    if task == "binary_classification":
        prior = float(np.clip(y_train.mean(), _EPSILON, 1 - _EPSILON))
        y = y_val.ravel()
        return float(-np.mean(y * np.log(prior) + (1 - y) * np.log(1 - prior)))
    if task == "multiclass_classification":
        train_classes = y_train.ravel().astype(int)
        val_classes = y_val.ravel().astype(int)
        if train_classes.min() < 0 or val_classes.min() < 0:
            raise ValueError("class indices must be non-negative integers")
        n_classes = max(train_classes.max(), val_classes.max()) + 1
        class_prior = np.clip(np.bincount(train_classes, minlength=n_classes) / train_classes.size, _EPSILON, 1.0)
        return float(-np.mean(np.log(class_prior[val_classes])))
    if task == "regression":
        # Several outputs are averaged, as Keras' MSE averages over the last axis and samples.
        mean = y_train.reshape(len(y_train), -1).mean(axis=0)
        residual = y_val.reshape(len(y_val), -1) - mean
        return float(np.mean(residual**2))
    raise ValueError(f"unknown task {task!r}: expected binary_classification, multiclass_classification or regression")
