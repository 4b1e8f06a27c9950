"""The verdict engine and the plot renderer: Keras histories in, a diagnosis and images out.

Pure numpy + matplotlib, no I/O, usable as a library::

    from diagnosis import diagnose, render_metric
    diagnosis = diagnose([model.fit(...).history], task="binary_classification")
    png = render_metric([history], "loss", diagnosis)

The names below are the public face; the modules behind them are the engine's own. They are
loaded on first use, so a process that only diagnoses (a training worker) never loads matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diagnosis.engine import diagnose
    from diagnosis.history import History
    from diagnosis.plots import UnknownMetric, render_metric, render_report

__all__ = ["History", "UnknownMetric", "diagnose", "render_metric", "render_report"]
_HOMES = {
    "diagnose": "diagnosis.engine",
    "History": "diagnosis.history",
    "UnknownMetric": "diagnosis.plots",
    "render_metric": "diagnosis.plots",
    "render_report": "diagnosis.plots",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'diagnosis' has no attribute {name!r}")
