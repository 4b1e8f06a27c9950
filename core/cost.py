"""What a job will cost, estimated at submit time from its config and the resolved data spec.

The numbers are deliberately simple and conservative (float32 everywhere, every buffer Keras
keeps during a training step counted once): they exist to refuse, before anything is queued,
the config that cannot fit in a worker (``dense: [1024] × 200000``, ``batch_size: 10¹²``, a
100 MiB table windowed 1000 deep), and to show a client what it asked for. They are not a
profiler: a job that passes still runs under the worker's memory guard.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.job_config import JobConfig
from core.settings import Settings

FLOAT = 4  # bytes: Keras trains in float32
MIB = 1024 * 1024
# Weights, their gradients, and the optimizer's slots per weight (Adam: m and v; RMSprop: one
# running average; plain SGD without momentum: none).
_OPTIMIZER_SLOTS = {"adam": 2, "rmsprop": 1, "sgd": 0}
# An LSTM step keeps, per unit, its 4 gate activations, the cell and the hidden state for the
# backward pass; the backward pass holds a gradient of the same size.
_LSTM_FLOATS_PER_UNIT_STEP = 6 * 2
# Bytes per table cell while a worker prepares it: the float64 column read from the file, the
# float64 (rows, features) matrix, the scaled float32 copy and the float32 tensor training reads
# windows from (windows themselves are views, never copies).
_TABLE_BYTES_PER_CELL = 8 + 8 + 4 + 4
# NPZ samples come windowed: the array as loaded, scaled, and as a tensor.
_NPZ_BYTES_PER_CELL = 4 * 3
# Fixed cost of one training step (a compiled call, batch slicing), whatever the model.
_STEP_OVERHEAD_S = 0.0005


@dataclass(frozen=True)
class Estimate:
    parameters: int
    memory_mb: float  # peak: data + model + optimizer + one batch
    data_mb: float
    model_mb: float
    batch_mb: float
    epoch_seconds: float
    total_seconds: float  # epochs × repeats × epoch_seconds

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def output_size(config: JobConfig, spec: dict) -> int:
    if config.task == "multiclass_classification":
        return int(spec.get("classes") or 2)
    if config.task == "regression":
        return int(spec.get("outputs") or 1)
    return 1


def _lstm_stack(config: JobConfig, features: int) -> tuple[int, int, int]:
    """(parameters, multiply-adds per timestep, width of the last layer's output)."""
    params = macs = 0
    width = features
    for layer in config.model.layers:
        directions = 2 if layer.bidirectional else 1
        per_direction = 4 * (layer.units * (width + layer.units) + layer.units)
        params += directions * per_direction
        macs += directions * 4 * layer.units * (width + layer.units)
        width = directions * layer.units
    return params, macs, width


def parameter_count(config: JobConfig, spec: dict) -> int:
    """Trainable parameters of the model the job builds (Keras' ``count_params``)."""
    params, _, width = _lstm_stack(config, int(spec.get("n_features") or 1))
    for units in [*config.model.dense, output_size(config, spec)]:
        params += width * units + units
        width = units
    return params


def estimate(config: JobConfig, spec: dict, settings: Settings) -> Estimate:
    timesteps = int(spec.get("timesteps") or 1)
    features = int(spec.get("n_features") or 1)
    train = int(spec.get("train_samples") or 0)
    val = int(spec.get("val_samples") or 0)
    lstm_params, lstm_macs, width = _lstm_stack(config, features)
    dense_params = 0
    for units in [*config.model.dense, output_size(config, spec)]:
        dense_params += width * units + units
        width = units
    parameters = lstm_params + dense_params

    slots = _OPTIMIZER_SLOTS[config.training.optimizer]
    model_bytes = parameters * FLOAT * (2 + slots)
    batch = min(config.training.batch_size, max(train, 1))
    unit_steps = sum(layer.units * (2 if layer.bidirectional else 1) for layer in config.model.layers)
    batch_bytes = (
        batch * FLOAT * (timesteps * (features + _LSTM_FLOATS_PER_UNIT_STEP * unit_steps) + 2 * sum(config.model.dense))
    )
    samples = train + val
    if spec.get("format") == "npz":
        data_bytes = samples * timesteps * features * _NPZ_BYTES_PER_CELL
    else:
        rows = samples + timesteps - 1 + int(spec.get("horizon") or 0)
        data_bytes = rows * features * _TABLE_BYTES_PER_CELL
    data_bytes += samples * FLOAT * max(output_size(config, spec), 1)

    # Forward multiply-adds per sample; a training step costs about three forwards (forward,
    # backward through activations and through weights), validation one.
    forward = timesteps * lstm_macs + dense_params
    flops = 2 * forward * (3 * train + val)
    steps = -(-train // batch) + (-(-val // batch) if val else 0)
    epoch_seconds = flops / (settings.estimate_gflops * 1e9) + steps * _STEP_OVERHEAD_S
    return Estimate(
        parameters=parameters,
        memory_mb=(data_bytes + model_bytes + batch_bytes) / MIB,
        data_mb=data_bytes / MIB,
        model_mb=model_bytes / MIB,
        batch_mb=batch_bytes / MIB,
        epoch_seconds=epoch_seconds,
        total_seconds=epoch_seconds * config.training.epochs * config.training.repeats,
    )


def over_budget(config: JobConfig, spec: dict, est: Estimate, settings: Settings) -> list[dict]:
    """Problem-details errors for each limit the estimate passes; each names the field to change,
    the estimate and the limit (and the setting that holds it)."""
    errors: list[dict] = []
    if est.parameters > settings.max_params:
        errors.append(
            {
                "loc": ["body", "model"],
                "msg": f"the model has {est.parameters:,} parameters, above this server's limit of "
                f"{settings.max_params:,} (LSTM_DOCTOR_MAX_PARAMS): use fewer or smaller layers",
            }
        )
    if est.memory_mb > settings.max_job_memory_mb:
        # Point at what dominates the estimate: that is the field worth changing.
        parts = {"data": est.data_mb, "model": est.model_mb, "training.batch_size": est.batch_mb}
        field = max(parts, key=parts.__getitem__)
        if field == "data" and spec.get("format") != "npz" and (spec.get("window") or 1) > 1:
            field = "data.window"
        loc = ["body", *field.split(".")] if field != "data" else ["body", "dataset_id"]
        errors.append(
            {
                "loc": loc,
                "msg": f"training would need about {est.memory_mb:,.0f} MiB (data {est.data_mb:,.0f}, "
                f"model and optimizer {est.model_mb:,.0f}, one batch {est.batch_mb:,.0f}), above "
                f"this server's limit of {settings.max_job_memory_mb:,} MiB per job "
                f"(LSTM_DOCTOR_MAX_JOB_MEMORY_MB)",
            }
        )
    if est.total_seconds > settings.job_soft_time_limit_s:
        errors.append(
            {
                "loc": ["body", "training", "epochs"],
                "msg": f"training would take about {est.total_seconds:,.0f} s ({est.epoch_seconds:,.2f} s "
                f"per epoch × {config.training.epochs} epochs × {config.training.repeats} "
                f"run(s)), past this server's time limit of {settings.job_soft_time_limit_s:,} s "
                "per job (LSTM_DOCTOR_JOB_SOFT_TIME_LIMIT_S): train fewer epochs or a smaller "
                "model",
            }
        )
    if config.task == "multiclass_classification" and (spec.get("classes") or 0) > settings.max_classes:
        errors.append(
            {
                "loc": ["body", "data", "target"],
                "msg": f"the target has {spec['classes']:,} classes, above this server's limit of "
                f"{settings.max_classes:,} (LSTM_DOCTOR_MAX_CLASSES)",
            }
        )
    if config.task == "regression" and (spec.get("outputs") or 1) > settings.max_classes:
        errors.append(
            {
                "loc": ["body", "dataset_id"],
                "msg": f"y has {spec['outputs']:,} outputs per sample, above this server's limit of "
                f"{settings.max_classes:,} (LSTM_DOCTOR_MAX_CLASSES)",
            }
        )
    return errors
