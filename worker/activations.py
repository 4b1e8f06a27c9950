"""The model's forward pass redone in NumPy on a small sample batch, to see inside the LSTM cells.

Keras reports a layer's outputs, not the pre-activations of its gates, and asking the backend for
them would mean another compiled function per model. The models lstm-doctor builds are a short,
known stack (LSTM or bidirectional LSTM layers, Dense layers, an output layer), so the NumPy
replay below is exact for them (tests compare it with ``model.predict``) and costs about a
millisecond per epoch for the classic example.

Keras' LSTM, for the record: z = x·W + h·U + b, split into the input, forget, candidate and
output gates (in that order); i, f, o = sigmoid(z_i, z_f, z_o), g = tanh(z_g), c = f·c + i·g,
h = o·tanh(c). Dropout is off at inference and so here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import keras
import numpy as np

# Beyond these pre-activations a gate's output is within 0.03 of its bounds (sigmoid below 0.03
# or above 0.97, tanh beyond ±0.97), where its derivative is under 3 % (sigmoid) / 6 % (tanh)
# of its maximum: the gate no longer responds to its input. SageMaker Debugger's
# SaturatedActivation rule uses the same output bounds.
SIGMOID_SATURATES = float(np.log(0.97 / 0.03))  # |z| ≥ 3.48
TANH_SATURATES = float(np.arctanh(0.97))  # |z| ≥ 2.09
# A unit whose output moves less than this across the sample batch and its timesteps carries no
# information about the input (LSTM outputs lie in [-1, 1]; ReLU units that never fire give 0).
DEAD_SPREAD = 1e-4


@dataclass
class LayerReading:
    name: str
    kind: str  # "lstm" | "dense" | "output"
    saturation: float | None = None  # share of gate pre-activations in their saturating range
    gate_saturation: dict[str, float] = field(default_factory=dict)  # per gate: i, f, g, o
    dead_share: float | None = None  # share of units whose output does not move
    finite: bool = True


@dataclass
class ForwardReading:
    layers: list[LayerReading]
    predictions: np.ndarray


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


def _lstm(
    x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, reverse: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(outputs h of shape (samples, timesteps, units) in input time order, pre-activations z of
    shape (samples, timesteps, 4 · units))."""
    samples, steps, _ = x.shape
    units = recurrent.shape[0]
    h = np.zeros((samples, units))
    c = np.zeros((samples, units))
    projected = x @ kernel + bias  # the input part of every timestep at once
    outputs = np.empty((samples, steps, units))
    pre = np.empty((samples, steps, 4 * units))
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        z = projected[:, t] + h @ recurrent
        pre[:, t] = z
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs[:, t] = h
    return outputs, pre


Values = Mapping[int, np.ndarray]  # id(variable) → its value, already in NumPy


def _value(w, values: Values | None) -> np.ndarray:
    held = values.get(id(w)) if values is not None else None
    return np.asarray(held if held is not None else keras.ops.convert_to_numpy(w), dtype=np.float64)


def _cell_weights(lstm: keras.layers.LSTM, values: Values | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cell = lstm.cell
    kernel, recurrent, bias = (_value(w, values) for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
    return kernel, recurrent, bias


def _saturation(pre: np.ndarray, units: int) -> tuple[float, dict[str, float]]:
    gates = {}
    with np.errstate(invalid="ignore"):
        for k, gate in enumerate("ifgo"):
            z = np.abs(pre[..., k * units : (k + 1) * units])
            limit = TANH_SATURATES if gate == "g" else SIGMOID_SATURATES
            gates[gate] = float(np.mean(z >= limit))
    return float(np.mean(list(gates.values()))), gates


def _dead_share(outputs: np.ndarray) -> float:
    flat = outputs.reshape(-1, outputs.shape[-1])
    with np.errstate(invalid="ignore"):
        spread = flat.max(axis=0) - flat.min(axis=0)
    return float(np.mean(spread < DEAD_SPREAD))


def replay_cost(model: keras.Model, timesteps: int) -> float:
    """Multiply-adds of ``forward`` per sample: what sizes the sample batch for big models."""
    cost = 0.0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.LSTM, keras.layers.Bidirectional)):
            lstm = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
            directions = 2 if isinstance(layer, keras.layers.Bidirectional) else 1
            inputs = int(lstm.cell.kernel.shape[0])
            cost += directions * timesteps * 4 * lstm.units * (inputs + lstm.units)
        elif isinstance(layer, keras.layers.Dense):
            cost += int(layer.kernel.shape[0]) * layer.units
    return cost


def forward(model: keras.Model, names: list[str], x: np.ndarray, values: Values | None = None) -> ForwardReading:
    """Replay ``model`` on ``x`` (samples, timesteps, features); ``names`` label its layers;
    ``values`` may hold the weights already copied to NumPy (else they are read from the model).

    Non-finite weights or activations are reported, never raised: a run that went NaN is exactly
    what this is for.
    """
    readings: list[LayerReading] = []
    out = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for layer, name in zip(model.layers, names):
            if isinstance(layer, (keras.layers.LSTM, keras.layers.Bidirectional)):
                out, reading = _lstm_layer(layer, name, out, values)
            elif isinstance(layer, keras.layers.Dense):
                out, reading = _dense_layer(layer, name, out, values)
            else:
                continue  # InputLayer and the like hold no weights
            readings.append(reading)
    return ForwardReading(readings, out)


def _lstm_layer(
    layer: keras.layers.Layer, name: str, x: np.ndarray, values: Values | None
) -> tuple[np.ndarray, LayerReading]:
    directions = (
        [(layer.forward_layer, False), (layer.backward_layer, True)]
        if isinstance(layer, keras.layers.Bidirectional)
        else [(layer, False)]
    )
    outputs, pres = [], []
    for lstm, reverse in directions:
        h, pre = _lstm(x, *_cell_weights(lstm, values), reverse=reverse)
        outputs.append(h)
        pres.append(pre)
    units = directions[0][0].units
    # Gate shares are pooled over both directions of a bidirectional layer.
    shares = [_saturation(pre, units) for pre in pres]
    gate_saturation = {g: float(np.mean([s[1][g] for s in shares])) for g in "ifgo"}
    sequence = np.concatenate(outputs, axis=-1)
    reading = LayerReading(
        name,
        "lstm",
        saturation=float(np.mean([s[0] for s in shares])),
        gate_saturation=gate_saturation,
        dead_share=_dead_share(sequence),
        finite=bool(np.isfinite(sequence).all()),
    )
    first = directions[0][0]
    if first.return_sequences:
        return sequence, reading
    # The last output of each direction: the forward one at the last timestep, the backward one
    # after it read the sequence back to its start.
    last = [h[:, 0] if reverse else h[:, -1] for h, (_, reverse) in zip(outputs, directions)]
    return np.concatenate(last, axis=-1), reading


def _dense_layer(
    layer: keras.layers.Dense, name: str, x: np.ndarray, values: Values | None
) -> tuple[np.ndarray, LayerReading]:
    kernel, bias = (_value(w, values) for w in (layer.kernel, layer.bias))
    z = x @ kernel + bias
    activation = getattr(layer.activation, "__name__", "")
    kind = "output" if name == "output" else "dense"
    if activation == "relu":
        out = np.maximum(z, 0.0)
    elif activation == "sigmoid":
        out = _sigmoid(z)
    elif activation == "softmax":
        shifted = np.exp(z - z.max(axis=-1, keepdims=True))
        out = shifted / shifted.sum(axis=-1, keepdims=True)
    else:
        out = z
    dead = _dead_share(out) if kind == "dense" else None
    return out, LayerReading(name, kind, dead_share=dead, finite=bool(np.isfinite(out).all()))


def loss(task: str, predictions: np.ndarray, y: np.ndarray) -> float:
    """The Keras loss of ``task`` on the sample batch (same clipping as Keras' cross-entropies)."""
    eps = 1e-7
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if task == "binary_classification":
            p = np.clip(predictions.reshape(-1), eps, 1 - eps)
            t = y.reshape(-1)
            return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))
        if task == "multiclass_classification":
            p = np.clip(predictions, eps, 1 - eps)
            p = p / p.sum(axis=-1, keepdims=True)
            return float(-np.mean(np.log(p[np.arange(len(p)), y.astype(int).reshape(-1)])))
        return float(np.mean((predictions.reshape(len(y), -1) - y.reshape(len(y), -1)) ** 2))
