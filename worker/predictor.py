"""Running a saved model on the rows of a prediction request, in a training process.

Models are loaded with plain `keras.saving.load_model` from the blob store, as a user would load
the downloaded file, and the last few are kept loaded: a service predicting in a loop with one
model pays for the load once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import keras
import numpy as np

from core.blobs import BlobCache
from core.data.inference import array_inputs, readable, table_inputs
from core.ids import now
from core.logging import get_logger
from core.predictions import PredictionStore
from core.trained_models import ModelStore

log = get_logger("worker.predictor")
LOADED_MODELS = 4
BATCH = 1024


@dataclass
class Predictor:
    predictions: PredictionStore
    models: ModelStore
    blobs: BlobCache
    _loaded: OrderedDict = field(default_factory=OrderedDict)

    def run(self, tenant: str, prediction_id: str) -> None:
        record = self.predictions.get(tenant, prediction_id)
        inputs = self.predictions.inputs(tenant, prediction_id)
        if record is None or inputs is None or record["status"] != "queued":
            return  # expired, or answered by an earlier delivery of this task
        try:
            model_record = self.models.get(tenant, record["job_id"], record["run"])
            if model_record is None:
                raise LookupError(f"the model of run {record['run']} of job {record['job_id']} no longer exists")
            preprocessing = model_record["preprocessing"]
            model = self._model(tenant, model_record)
            array = np.asarray(inputs, dtype=np.float64)
            if record["input"] == "table":
                X = table_inputs(preprocessing, array)
            else:
                X = array_inputs(preprocessing, array)
            outputs = np.asarray(model.predict(X, batch_size=BATCH, verbose=0))
            items = readable(preprocessing, outputs)
            window = preprocessing["input"]["window"] if record["input"] == "table" else None
            for i, item in enumerate(items):
                item["index"] = i
                if window:
                    item["rows"] = [i + 1, i + window]  # the window's first and last row, 1-based
            self.predictions.finish(tenant, prediction_id, status="succeeded", finished_at=now(), predictions=items)
        except Exception as exc:  # the client reads the kind and message; the trace stays in our log
            log.exception("prediction_failed", prediction_id=prediction_id)
            self.predictions.finish(
                tenant,
                prediction_id,
                status="failed",
                finished_at=now(),
                error={"type": type(exc).__name__, "message": str(exc)[:500]},
            )

    def _model(self, tenant: str, record: dict) -> keras.Model:
        digest = record["sha256"]
        if digest in self._loaded:
            self._loaded.move_to_end(digest)
            return self._loaded[digest]
        model = keras.saving.load_model(self.blobs.file(record["blob"], digest), compile=False)
        self._loaded[digest] = model
        while len(self._loaded) > LOADED_MODELS:
            self._loaded.popitem(last=False)
        return model
