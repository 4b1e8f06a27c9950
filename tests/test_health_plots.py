"""gradients.png from health records, and findings on the report sheet (pure rendering)."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from diagnosis.engine import diagnose
from diagnosis.health_plots import NoHealth, render_gradients
from diagnosis.plots import render_report
from tests.test_findings_training import HISTORY, records


def svg_texts(svg: bytes) -> str:
    return " ".join(re.findall(r">([^<>]+)</text>", svg.decode()))


def test_gradients_plot_draws_every_layer_and_names_the_findings():
    saturated = records(6, **{"saturation/lstm_1": [0.9] * 7})
    diagnosis = diagnose([HISTORY], task="binary_classification", health=[saturated])
    image = Image.open(io.BytesIO(render_gradients([saturated], diagnosis)))
    assert image.size == (1400, 500)
    texts = svg_texts(render_gradients([saturated, records(6)], diagnosis, fmt="svg"))
    for words in ("lstm_1", "output", "Gradient norm", "Update / weight ratio", "Saturated gates",
                  "Findings: saturated_gates", "2 runs"):
        assert words in texts


def test_gradients_plot_needs_health_numbers():
    with pytest.raises(NoHealth):
        render_gradients([[]])


def test_report_lists_the_findings_that_found_an_issue():
    flagged = diagnose([HISTORY], task="binary_classification",
                       health=[records(6, **{"saturation/lstm_1": [0.9] * 7})])
    texts = svg_texts(render_report([HISTORY], flagged, fmt="svg"))
    assert "Findings" in texts and "saturated_gates:" in texts
    clean = diagnose([HISTORY], task="binary_classification", health=[records(6)])
    assert "Findings" not in svg_texts(render_report([HISTORY], clean, fmt="svg"))
