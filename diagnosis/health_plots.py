"""``gradients.png``: a run's numeric health per epoch, next to its loss curves.

Three panels, one line per layer (and per run, thin, when there are several): the gradient norm
reaching each layer (log axis, the exploding/vanishing limits marked), each layer's update/weight
ratio per step (log axis, the frozen and thrashing bands shaded), and the share of saturated LSTM
gate pre-activations with the share of dead units. Epoch 0 is the model before training.
The findings that flagged an issue are listed in the corner. Pure, like ``diagnosis.plots``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from diagnosis import plot_style as style
from diagnosis.findings import issues
from diagnosis.findings import training as rules
from diagnosis.plots import X_LABEL, _check_format, _encode, _new_figure

Records = Sequence[Mapping[str, Any]]
GRADIENTS_SIZE_IN = (14.0, 5.0)
_LAYER_COLOURS = (style.BLUE, style.VERMILLION, style.GREEN, style.ORANGE, style.PURPLE, style.GREY)


class NoHealth(LookupError):
    """No health records: a history trained elsewhere, or a job from before the monitor."""


def render_gradients(health: Sequence[Records], diagnosis: Mapping[str, Any] | None = None, fmt: str = "png") -> bytes:
    _check_format(fmt)
    if not any(health):
        raise NoHealth("no health numbers were recorded for these runs")
    return _encode(gradients_figure(health, diagnosis), fmt)


def _series(records: Records, key: str) -> tuple[np.ndarray, np.ndarray]:
    epochs: list[int] = []
    values: list[float] = []
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            epochs.append(int(record.get("epoch", len(epochs))))
            values.append(float(value))
    return np.array(epochs), np.array(values)


def _layers(health: Sequence[Records], prefix: str) -> list[str]:
    names: list[str] = []
    for records in health:
        for record in records:
            for key in record:
                if key.startswith(prefix + "/") and key.count("/") == 1 and key.split("/")[1] not in names:
                    names.append(key.split("/")[1])
    return names


def gradients_figure(health: Sequence[Records], diagnosis: Mapping[str, Any] | None = None):
    fig = _new_figure(GRADIENTS_SIZE_IN)
    grads, updates, gates = fig.subplots(1, 3)
    several = len(health) > 1
    _plot_layers(grads, health, "grad_norm", several, log=True)
    for records in health:
        epochs, values = _series(records, "grad_norm")
        if len(epochs):
            grads.plot(
                epochs,
                values,
                color=style.INK,
                linewidth=style.MEAN_WIDTH if not several else style.RUN_WIDTH,
                label="all layers" if records is health[0] else None,
            )
    grads.axhline(
        rules.VANISHING_PARAMETERS["min_norm"],
        color=style.GREY,
        linestyle=":",
        linewidth=1.2,
        label=f"vanishing below {rules.VANISHING_PARAMETERS['min_norm']:g}",
    )
    _style(grads, "Gradient norm (mean per epoch)", "L2 norm")

    _plot_layers(updates, health, "update_ratio", several, log=True)
    low, high = rules.UPDATE_RATIO_PARAMETERS["low"], rules.UPDATE_RATIO_PARAMETERS["high"]
    updates.axhspan(
        high, max(high * 100, updates.get_ylim()[1]), color=style.ORANGE, alpha=0.12, label=f"thrashing > {high:g}"
    )
    updates.axhspan(min(low / 100, updates.get_ylim()[0]), low, color=style.BLUE, alpha=0.10, label=f"frozen < {low:g}")
    _style(updates, "Update / weight ratio per step", "‖Δw‖ / ‖w‖")

    _plot_layers(gates, health, "saturation", several, log=False)
    _plot_layers(gates, health, "dead_units", several, log=False, linestyle="--", suffix=" dead units")
    gates.axhline(
        rules.SATURATED_PARAMETERS["max_share"], color=style.GREY, linestyle=":", linewidth=1.2, label="issue at 50 %"
    )
    gates.set_ylim(-0.03, 1.03)
    _style(gates, "Saturated gates (solid), dead units (dashed)", "share")

    _mark_non_finite(grads, health)
    flagged = [f["rule"] for f in issues((diagnosis or {}).get("findings") or [])]
    note = "Findings: " + ", ".join(flagged) if flagged else "No finding flagged an issue"
    runs = f"{len(health)} runs" if several else "1 run"
    fig.suptitle(
        f"lstm-doctor numeric health · {runs} · {note}", fontsize=style.TITLE_PT, color=style.INK, fontweight="bold"
    )
    return fig


def _plot_layers(
    ax: Axes,
    health: Sequence[Records],
    prefix: str,
    several: bool,
    *,
    log: bool,
    linestyle: str = "-",
    suffix: str = "",
) -> None:
    for k, layer in enumerate(_layers(health, prefix)):
        colour = _LAYER_COLOURS[k % len(_LAYER_COLOURS)]
        for i, records in enumerate(health):
            epochs, values = _series(records, f"{prefix}/{layer}")
            if log:
                keep = values > 0
                epochs, values = epochs[keep], values[keep]
            if not len(epochs):
                continue
            ax.plot(
                epochs,
                values,
                color=colour,
                linestyle=linestyle,
                linewidth=style.RUN_WIDTH if several else style.MEAN_WIDTH - 0.6,
                alpha=style.RUN_ALPHA + 0.2 if several else 1.0,
                marker="o" if len(epochs) <= style.MARKERS_UP_TO_EPOCHS else None,
                markersize=3,
                label=f"{layer}{suffix}" if i == 0 else None,
            )
    if log and ax.has_data():
        ax.set_yscale("log")


def _mark_non_finite(ax: Axes, health: Sequence[Records]) -> None:
    for records in health:
        for record in records:
            event = record.get("non_finite")
            if event:
                ax.axvline(
                    record.get("epoch", 0),
                    color=style.VERMILLION,
                    linewidth=1.5,
                    linestyle="-.",
                    label=f"first NaN/inf ({event.get('what')}), epoch {record.get('epoch')}",
                )
                return


def _style(ax: Axes, title: str, ylabel: str) -> None:
    ax.set_title(title, loc="left", fontsize=style.LABEL_PT, color=style.INK)
    ax.set_xlabel(X_LABEL, fontsize=style.LABEL_PT, color=style.INK)
    ax.set_ylabel(ylabel, fontsize=style.LABEL_PT, color=style.INK)
    ax.tick_params(labelsize=style.TICK_PT, colors=style.INK)
    ax.grid(True, color=style.GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=style.NOTE_PT, loc="best", framealpha=0.9)
