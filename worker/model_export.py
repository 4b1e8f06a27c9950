"""Keeping and saving a run's model: the weights of its best validation epoch (or its last), as a
`.keras` file in the blob store, with the preprocessing document that goes with it."""

from __future__ import annotations

import hashlib
import math
import tempfile
from pathlib import Path

import keras
import numpy as np

from core.blobs import BlobStore
from core.blobs import keys as blob_keys
from core.data.inference import preprocessing_document


class KeepWeights(keras.callbacks.Callback):
    """Remembers the weights to save: those of the epoch with the lowest raw validation loss
    (earliest on ties, as the diagnosis' `best_epoch`), or the last epoch's.

    Listed before EarlyStopping, so "last" means what the last epoch trained, not what
    `restore_best_weights` puts back.
    """

    def __init__(self, policy: str) -> None:
        super().__init__()
        self.policy = policy
        self.best: float = math.inf
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.last_weights: list[np.ndarray] | None = None
        self.epochs = 0
        self.saw_validation = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs = epoch + 1
        value = (logs or {}).get("val_loss")
        if value is None:
            return
        self.saw_validation = True
        value = float(value)
        if self.policy == "best" and math.isfinite(value) and value < self.best:
            self.best, self.best_epoch = value, epoch + 1
            self.best_weights = [w.copy() for w in self.model.get_weights()]

    def on_train_end(self, logs: dict | None = None) -> None:
        self.last_weights = self.model.get_weights()

    def apply(self) -> dict:
        """Puts the kept weights into the model; returns what was kept (for the document)."""
        if self.policy == "best" and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            return {
                "policy": "best",
                "epoch": self.best_epoch,
                "epochs_trained": self.epochs,
                "monitor": "val_loss",
                "value": self.best,
            }
        if self.last_weights is not None:
            self.model.set_weights(self.last_weights)
        kept = {"policy": "last", "epoch": self.epochs, "epochs_trained": self.epochs}
        if self.policy == "best":
            kept["reason"] = (
                "no validation data, so no best validation epoch: the last epoch's weights were kept"
                if not self.saw_validation
                else "validation loss was never finite: the last epoch's weights were kept"
            )
        return kept


def save_model(
    store: BlobStore,
    model: keras.Model,
    keeper: KeepWeights,
    *,
    tenant: str,
    job_id: str,
    run: int,
    attempt: int,
    seed: int,
    task: str,
    spec: dict,
) -> dict:
    """Saves the kept weights as ``.keras`` in the blob store; returns the model's record."""
    kept = keeper.apply()
    key = blob_keys.model(tenant, job_id, run, attempt)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"  # Keras insists on the suffix
        model.save(path)
        digest, size = _sha256(path), path.stat().st_size
        store.put_file(key, path, move=True)
    document = preprocessing_document(spec, task, job_id=job_id, run=run, seed=seed, keep=kept)
    document["keras_version"] = keras.__version__
    return {"run": run, "blob": key, "sha256": digest, "size_bytes": size, "preprocessing": document}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
