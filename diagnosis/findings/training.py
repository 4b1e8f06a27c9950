"""Rules over a run's numeric health while it trained, and the ``training.stop_on`` decisions.

Input per run: the Keras history, and the *health records* ``worker.health`` writes (one per
epoch, epoch 0 being the state before the first step), flat dicts such as

    {"epoch": 3, "grad_norm": 0.21, "grad_norm_max": 0.4, "grad_norm_min": 0.1,
     "grad_norm/lstm_1": 0.12, "update_ratio/lstm_1": 0.004, "weight_norm/lstm_1": 2.1,
     "saturation/lstm_1": 0.03, "saturation/lstm_1/f": 0.0, "dead_units/lstm_1": 0.0,
     "sample_loss": 0.52, "non_finite": null}

Thresholds were set on the fault corpus and the healthy runs of docs/findings.md (false-positive
rate there); each finding reports the parameters it used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diagnosis.findings import ISSUE, NOT_EVALUATED, OK, finding
from diagnosis.history import to_float

NON_FINITE = "non_finite"
EXPLODING = "exploding_gradients"
VANISHING = "vanishing_gradients"
UPDATE_RATIO = "update_ratio"
SATURATED = "saturated_gates"
DEAD = "dead_units"
NOT_DECREASING = "loss_not_decreasing"
OVERFIT = "overfit"
RULES = (NON_FINITE, EXPLODING, VANISHING, UPDATE_RATIO, SATURATED, DEAD, NOT_DECREASING)

# training.stop_on value → the rule that decides it.
STOP_ACTIONS = {"nan": NON_FINITE, "exploding_gradients": EXPLODING, "overfit": OVERFIT}

EXPLODING_PARAMETERS = {"growth": 10.0, "window_epochs": 3}
VANISHING_PARAMETERS = {"min_norm": 1e-7, "last_epochs": 3}
UPDATE_RATIO_PARAMETERS = {"low": 1e-6, "high": 0.2}
SATURATED_PARAMETERS = {"max_share": 0.5}
DEAD_PARAMETERS = {"max_share": 0.5}
NOT_DECREASING_PARAMETERS = {"first_epochs": 5, "min_drop": 0.001}
OVERFIT_PARAMETERS = {"patience": 5, "min_rise": 0.1}

Record = Mapping[str, Any]
History = Mapping[str, Sequence[Any]]

_NO_HEALTH = "No health numbers were recorded for this run (a history trained elsewhere, or another Keras backend)."


def evaluate(
    runs: Sequence[History], health: Sequence[Sequence[Record]] | None, *, stop_on: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """One finding per training rule (and ``overfit`` when it is in ``stop_on``), over all runs."""
    health = list(health or [])
    per_run = [(history, health[i] if i < len(health) else []) for i, history in enumerate(runs)]
    rules = [*RULES, *([OVERFIT] if "overfit" in stop_on else [])]
    return [_combine(rule, [_RULES[rule](history, list(records)) for history, records in per_run]) for rule in rules]


def stop_reason(records: Sequence[Record], history: History, stop_on: Sequence[str]) -> tuple[str, str] | None:
    """(stop_on action, rule) of the first asked-for rule that now finds an issue, or None."""
    for action in stop_on:
        rule = STOP_ACTIONS.get(action)
        if rule is not None and _RULES[rule](history, list(records))["status"] == ISSUE:
            return action, rule
    return None


# Combining runs ---------------------------------------------------------------------------


def _combine(rule: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    if not results:
        return finding(rule, NOT_EVALUATED, message="No run to evaluate.")
    if len(results) == 1:
        return results[0]
    flagged = [i for i, r in enumerate(results) if r["status"] == ISSUE]
    if flagged:
        first = results[flagged[0]]
        runs = [i + 1 for i in flagged]
        evidence = {"runs": runs, **first["evidence"]}
        message = f"Run{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))} of {len(results)}: {first['message']}"
        return finding(
            rule,
            ISSUE,
            parameters=first["parameters"],
            evidence=evidence,
            message=message,
            recommendation=first.get("recommendation"),
        )
    evaluated = [r for r in results if r["status"] == OK]
    return evaluated[0] if evaluated else results[0]


# Helpers ----------------------------------------------------------------------------------


def _numbers(records: Sequence[Record], key: str, first_epoch: int = 1) -> list[tuple[int, float]]:
    """(epoch, value) for every record from ``first_epoch`` holding a finite ``key``."""
    out = []
    for record in records:
        value = record.get(key)
        if record.get("epoch", 0) >= first_epoch and isinstance(value, (int, float)) and math.isfinite(value):
            out.append((int(record["epoch"]), float(value)))
    return out


def _layers(records: Sequence[Record], prefix: str) -> list[str]:
    names: list[str] = []
    for record in records:
        for key in record:
            if key.startswith(prefix + "/") and key.count("/") == 1 and key[len(prefix) + 1 :] not in names:
                names.append(key[len(prefix) + 1 :])
    return names


def _losses(history: History) -> list[float]:
    return [to_float(v) for v in history.get("loss", [])]


def _fmt(value: float) -> str:
    return f"{value:.3g}"


# Rules ------------------------------------------------------------------------------------


def non_finite(history: History, records: list[Record]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for record in records:
        event = record.get("non_finite")
        if event:
            epoch = int(record.get("epoch", 0))
            layers = list(event.get("layers") or [])
            where = f" in {', '.join(layers)}" if layers else ""
            step = event.get("step")
            at = f"step {step} (epoch {epoch})" if step else f"epoch {epoch}"
            evidence = {"epoch": epoch, "step": step, "what": event.get("what"), "layers": layers}
            return finding(
                NON_FINITE,
                ISSUE,
                parameters=parameters,
                evidence=evidence,
                message=f"The first non-finite value (NaN/inf) was a {event.get('what')}{where}, at {at}.",
                recommendation=_NAN_ADVICE,
            )
    losses = _losses(history)
    bad = [i + 1 for i, v in enumerate(losses) if not math.isfinite(v)]
    if bad:
        return finding(
            NON_FINITE,
            ISSUE,
            parameters=parameters,
            evidence={"epoch": bad[0], "step": None, "what": "loss", "layers": []},
            message=f"The training loss became NaN/inf at epoch {bad[0]}.",
            recommendation=_NAN_ADVICE,
        )
    if not losses and not records:
        return finding(NON_FINITE, NOT_EVALUATED, parameters=parameters, message="No epochs recorded yet.")
    checked = "loss, weights, gradients and activations" if records else "training loss"
    return finding(
        NON_FINITE,
        OK,
        parameters=parameters,
        evidence={"epochs": len(losses)},
        message=f"Every recorded {checked} value is finite.",
    )


_NAN_ADVICE = (
    "Lower the learning rate (10× to start), clip gradients (training.clipnorm: 1.0) and scale the "
    'inputs (data.scale: standard); stop_on: ["nan"] ends such runs at the first NaN.'
)


def exploding_gradients(history: History, records: list[Record]) -> dict[str, Any]:
    parameters = dict(EXPLODING_PARAMETERS)
    norms = _numbers(records, "grad_norm")
    if not norms:
        return finding(EXPLODING, NOT_EVALUATED, parameters=parameters, message=_NO_HEALTH)
    growth, window = parameters["growth"], int(parameters["window_epochs"])
    first = next((r["grad_norm_first"] for r in records if isinstance(r.get("grad_norm_first"), (int, float))), None)
    peak = dict(_numbers(records, "grad_norm_max"))
    for k, (epoch, norm) in enumerate(norms):
        earlier = [value for e, value in norms[max(0, k - window) : k]]
        if epoch <= window and first is not None and first > 0:
            earlier.append(first)
        reference = min(earlier) if earlier else None
        if reference and reference > 0 and norm >= growth * reference:
            evidence = {
                "epoch": epoch,
                "grad_norm": norm,
                "reference_norm": reference,
                "growth": norm / reference,
                "grad_norm_max": peak.get(epoch),
            }
            return finding(
                EXPLODING,
                ISSUE,
                parameters=parameters,
                evidence=evidence,
                message=f"The gradient norm grew {norm / reference:.0f}× within {window} epochs, to "
                f"{_fmt(norm)} at epoch {epoch} (from {_fmt(reference)}).",
                recommendation="Lower the learning rate and clip gradients (training.clipnorm: 1.0); "
                'stop_on: ["exploding_gradients"] ends such runs early.',
            )
    values = [v for _, v in norms]
    return finding(
        EXPLODING,
        OK,
        parameters=parameters,
        evidence={"min_grad_norm": min(values), "max_grad_norm": max(values)},
        message=f"The gradient norm stayed within {_fmt(min(values))}–{_fmt(max(values))} (epoch means).",
    )


def vanishing_gradients(history: History, records: list[Record]) -> dict[str, Any]:
    parameters = dict(VANISHING_PARAMETERS)
    layers = _layers(records, "grad_norm")
    if not layers:
        return finding(VANISHING, NOT_EVALUATED, parameters=parameters, message=_NO_HEALTH)
    last = int(parameters["last_epochs"])
    tails = {layer: [v for _, v in _numbers(records, f"grad_norm/{layer}")][-last:] for layer in layers}
    for layer, tail in tails.items():
        if tail and max(tail) < parameters["min_norm"]:
            return finding(
                VANISHING,
                ISSUE,
                parameters=parameters,
                evidence={"layer": layer, "grad_norm": max(tail), "epochs": len(tail)},
                message=f"The gradient reaching {layer} is below {parameters['min_norm']:g} "
                f"({_fmt(max(tail))}) over the last {len(tail)} epoch(s): it no longer learns.",
                recommendation="Scale the inputs (data.scale: standard), lower the learning rate, or use "
                "fewer/smaller stacked layers; saturated gates are the usual cause.",
            )
    smallest = min(((layer, min(tail)) for layer, tail in tails.items() if tail), key=lambda x: x[1], default=None)
    evidence = {"smallest_layer": smallest[0], "smallest_grad_norm": smallest[1]} if smallest else {}
    return finding(
        VANISHING,
        OK,
        parameters=parameters,
        evidence=evidence,
        message="Every layer still receives gradient at the end of training.",
    )


def update_ratio(history: History, records: list[Record]) -> dict[str, Any]:
    parameters = dict(UPDATE_RATIO_PARAMETERS)
    layers = _layers(records, "update_ratio")
    if not layers:
        return finding(UPDATE_RATIO, NOT_EVALUATED, parameters=parameters, message=_NO_HEALTH)
    medians, peaks = {}, {}
    for layer in layers:
        values = [v for _, v in _numbers(records, f"update_ratio/{layer}")]
        if values:
            medians[layer], peaks[layer] = float(np.median(values)), max(values)
    low, high = parameters["low"], parameters["high"]
    # Frozen is a state (the median epoch); thrashing is harmful in any epoch (the peak).
    frozen = {k: v for k, v in medians.items() if v < low}
    thrashing = {k: v for k, v in peaks.items() if v > high}
    evidence = {"median_ratio": medians, "max_ratio": peaks}
    if thrashing:
        layer, value = max(thrashing.items(), key=lambda x: x[1])
        return finding(
            UPDATE_RATIO,
            ISSUE,
            parameters=parameters,
            evidence={**evidence, "layer": layer, "state": "thrashing"},
            message=f"Each step changed {layer}'s weights by {value:.0%} of their size in its worst epoch: above "
            f"{high:g}, the weights are thrashing rather than learning.",
            recommendation="Lower the learning rate (10×) or clip gradients (training.clipnorm: 1.0).",
        )
    if frozen:
        layer, value = min(frozen.items(), key=lambda x: x[1])
        return finding(
            UPDATE_RATIO,
            ISSUE,
            parameters=parameters,
            evidence={**evidence, "layer": layer, "state": "frozen"},
            message=f"Each step changes {layer}'s weights by {value:.1e} of their size (median): below "
            f"{low:g}, the layer is effectively frozen.",
            recommendation="Raise the learning rate (Adam's usual 0.001 is a good start), or check for "
            "saturated gates and vanishing gradients.",
        )
    return finding(
        UPDATE_RATIO,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"Per-step updates stay between {low:g} and {high:g} of the weights in every layer.",
    )


def saturated_gates(history: History, records: list[Record]) -> dict[str, Any]:
    parameters = dict(SATURATED_PARAMETERS)
    layers = _layers(records, "saturation")
    if not layers:
        return finding(SATURATED, NOT_EVALUATED, parameters=parameters, message=_NO_HEALTH)
    medians = {
        layer: float(np.median([v for _, v in _numbers(records, f"saturation/{layer}", 0)]))
        for layer in layers
        if _numbers(records, f"saturation/{layer}", 0)
    }
    worst, share = max(medians.items(), key=lambda x: x[1])
    gates = {g: records[-1].get(f"saturation/{worst}/{g}") for g in "ifgo"}
    evidence = {
        "layer": worst,
        "share": share,
        "median_share": medians,
        "gates_last_epoch": {g: v for g, v in gates.items() if v is not None},
    }
    if share >= parameters["max_share"]:
        return finding(
            SATURATED,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"{share:.0%} of {worst}'s gate pre-activations sit in the saturating range "
            "(sigmoid beyond 0.03/0.97, tanh beyond ±0.97): its gates barely respond to the input.",
            recommendation="Scale your inputs (data.scale: standard or minmax); if they are scaled, lower "
            "the learning rate.",
        )
    return finding(
        SATURATED,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"At most {share:.0%} of the gate pre-activations of {worst} are saturated (median over epochs).",
    )


def dead_units(history: History, records: list[Record]) -> dict[str, Any]:
    parameters = dict(DEAD_PARAMETERS)
    layers = _layers(records, "dead_units")
    last = next((r for r in reversed(records) if any(k.startswith("dead_units/") for k in r)), None)
    if not layers or last is None:
        return finding(DEAD, NOT_EVALUATED, parameters=parameters, message=_NO_HEALTH)
    shares = {layer: float(last[f"dead_units/{layer}"]) for layer in layers if f"dead_units/{layer}" in last}
    worst, share = max(shares.items(), key=lambda x: x[1])
    evidence = {"epoch": last.get("epoch"), "layer": worst, "share": share, "shares": shares}
    if share >= parameters["max_share"]:
        return finding(
            DEAD,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"{share:.0%} of {worst}'s units give the same output for every sample at the end of "
            "training: they carry no information.",
            recommendation="Scale the inputs (data.scale: standard), lower the learning rate; for ReLU "
            "dense layers, fewer or smaller layers.",
        )
    return finding(
        DEAD,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"At most {share:.0%} of any layer's units are dead at the end of training.",
    )


def loss_not_decreasing(history: History, records: list[Record]) -> dict[str, Any]:
    parameters = dict(NOT_DECREASING_PARAMETERS)
    first_epochs, min_drop = int(parameters["first_epochs"]), parameters["min_drop"]
    sample = _numbers(records, "sample_loss", 0)
    if sample and sample[0][0] == 0 and len(sample) > 1:
        # The same fixed batch before training and after each of the first epochs.
        start = sample[0][1]
        later = [v for e, v in sample[1:] if e <= first_epochs]
        source = "loss on a fixed sample batch"
    else:
        losses = [v for v in _losses(history) if math.isfinite(v)]
        if len(losses) < 3:
            return finding(
                NOT_DECREASING,
                NOT_EVALUATED,
                parameters=parameters,
                message="Fewer than 3 epochs with a finite loss: too early to tell.",
            )
        start, later = losses[0], losses[1 : first_epochs + 1]
        source = "training loss"
    epochs = len(later)
    if start <= 0 or not later:
        return finding(NOT_DECREASING, NOT_EVALUATED, parameters=parameters, message="Nothing to compare yet.")
    best = min(later)
    drop = (start - best) / start
    evidence = {"start_loss": start, "best_loss": best, "drop": drop, "epochs": epochs, "source": source}
    if drop < min_drop:
        return finding(
            NOT_DECREASING,
            ISSUE,
            parameters=parameters,
            evidence=evidence,
            message=f"The {source} fell {max(drop, 0):.1%} over the first {epochs} epoch(s) "
            f"({_fmt(start)} → {_fmt(best)}): training is not getting anywhere.",
            recommendation="Raise the learning rate (10× to start); if it is already usual, check the "
            "initialisation and that the inputs are scaled.",
        )
    return finding(
        NOT_DECREASING,
        OK,
        parameters=parameters,
        evidence=evidence,
        message=f"The {source} fell {drop:.0%} over the first {epochs} epoch(s).",
    )


def overfit(history: History, records: list[Record]) -> dict[str, Any]:
    """Validation loss at least ``min_rise`` above its minimum, the minimum ``patience`` or more
    epochs ago, while the training loss kept falling: stopping now loses nothing."""
    parameters = dict(OVERFIT_PARAMETERS)
    stopped = next((r for r in records if r.get("stopped") == OVERFIT), None)
    val = [to_float(v) for v in history.get("val_loss", [])]
    train = _losses(history)
    if not val:
        return finding(OVERFIT, NOT_EVALUATED, parameters=parameters, message="No validation loss to watch.")
    patience, min_rise = int(parameters["patience"]), parameters["min_rise"]
    for end in range(patience + 1, len(val) + 1):
        seen = np.array(val[:end])
        if not np.isfinite(seen).any():
            continue
        best = int(np.nanargmin(seen))
        current, lowest = seen[-1], seen[best]
        rising = math.isfinite(current) and lowest > 0 and current >= (1 + min_rise) * lowest
        train_falling = len(train) >= end and train[end - 1] < train[best]
        if end - 1 - best >= patience and rising and train_falling:
            evidence = {
                "epoch": end,
                "best_epoch": best + 1,
                "val_loss": float(current),
                "min_val_loss": float(lowest),
                "rise": float(current / lowest - 1),
                "stopped": stopped is not None,
            }
            done = "stopped there and restored" if stopped is not None else "would have stopped there with"
            return finding(
                OVERFIT,
                ISSUE,
                parameters=parameters,
                evidence=evidence,
                message=f"Validation loss rose {current / lowest - 1:.0%} above its minimum (epoch "
                f"{best + 1}) by epoch {end} while training loss kept falling; training "
                f"{done} the weights of epoch {best + 1}.",
                recommendation="Keep early stopping on, and add dropout or use a smaller model.",
            )
    return finding(
        OVERFIT,
        OK,
        parameters=parameters,
        evidence={"epochs": len(val)},
        message="Validation loss never rose materially above its minimum for long.",
    )


_RULES = {
    NON_FINITE: non_finite,
    EXPLODING: exploding_gradients,
    VANISHING: vanishing_gradients,
    UPDATE_RATIO: update_ratio,
    SATURATED: saturated_gates,
    DEAD: dead_units,
    NOT_DECREASING: loss_not_decreasing,
    OVERFIT: overfit,
}
