"""Operator limits on job configs (settings), checked at submit time with the field named.

Two passes: ``limit_errors`` reads the config alone (before the dataset is touched), and
``cost_errors`` weighs the config against the resolved data spec with the cost model.
"""

from __future__ import annotations

from core.cost import Estimate, estimate, over_budget
from core.job_config import JobConfig
from core.settings import Settings
from service.problems import invalid


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
    over(["training", "batch_size"], config.training.batch_size, settings.max_batch_size, "max_batch_size")
    if config.training.early_stopping is not None:
        over(
            ["training", "early_stopping", "patience"],
            config.training.early_stopping.patience,
            settings.max_epochs,
            "max_epochs",
        )
    over(["data", "window"], config.data.window, settings.max_window, "max_window")
    over(["data", "horizon"], config.data.horizon, settings.max_window, "max_window")
    if config.data.features is not None:
        over(["data", "features"], len(config.data.features), settings.max_columns, "max_columns")
    over(["model", "layers"], len(config.model.layers), settings.max_layers, "max_layers")
    over(["model", "dense"], len(config.model.dense), settings.max_layers, "max_layers")
    # Per item only while the list itself is within bounds: 200,000 identical errors help nobody.
    if len(config.model.layers) <= settings.max_layers:
        for i, layer in enumerate(config.model.layers):
            over(["model", "layers", i, "units"], layer.units, settings.max_units, "max_units")
    if len(config.model.dense) <= settings.max_layers:
        for i, units in enumerate(config.model.dense):
            over(["model", "dense", i], units, settings.max_units, "max_units")
    return errors


def cost_errors(config: JobConfig, spec: dict, settings: Settings) -> tuple[Estimate, list[dict]]:
    est = estimate(config, spec, settings)
    return est, over_budget(config, spec, est, settings)


def raise_if_any(errors: list[dict], what: str = "The job asks for more than this server allows") -> None:
    if errors:
        raise invalid(f"{what}: ", errors)
