"""Using a trained model on new data: the preprocessing document saved next to each model, and
the inputs and readable outputs of a prediction, computed exactly as training computed them.

Pure numpy, shared by the API (which validates rows and builds the document's inputs) and the
worker (which runs the model): one home for "what the model expects", so a prediction can never
be scaled or windowed differently from the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.data.scaling import apply_scaler
from core.data.windowing import windows

FORMAT = "lstm-doctor/preprocessing"
VERSION = 1


def preprocessing_document(spec: dict, task: str, *, job_id: str, run: int, seed: int, keep: dict) -> dict:
    """What a user needs to feed the saved model and read its outputs, as plain JSON.

    ``spec`` is the job's resolved data spec with its scaler; ``keep`` says which epoch's weights
    were saved (``{"policy", "epoch", "epochs_trained", "monitor", "value", "reason"?}``).
    """
    table = spec.get("format") != "npz"
    mapping = spec.get("class_mapping")
    return {
        "format": FORMAT,
        "version": VERSION,
        "job_id": job_id,
        "run": run,
        "seed": seed,
        "task": task,
        "weights": keep,
        "input": {
            "kind": "table" if table else "arrays",
            "features": spec.get("features"),
            "window": spec.get("window"),
            "horizon": spec.get("horizon"),
            "timesteps": int(spec["timesteps"]),
            "n_features": int(spec["n_features"]),
            "shape": [None, int(spec["timesteps"]), int(spec["n_features"])],
        },
        "scaler": spec["scaler"],
        "target": spec.get("target"),
        "class_mapping": mapping,
        "labels": labels_by_index(mapping),
        "outputs": spec.get("outputs"),
        "recipe": _recipe(table, spec, task),
    }


def _recipe(table: bool, spec: dict, task: str) -> str:
    scaler = spec["scaler"]["kind"]
    scaling = {
        "standard": "(x - mean) / std per feature (std 0 counts as 1)",
        "minmax": "(x - min) / (max - min) per feature (a zero range counts as 1)",
        "none": "no scaling",
    }[scaler]
    if table:
        shape = (
            "take the columns `features` in that order; every run of `window` consecutive rows is one "
            "sample (rows, in time order), whose prediction is for the target `horizon` rows after its "
            "last row"
        )
    else:
        shape = "X shaped (samples, timesteps, features)"
    output = {
        "binary_classification": "the output is the probability of `labels[1]`",
        "multiclass_classification": "the outputs are the probabilities of `labels` in order",
        "regression": "the outputs are the target in its own units (targets were not scaled)",
    }[task]
    return f"{shape}; scale with {scaling}; cast to float32; {output}."


def labels_by_index(mapping: dict[str, int] | None) -> list[str] | None:
    if mapping is None:
        return None
    return [label for label, _ in sorted(mapping.items(), key=lambda item: item[1])]


def table_inputs(preprocessing: dict, rows: np.ndarray) -> np.ndarray:
    """(rows, features) in the document's feature order → (windows, window, features) float32:
    scaled, then windowed, as `core.data.prepare` does for training. One sample per complete window."""
    window = int(preprocessing["input"]["window"])
    samples = rows.shape[0] - window + 1
    return windows(apply_scaler(preprocessing["scaler"], rows.astype(np.float64, copy=False)), window, samples)


def array_inputs(preprocessing: dict, X: np.ndarray) -> np.ndarray:
    """NPZ-style samples (n, timesteps, features) or (n, timesteps) → scaled float32."""
    if X.ndim == 2:
        X = X[:, :, np.newaxis]
    return apply_scaler(preprocessing["scaler"], X.astype(np.float64, copy=False))


def readable(preprocessing: dict, outputs: np.ndarray) -> list[dict[str, Any]]:
    """Raw model outputs → one JSON item per sample: labels and probabilities, or values."""
    task = preprocessing["task"]
    labels: list[str] = preprocessing.get("labels") or []
    items: list[dict[str, Any]] = []
    if task == "binary_classification":
        p1 = outputs.reshape(len(outputs), -1)[:, 0].astype(float)
        for p in p1:
            items.append({"label": labels[int(p >= 0.5)], "probabilities": {labels[0]: 1.0 - p, labels[1]: p}})
    elif task == "multiclass_classification":
        for row in outputs.astype(float):
            items.append({"label": labels[int(np.argmax(row))], "probabilities": dict(zip(labels, row.tolist()))})
    else:
        values = outputs.reshape(len(outputs), -1).astype(float)
        for row in values:
            items.append({"value": row[0]} if values.shape[1] == 1 else {"values": row.tolist()})
    return items
