"""How many trainable parameters the model of a job config has, without building it.

The API has no Keras; the counts follow Keras' layers exactly (``tests/test_findings_data.py``
compares them with ``model.count_params()``).
"""

from __future__ import annotations

from core.job_config import JobConfig


def output_units(task: str, spec: dict) -> int:
    if task == "multiclass_classification":
        return int(spec["classes"])
    if task == "regression":
        return int(spec.get("outputs") or 1)
    return 1


def parameter_count(config: JobConfig, n_features: int, outputs: int) -> int:
    total, width = 0, n_features
    for layer in config.model.layers:
        # Four gates, each with input weights, recurrent weights and a bias.
        one_way = 4 * layer.units * (width + layer.units + 1)
        directions = 2 if layer.bidirectional else 1
        total += directions * one_way
        width = directions * layer.units
    for units in [*config.model.dense, outputs]:
        total += (width + 1) * units
        width = units
    return total
