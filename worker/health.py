"""Numeric health of a run while it trains: gradients, updates, gates, dead units, non-finite values.

Two parts, so that the fast training path stays fast (benchmarks/BENCHMARKS.md, "health checks"):

- ``GradientProbe``: a small ring buffer that the optimizer itself writes inside the compiled
  training step (``instrumented`` wraps the optimizer class), one row per recorded step: the
  squared gradient norm of each variable. Keras calls batch callbacks only once per
  ``steps_per_execution`` batches, and gradients never leave the compiled step; a recorded step
  costs one fused op per variable and one in-place row write.
- ``HealthMonitor``: a Keras callback that, at each epoch end, reads that buffer (norms per layer,
  mean, extremes, first non-finite step, worked out in NumPy), copies the weights to NumPy once,
  replays the model on a fixed sample batch there (``worker.activations``: gate saturation, dead
  units, the loss on that batch), measures how far each layer's weights moved during the epoch
  (the update/weight ratio per step), and hands one *health record* per epoch to ``on_record``.
  Epoch 0 is the state before the first step. The rules that read these records are pure and
  live in ``diagnosis.findings.training``; the same functions decide ``training.stop_on``.

Nothing runs per step outside the compiled step (no host sync) unless ``stop_on`` holds ``"nan"``.
Like every monitoring callback here, it never crashes the training it watches.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from core.logging import get_logger
from core.settings import Settings
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
# Gradient norms are recorded on every EVERY_STEPS-th training step (LSTM_DOCTOR_HEALTH_EVERY_STEPS,
# whose default this is; an epoch shorter than that is sampled once). The default is every step:
# measured on the classic example, the conditional that skips steps costs more per step than the
# few fused ops it skips (benchmarks/BENCHMARKS.md, "Health monitoring cost").
EVERY_STEPS: int = Settings.model_fields["health_every_steps"].default
# At most this many samples per epoch (about the rows of the buffer the compiled step writes into):
# longer epochs are sampled more sparsely.
MAX_SAMPLES_PER_EPOCH = 256


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
    """Squared gradient norms the instrumented optimizer records inside the compiled step, on every
    ``every_steps``-th step of the run (steps 1, N+1, 2N+1, …); read at each epoch end.

    A recorded step writes one row (half the squared norm of each variable's gradient, and the
    step) into a small ring buffer variable, in place. The ring holds more rows than an epoch
    records, so the epoch end reads it once, keeps the rows of this epoch's steps, and works out
    norms per layer, their means, the extremes and the first non-finite step in NumPy: no counter
    to read or reset, so the compiled step carries as little as possible and the epoch end one read.
    """

    def __init__(
        self, model: keras.Model, names: Sequence[str], every_steps: int = EVERY_STEPS, steps: int | None = None
    ) -> None:
        owners = {id(w): i for i, layer in enumerate(model.layers) for w in layer.trainable_weights}
        self.layers = [names[i] for i, layer in enumerate(model.layers) if layer.trainable_weights]
        variables = model.trainable_variables
        # The buffer's columns (variables) that make up each layer.
        self._columns = [
            [v for v, variable in enumerate(variables) if names[owners[id(variable)]] == name] for name in self.layers
        ]
        every = max(1, int(every_steps))
        if steps:
            # Every epoch gets a sample (an epoch shorter than N steps is sampled once), and at
            # most MAX_SAMPLES_PER_EPOCH of them (long epochs are sampled more sparsely).
            every = max(min(every, steps), math.ceil(steps / MAX_SAMPLES_PER_EPOCH))
            capacity = math.ceil(steps / every) + 1
        else:
            capacity = MAX_SAMPLES_PER_EPOCH  # an epoch of unknown length: at worst its first samples are overwritten
        self.every_steps, self.capacity = every, capacity
        # float64: the step column stays exact however long the run.
        self.rows = keras.Variable(np.zeros((capacity, len(variables) + 1)), trainable=False, dtype="float64")
        self._epoch_start = 0  # steps taken before this epoch
        self._first_norm: float | None = None
        self._first_bad: int | None = None

    def observe(self, grads: Sequence, step) -> None:
        """Called inside the compiled step; ``step`` counts the steps taken, this one included.

        Measured, not assumed (benchmarks/BENCHMARKS.md): on the classic example a conditional
        around the measurement costs more per step than the measurement, so with ``every_steps``
        = 1 (the default) there is none; the ops are few and in place (no copy of the buffer)."""
        import tensorflow as tf  # the probe is only installed under the TensorFlow backend

        def measure():
            # l2_loss: one fused op per variable (Σg²/2; the halves are doubled back in NumPy).
            halves = tf.stack([tf.nn.l2_loss(tf.cast(g, tf.float32)) for g in grads])
            row = tf.concat([tf.cast(halves, tf.float64), tf.cast(tf.reshape(step, (1,)), tf.float64)], 0)
            at = tf.reshape(
                tf.math.floormod(tf.math.floordiv(tf.cast(step, tf.int64) - 1, self.every_steps), self.capacity), (1, 1)
            )
            self.rows.value.scatter_nd_update(at, tf.expand_dims(row, 0))
            return tf.zeros(())

        if self.every_steps == 1:
            measure()
        else:
            tf.cond(
                tf.equal(tf.math.floormod(tf.cast(step, tf.int64) - 1, self.every_steps), 0),
                measure,
                lambda: tf.zeros(()),
            )

    def _rows(self, steps: int | None = None) -> np.ndarray:
        """This epoch's sampled rows (steps after the epoch's start, up to ``steps``), in step order."""
        rows = np.asarray(keras.ops.convert_to_numpy(self.rows), dtype=np.float64)
        taken = rows[:, -1]
        mine = rows[(taken > self._epoch_start) & ((taken <= steps) if steps is not None else True)]
        return mine[np.argsort(mine[:, -1], kind="stable")]

    def _note_first_bad(self, rows: np.ndarray) -> None:
        if self._first_bad is None and len(rows):
            bad = ~np.isfinite(rows[:, :-1]).all(axis=1)
            if bad.any():
                self._first_bad = int(rows[int(np.argmax(bad)), -1])

    @property
    def first_bad(self) -> int | None:
        """The first sampled step (1-based, counted over the run) with a non-finite gradient, as of
        the last ``read`` or ``first_bad_step``."""
        return self._first_bad

    def first_bad_step(self) -> int | None:
        """``first_bad`` including this epoch's samples so far (reads the buffer)."""
        if self._first_bad is None:
            self._note_first_bad(self._rows())
        return self._first_bad

    def read(self, steps: int) -> dict:
        """This epoch's samples as health-record fields; ``steps``: the steps taken so far (the
        epoch's end, where the next one starts)."""
        rows = self._rows(steps)
        self._note_first_bad(rows)
        with np.errstate(invalid="ignore", over="ignore"):
            squares = 2.0 * rows[:, :-1]
            layer_sq = np.stack([squares[:, cols].sum(axis=1) for cols in self._columns], axis=1)
            finite = np.isfinite(layer_sq)
            norms = np.sqrt(layer_sq.sum(axis=1))
        ok = np.isfinite(norms)
        fields: dict = {"grad_steps": len(rows)}
        if ok.any():
            # Means over the sampled steps whose gradient was finite: a NaN step is the
            # non_finite rule's business, and must not read as a vanishing gradient.
            fields.update(
                grad_norm=float(norms[ok].mean()),
                grad_norm_max=float(norms[ok].max()),
                grad_norm_min=float(norms[ok].min()),
            )
        for k, name in enumerate(self.layers):
            if finite[:, k].any():
                fields[f"grad_norm/{name}"] = float(np.sqrt(layer_sq[finite[:, k], k]).mean())
        if self._first_norm is None and len(rows):
            self._first_norm = float(norms[0]) if ok[0] else 0.0
        if self._first_norm is not None:
            fields["grad_norm_first"] = self._first_norm
        fields["_bad_gradient_layers"] = [name for k, name in enumerate(self.layers) if not finite[:, k].all()]
        self._epoch_start = steps
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
        every_steps: int = EVERY_STEPS,
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
        # each weight at the last epoch end, and its squared norm
        self._previous: dict[int, tuple[np.ndarray, float]] = {}
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
                steps = (self.params or {}).get("steps")
                self.probe = GradientProbe(self.model, self.names, self.every_steps, steps=steps)
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
            steps = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            bad_gradients: list[str] = []
            if self.probe is not None and epoch > 0:
                fields = self.probe.read(steps)
                bad_gradients = fields.pop("_bad_gradient_layers")
                record.update(fields)
            # Every weight comes to NumPy once per epoch and serves both the norms and the replay.
            values = {id(w): np.asarray(keras.ops.convert_to_numpy(w)) for w in self.model.trainable_weights}
            weights = self._weights(record, values, steps)
            reading = activations.forward(self.model, self.names, self.x_sample, values) if self.replay else None
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

    def _weights(self, record: dict, values: dict[int, np.ndarray], steps: int) -> dict[str, bool]:
        """Weight norms per layer into ``record``, and how far each layer moved since the last
        epoch: ``update_ratio`` = ‖w − w_prev‖ / (steps · ‖w_prev‖), the mean step relative to the
        weights. In NumPy on the copies ``values`` (id(variable) → array): a few dozen eager
        backend ops per epoch would cost more than all of it. Returns per layer whether all its
        weights are finite."""
        taken, self._steps = steps - self._steps, steps
        finite: dict[str, bool] = {}
        with np.errstate(over="ignore", invalid="ignore"):
            for layer, name in zip(self.model.layers, self.names):
                if not layer.trainable_weights:
                    continue
                squares = moved = before = 0.0
                for w in layer.trainable_weights:
                    now = values[id(w)].astype(np.float64).ravel()
                    size = float(now @ now)
                    squares += size
                    previous = self._previous.get(id(w))
                    if previous is not None:
                        change = now - previous[0]
                        moved += float(change @ change)
                        before += previous[1]
                    # float32, as trained: half the memory of a float64 copy for a big model
                    self._previous[id(w)] = (np.array(values[id(w)], dtype=np.float32).ravel(), size)
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
        step = self.probe.first_bad if self.probe is not None else None  # as of the read just made
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
