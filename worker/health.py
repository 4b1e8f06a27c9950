"""Numeric health of a run while it trains: gradients, updates, gates, dead units, non-finite values.

Two parts, so that the fast training path stays fast (benchmarks/BENCHMARKS.md, "health checks"):

- ``GradientProbe``: a vector of counters that the optimizer itself updates inside the compiled
  training step (``instrumented`` wraps the optimizer class), every ``every_steps`` steps:
  gradient norms per layer and the first step with a non-finite gradient. Keras calls batch callbacks only once per ``steps_per_execution`` batches, and
  gradients never leave the compiled step; in-graph counters see every sampled step for the
  price of a few small tensor ops.
- ``HealthMonitor``: a Keras callback that reads those counters at each epoch end, replays the
  model on a fixed sample batch in NumPy (``worker.activations``: gate saturation, dead units,
  the loss on that batch), measures how far each layer's weights moved during the epoch (the
  update/weight ratio per step), and hands one *health record* per epoch to ``on_record``. Epoch 0 is
  the state before the first step. The rules that read these records are pure and live in
  ``diagnosis.findings.training``; the same functions decide ``training.stop_on``.

Like every monitoring callback here, it never crashes the training it watches.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from core.logging import get_logger
from diagnosis.findings import training as rules
from worker import activations

log = get_logger("worker.health")

# Enough samples to measure saturation and dead units, few enough that the NumPy replay of the
# model stays around a millisecond per epoch for the classic example.
SAMPLE_BATCH = 128
# The replay's budget per epoch (multiply-adds, about 0.1 s of NumPy): big models replay fewer
# samples, and below MIN_REPLAY_SAMPLES the replay (saturation, dead units, sample loss) is skipped
# rather than slow every epoch down.
REPLAY_BUDGET = 2e8
MIN_REPLAY_SAMPLES = 8


def layer_names(model: keras.Model) -> list[str]:
    """Names for the model's layers as a user knows them from the config: lstm_1, lstm_2, …,
    dense_1, …, output (Keras' own names change with every model built in a process)."""
    names: list[str] = []
    lstm = dense = 0
    weighted = [layer for layer in model.layers if layer.weights]
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (keras.layers.LSTM, keras.layers.Bidirectional)):
            lstm += 1
            names.append(f"lstm_{lstm}")
        elif layer is weighted[-1]:
            names.append("output")
        elif isinstance(layer, keras.layers.Dense):
            dense += 1
            names.append(f"dense_{dense}")
        else:
            names.append(f"layer_{i}")
    return names


class GradientProbe:
    """Counters the instrumented optimizer updates in the compiled step; read and reset per epoch.

    All counters live in one vector variable, so a sampled step adds one assignment to the graph
    and an epoch end one read and one write.
    """

    # Since the last read: sampled steps, those with a finite gradient, the sum, max and min of
    # the finite global gradient norms. For the whole run: the first sampled norm, and the first
    # step with a non-finite gradient (1-based; -1: none yet). Then per layer: the sum of its
    # gradient norms, and its steps with a non-finite gradient.
    SAMPLED, FINITE, NORM_SUM, NORM_MAX, NORM_MIN, FIRST_NORM, FIRST_BAD = range(7)
    _HEAD = 7

    def __init__(self, model: keras.Model, names: Sequence[str], every_steps: int = 1) -> None:
        owners = {id(w): i for i, layer in enumerate(model.layers) for w in layer.trainable_weights}
        self.layers = [names[i] for i, layer in enumerate(model.layers) if layer.trainable_weights]
        index = {name: k for k, name in enumerate(self.layers)}
        variables = model.trainable_variables
        membership = np.zeros((len(variables), len(self.layers)), dtype="float32")
        for v, variable in enumerate(variables):
            membership[v, index[names[owners[id(variable)]]]] = 1.0
        self._membership = membership
        self.every_steps = max(1, int(every_steps))
        self.state = keras.Variable(self._fresh(None), trainable=False, dtype="float32")

    def _fresh(self, previous: np.ndarray | None) -> np.ndarray:
        state = np.zeros(self._HEAD + 2 * len(self.layers), dtype="float32")
        state[self.NORM_MIN] = np.inf
        state[self.FIRST_NORM] = state[self.FIRST_BAD] = -1.0
        if previous is not None:  # kept for the whole run
            state[self.FIRST_NORM] = previous[self.FIRST_NORM]
            state[self.FIRST_BAD] = previous[self.FIRST_BAD]
        return state

    def observe(self, grads: Sequence, step) -> None:
        """Called inside the compiled step; ``step`` counts the steps taken, this one included."""
        step = ops.cast(step, "float32")
        sample = ops.equal(ops.mod(step - 1.0, float(self.every_steps)), 0.0)
        n = len(self.layers)

        def measure():
            squares = ops.stack([ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads])
            grad_sq = ops.squeeze(ops.matmul(ops.expand_dims(squares, 0), ops.convert_to_tensor(self._membership)), 0)
            finite = ops.isfinite(grad_sq)
            norm = ops.sqrt(ops.sum(grad_sq))
            ok = ops.isfinite(norm)
            kept = ops.where(ok, norm, 0.0)
            s = ops.convert_to_tensor(self.state)
            first_bad = ops.logical_and(s[self.FIRST_BAD] < 0.0, ops.logical_not(ops.all(finite)))
            head = ops.stack(
                [
                    s[self.SAMPLED] + 1.0,
                    s[self.FINITE] + ops.cast(ok, "float32"),
                    s[self.NORM_SUM] + kept,
                    ops.maximum(s[self.NORM_MAX], kept),
                    ops.where(ok, ops.minimum(s[self.NORM_MIN], norm), s[self.NORM_MIN]),
                    ops.where(s[self.FIRST_NORM] < 0.0, kept, s[self.FIRST_NORM]),
                    ops.where(first_bad, step, s[self.FIRST_BAD]),
                ]
            )
            layer_sums = s[self._HEAD : self._HEAD + n] + ops.where(finite, ops.sqrt(grad_sq), 0.0)
            bad_steps = s[self._HEAD + n :] + ops.cast(ops.logical_not(finite), "float32")
            self.state.assign(ops.concatenate([head, layer_sums, bad_steps]))
            return ops.zeros(())

        ops.cond(sample, measure, lambda: ops.zeros(()))

    def _values(self) -> np.ndarray:
        return np.asarray(keras.ops.convert_to_numpy(self.state), dtype=np.float64)

    def first_bad_step(self) -> int | None:
        step = float(self._values()[self.FIRST_BAD])
        return int(step) if step > 0 else None

    def read(self) -> dict:
        """The counters since the last read as health-record fields; then they start again."""
        value = self._values()
        n = len(self.layers)
        sampled, finite = float(value[self.SAMPLED]), float(value[self.FINITE])
        fields: dict = {"grad_steps": int(sampled)}
        if finite:
            # Means over the sampled steps whose gradient was finite: a NaN step is the
            # non_finite rule's business, and must not read as a vanishing gradient.
            fields.update(
                grad_norm=float(value[self.NORM_SUM]) / finite,
                grad_norm_max=float(value[self.NORM_MAX]),
                grad_norm_min=float(value[self.NORM_MIN]),
            )
        layer_sums, bad_steps = value[self._HEAD : self._HEAD + n], value[self._HEAD + n :]
        for k, name in enumerate(self.layers):
            good = sampled - float(bad_steps[k])
            if good > 0:
                fields[f"grad_norm/{name}"] = float(layer_sums[k]) / good
        if value[self.FIRST_NORM] >= 0:
            fields["grad_norm_first"] = float(value[self.FIRST_NORM])
        fields["_bad_gradient_layers"] = [name for k, name in enumerate(self.layers) if bad_steps[k] > 0]
        self.state.assign(self._fresh(value))
        return fields


@functools.cache
def instrumented(optimizer_class: type) -> type:
    """``optimizer_class`` whose ``apply`` also feeds the model's ``GradientProbe``, if one is set.

    The subclass keeps the original's name and module, so a saved model records a plain
    ``Adam`` (or whichever), and loads without lstm-doctor.
    """

    base: Any = optimizer_class  # a Keras optimizer class; Keras has no type information

    def apply(self, grads, trainable_variables=None):
        probe = getattr(self, "health_probe", None)
        result = base.apply(self, grads, trainable_variables)
        if probe is not None and trainable_variables is not None:
            probe.observe(list(grads), self.iterations)
        return result

    return type(
        optimizer_class.__name__,
        (optimizer_class,),
        {
            "apply": apply,
            "health_instrumented": True,
            "__module__": optimizer_class.__module__,
            "__qualname__": optimizer_class.__qualname__,
        },
    )


class HealthMonitor(keras.callbacks.Callback):
    """Per-epoch health records of one run, and ``training.stop_on`` decided from them.

    ``on_record(epoch, record)`` receives each record (epoch 0: before training). ``stopped``
    says which rule stopped the run, if one did. With ``stop_on`` holding ``"nan"`` the monitor
    is a ``NanStoppingMonitor``, which also looks after every batch; without it there is no
    batch hook, so Keras keeps dispatching batch callbacks asynchronously.
    """

    def __new__(cls, *args, stop_on: Sequence[str] = (), **kwargs):
        if cls is HealthMonitor and "nan" in stop_on:
            cls = NanStoppingMonitor
        return super().__new__(cls)

    def __init__(
        self,
        task: str,
        x_sample: np.ndarray,
        y_sample: np.ndarray,
        *,
        stop_on: Sequence[str] = (),
        on_record: Callable[[int, dict], None] | None = None,
        every_steps: int = 1,
    ) -> None:
        super().__init__()
        self.task = task
        self.x_sample = np.asarray(x_sample[:SAMPLE_BATCH])
        self.y_sample = np.asarray(y_sample[:SAMPLE_BATCH])
        self.stop_on = tuple(stop_on)
        self.on_record = on_record
        self.every_steps = every_steps
        self.records: list[dict] = []
        self.history: dict[str, list[float | None]] = {}
        self.stopped: dict | None = None
        self.probe: GradientProbe | None = None
        self.names: list[str] = []
        self._best: tuple[float, int, list] | None = None
        self.replay = True
        self._previous: dict[int, Any] = {}  # a copy of each weight at the last epoch end
        self._steps = 0

    # Keras hooks -------------------------------------------------------------------------
    def on_train_begin(self, logs=None) -> None:
        self.names = layer_names(self.model)
        per_sample = activations.replay_cost(self.model, self.x_sample.shape[1]) if self.x_sample.ndim == 3 else 0
        samples = int(min(len(self.x_sample), REPLAY_BUDGET // max(per_sample, 1)))
        self.replay = samples >= min(MIN_REPLAY_SAMPLES, len(self.x_sample)) and samples > 0
        self.x_sample, self.y_sample = self.x_sample[:samples], self.y_sample[:samples]
        optimizer = self.model.optimizer
        if getattr(type(optimizer), "health_instrumented", False):
            try:
                self.probe = GradientProbe(self.model, self.names, self.every_steps)
                optimizer.health_probe = self.probe
            except Exception:  # noqa: BLE001 - without gradients the other numbers still help
                log.warning("gradient_probe_unavailable", exc_info=True)
                self.probe = None
        self._emit(0, self._record(0, {}))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        for name, value in (logs or {}).items():
            number = float(value)
            self.history.setdefault(name, []).append(number if math.isfinite(number) else None)
        record = self._record(epoch + 1, logs or {})
        self._remember_best(epoch + 1)
        if self.stopped is None:
            fired = rules.stop_reason([*self.records, record], self.history, self.stop_on)
            if fired is not None:
                self._stop(*fired, epoch=epoch + 1)
        if self.stopped is not None:
            record["stopped"] = self.stopped["rule"]
        self._emit(epoch + 1, record)

    def on_train_end(self, logs=None) -> None:
        if self.probe is not None:
            self.model.optimizer.health_probe = None

    # Internals ---------------------------------------------------------------------------
    def _record(self, epoch: int, logs: dict) -> dict:
        record: dict = {"epoch": epoch}
        try:
            bad_gradients: list[str] = []
            if self.probe is not None and epoch > 0:
                fields = self.probe.read()
                bad_gradients = fields.pop("_bad_gradient_layers")
                record.update(fields)
            weights = self._weights(record)
            reading = activations.forward(self.model, self.names, self.x_sample) if self.replay else None
            if reading is not None:
                record["sample_loss"] = activations.loss(self.task, reading.predictions, self.y_sample)
            for layer in reading.layers if reading is not None else []:
                if not layer.finite:
                    continue  # NaN activations say nothing about saturation; non_finite reports them
                if layer.saturation is not None:
                    record[f"saturation/{layer.name}"] = layer.saturation
                    for gate, share in layer.gate_saturation.items():
                        record[f"saturation/{layer.name}/{gate}"] = share
                if layer.dead_share is not None:
                    record[f"dead_units/{layer.name}"] = layer.dead_share
            record["non_finite"] = self._first_non_finite(logs, bad_gradients, weights, reading)
        except Exception:  # noqa: BLE001 - a health reading must never stop the training
            log.warning("health_record_failed", epoch=epoch, exc_info=True)
        return record

    def _weights(self, record: dict) -> dict[str, bool]:
        """Weight norms per layer into ``record``, and how far each layer moved since the last
        epoch: ``update_ratio`` = ‖w − w_prev‖ / (steps · ‖w_prev‖), the mean step relative to the
        weights. Summed on the backend, so only one number per variable leaves the device.
        Returns per layer whether all its weights are finite."""
        steps = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        taken, self._steps = steps - self._steps, steps
        finite: dict[str, bool] = {}
        for layer, name in zip(self.model.layers, self.names):
            if not layer.trainable_weights:
                continue
            squares = moved = before = 0.0
            for w in layer.trainable_weights:
                now = keras.ops.cast(w, "float64")
                squares += float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.square(now))))
                previous = self._previous.get(id(w))
                if previous is not None:
                    was = keras.ops.cast(previous, "float64")
                    moved += float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.square(now - was))))
                    before += float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.square(was))))
                    previous.assign(w)
                else:
                    self._previous[id(w)] = keras.Variable(keras.ops.convert_to_numpy(w), trainable=False)
            finite[name] = math.isfinite(squares)
            record[f"weight_norm/{name}"] = math.sqrt(squares) if finite[name] else None
            if taken > 0 and before > 0 and math.isfinite(moved) and math.isfinite(before):
                record[f"update_ratio/{name}"] = math.sqrt(moved / before) / taken
        return finite

    def _first_non_finite(
        self,
        logs: dict,
        bad_gradients: list[str],
        weights: dict[str, bool],
        reading: activations.ForwardReading | None,
    ) -> dict | None:
        """What went non-finite first this epoch, in the order it happens within a step."""
        step = self.probe.first_bad_step() if self.probe is not None else None
        if bad_gradients:
            return {"what": "gradient", "layers": bad_gradients, "step": step}
        bad_weights = [name for name, ok in weights.items() if not ok]
        if bad_weights:
            return {"what": "weights", "layers": bad_weights, "step": step}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return {"what": "loss", "layers": [], "step": step}
        bad_outputs = [layer.name for layer in reading.layers if not layer.finite] if reading is not None else []
        if bad_outputs:
            return {"what": "activations", "layers": bad_outputs[:1], "step": step}
        return None

    def _check_nan(self, logs) -> None:
        loss = (logs or {}).get("loss")
        bad_loss = loss is not None and not math.isfinite(float(loss))
        if self.stopped is None and (bad_loss or (self.probe is not None and self.probe.first_bad_step() is not None)):
            self._stop("nan", rules.NON_FINITE, epoch=len(self.records))

    def _emit(self, epoch: int, record: dict) -> None:
        record = _json_safe(record)
        self.records.append(record)
        if self.on_record is not None:
            try:
                self.on_record(epoch, record)
            except Exception:  # noqa: BLE001 - Redis trouble: the run goes on, as for epochs
                log.warning("health_not_recorded", epoch=epoch, exc_info=True)

    def _remember_best(self, epoch: int) -> None:
        """Weights of the best validation epoch so far, for an overfit stop to restore."""
        if "overfit" not in self.stop_on:
            return
        values = self.history.get("val_loss") or []
        current = values[-1] if values else None
        if current is not None and (self._best is None or current < self._best[0]):
            self._best = (current, epoch, self.model.get_weights())

    def _stop(self, action: str, rule: str, *, epoch: int) -> None:
        self.model.stop_training = True
        self.stopped = {"rule": rule, "stop_on": action, "epoch": epoch}
        if action == "overfit" and self._best is not None:
            self.model.set_weights(self._best[2])
            self.stopped["restored_epoch"] = self._best[1]
        log.info("training_stopped_by_rule", **self.stopped)


class NanStoppingMonitor(HealthMonitor):
    """``stop_on: ["nan"]``: stop at the first batch boundary after a non-finite loss or gradient."""

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._check_nan(logs)


def _json_safe(value):
    """Plain JSON values: NaN/inf become None (as in histories), NumPy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
