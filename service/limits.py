"""Operator limits on job configs (settings), checked at submit time with the field named."""

from __future__ import annotations

from core.job_config import JobConfig
from core.settings import Settings


def limit_errors(config: JobConfig, settings: Settings) -> list[dict]:
    errors: list[dict] = []

    def over(loc: list, value: int, limit: int, setting: str) -> None:
        if value > limit:
            errors.append(
                {
                    "loc": ["body", *loc],
                    "msg": f"{value} is above this server's limit of {limit} (LSTM_DOCTOR_{setting.upper()})",
                }
            )

    over(["training", "epochs"], config.training.epochs, settings.max_epochs, "max_epochs")
    over(["training", "repeats"], config.training.repeats, settings.max_repeats, "max_repeats")
    over(["model", "layers"], len(config.model.layers), settings.max_layers, "max_layers")
    for i, layer in enumerate(config.model.layers):
        over(["model", "layers", i, "units"], layer.units, settings.max_units, "max_units")
    for i, units in enumerate(config.model.dense):
        over(["model", "dense", i], units, settings.max_units, "max_units")
    return errors
