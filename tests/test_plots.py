"""The plot renderer: decodable, non-blank images that say what the contract says they say."""
from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from diagnosis import plot_text
from diagnosis.plots import (
    UnknownMetric,
    metric_figure,
    render_metric,
    render_report,
    report_figure,
)

SVG_NS = "{http://www.w3.org/2000/svg}"


def history(epochs: int = 30, seed: int = 0, accuracy_key: str = "accuracy") -> dict[str, list[float]]:
    """An overfitting binary classifier: validation loss bottoms out near epoch 10."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1, dtype=float)
    curves = {
        "loss": 0.6 * np.exp(-t / 8) + 0.08,
        "val_loss": 0.42 + 0.2 * np.exp(-t / 4) + 0.006 * np.maximum(t - 10, 0),
        accuracy_key: 0.98 - 0.4 * np.exp(-t / 7),
        f"val_{accuracy_key}": 0.78 - 0.25 * np.exp(-t / 4),
    }
    return {k: list(v + rng.normal(0, 0.005, epochs)) for k, v in curves.items()}


DIAGNOSIS = {
    "verdict": "overfit",
    "final": True,
    "confidence": 0.87,
    "reasons": ["val_loss_rising"],
    "flags": [],
    "summary": "Validation loss bottomed out at epoch 10 and rose 25 % since.",
    "recommendations": ["Stop at epoch 10 (early stopping, patience ≈ 5)", "Add dropout 0.2–0.5"],
    "evidence": {"epochs": 30, "best_epoch": 10, "final_loss": 0.08, "final_val_loss": 0.54,
                 "min_val_loss": 0.43, "val_loss_rise": 0.25, "baseline_loss": 0.693},
}


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)
    return ["".join(node.itertext()) for node in root.iter(f"{SVG_NS}text")]


def curve_lines(fig) -> list:
    """Lines that draw data against epochs (not the best-epoch rule, markers or legend proxies)."""
    ax = fig.axes[0]
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 1]


# --- PNG -------------------------------------------------------------------------------------


def test_png_decodes_at_readable_size_and_is_not_blank():
    image = png(render_metric([history()], "loss", DIAGNOSIS))
    assert image.format == "PNG"
    assert image.size == (800, 500)
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 100  # anti-aliased curves, text and fills
    non_white = np.any(pixels < 245, axis=1).mean()
    assert 0.02 < non_white < 0.6


def test_png_shows_both_curve_colours():
    pixels = np.asarray(png(render_metric([history()], "loss")).convert("RGB")).reshape(-1, 3)
    for colour in ((0x00, 0x72, 0xB2), (0xD5, 0x5E, 0x00)):  # training blue, validation vermillion
        assert (np.abs(pixels.astype(int) - colour).sum(axis=1) < 30).sum() > 200


def test_report_png_is_one_large_sheet():
    image = png(render_report([history()], DIAGNOSIS))
    assert image.size == (1200, 900)
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 100


# --- What the plot says ----------------------------------------------------------------------


def test_svg_carries_title_axis_label_and_legend():
    texts = svg_texts(render_metric([history()], "loss", fmt="svg"))
    assert "Training vs Validation loss" in texts
    assert "No. of Epochs" in texts
    assert {"training", "validation"} <= set(texts)


@pytest.mark.parametrize("spelling", ["acc", "binary_accuracy", "sparse_categorical_accuracy"])
def test_any_accuracy_spelling_is_plotted_as_accuracy(spelling):
    runs = [history(accuracy_key=spelling)]
    for asked in ("accuracy", spelling):
        assert "Training vs Validation accuracy" in svg_texts(render_metric(runs, asked, fmt="svg"))


def test_other_metrics_are_titled_by_name():
    runs = [{**history(), "mae": [0.5, 0.4, 0.3], "val_mae": [0.6, 0.5, 0.45]}]
    assert "Training vs Validation mae" in svg_texts(render_metric(runs, "mae", fmt="svg"))


def test_verdict_and_best_epoch_are_written_on_the_plot():
    texts = svg_texts(render_metric([history()], "loss", DIAGNOSIS, fmt="svg"))
    assert "Verdict: overfit" in texts
    assert "best epoch 10" in texts


def test_best_epoch_is_a_vertical_line_at_that_epoch():
    fig = metric_figure([history()], "loss", DIAGNOSIS)
    verticals = [line for line in fig.axes[0].get_lines()
                 if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2]
    assert [line.get_xdata()[0] for line in verticals] == [10]


def test_provisional_verdict_while_the_job_runs():
    running = {**DIAGNOSIS, "final": False, "verdict": "good_fit"}
    assert "Verdict: good fit (provisional)" in svg_texts(render_metric([history()], "loss", running, fmt="svg"))


def test_no_verdict_nor_best_epoch_without_a_diagnosis():
    texts = svg_texts(render_metric([history()], "loss", None, fmt="svg"))
    assert not any(t.startswith("Verdict") or t.startswith("best epoch") for t in texts)


@pytest.mark.parametrize("evidence", [{}, {"best_epoch": None}, {"best_epoch": 0}, {"best_epoch": 99},
                                      {"best_epoch": True}, {"best_epoch": "10"}, {"best_epoch": math.nan}])
def test_partial_or_odd_diagnoses_are_drawn_without_a_marker(evidence):
    texts = svg_texts(render_metric([history()], "loss", {"verdict": "overfit", "evidence": evidence}, fmt="svg"))
    assert "Verdict: overfit" in texts
    assert not any(t.startswith("best epoch") for t in texts)


def test_loss_plot_shows_the_trivial_baseline():
    texts = svg_texts(render_metric([history()], "loss", DIAGNOSIS, fmt="svg"))
    assert "baseline, trivial predictor (0.693)" in texts


# --- Several runs ----------------------------------------------------------------------------


def test_every_run_is_drawn_with_a_thicker_mean():
    one = curve_lines(metric_figure([history()], "loss"))
    three = curve_lines(metric_figure([history(seed=s) for s in range(3)], "loss"))
    assert len(one) == 2  # training, validation
    assert len(three) == 3 * 2 + 2  # each run's two curves, and the two means
    widths = sorted(line.get_linewidth() for line in three)
    assert widths[-2:] == [widths[-1]] * 2 and widths[0] < widths[-1]


def test_several_runs_draw_more_svg_paths_and_say_mean():
    one = render_metric([history()], "loss", fmt="svg")
    three = render_metric([history(seed=s) for s in range(3)], "loss", fmt="svg")
    assert three.count(b"<path") >= one.count(b"<path") + 6
    assert "training, mean of 3 runs" in svg_texts(three)


def test_runs_of_different_lengths_are_padded_not_truncated():
    fig = metric_figure([history(epochs=30), history(epochs=12, seed=1)], "loss")
    assert max(len(line.get_xdata()) for line in curve_lines(fig)) == 30


# --- Unknown metrics -------------------------------------------------------------------------


def test_unknown_metric_lists_what_exists():
    runs = [{**history(), "mae": [0.1], "val_mae": [0.2]}]
    with pytest.raises(UnknownMetric) as caught:
        render_metric(runs, "precision")
    assert isinstance(caught.value, KeyError)
    assert caught.value.metric == "precision"
    assert caught.value.available == ["loss", "accuracy", "mae"]
    assert "loss, accuracy, mae" in str(caught.value)


def test_validation_keys_are_not_metrics_of_their_own():
    with pytest.raises(UnknownMetric):
        render_metric([history()], "val_loss")


def test_metric_recorded_only_for_validation_is_plotted():
    runs = [{"loss": [0.5, 0.4], "val_loss": [0.6, 0.5], "val_auc": [0.7, 0.8]}]
    assert "Training vs Validation auc" in svg_texts(render_metric(runs, "auc", fmt="svg"))


def test_unknown_format_is_a_value_error():
    with pytest.raises(ValueError, match="png, svg"):
        render_metric([history()], "loss", fmt="jpeg")
    with pytest.raises(ValueError):
        render_report([history()], fmt="pdf")


# --- Broken and early histories --------------------------------------------------------------


GAPPY = {
    "loss": [0.7, None, math.nan, math.inf, "NaN", 0.4, -math.inf, 0.35],
    "val_loss": [0.72, 0.7, None, 0.6, 0.58, "inf", 0.55, None],
    "accuracy": [0.5, None, 0.6, 0.62, math.nan, 0.7, 0.72, 0.74],
}


@pytest.mark.parametrize("fmt", ["png", "svg"])
@pytest.mark.parametrize("runs", [
    [GAPPY],
    [GAPPY, history(epochs=8)],
    [{"loss": [None] * 5, "val_loss": [math.nan] * 5}],
    [{"loss": [1e-3, 10.0, 1e4, math.inf]}],
])
def test_nan_none_and_inf_draw_as_gaps(runs, fmt):
    diagnosis = {"verdict": "unstable", "reasons": ["nan_loss"], "evidence": {"best_epoch": 1}}
    assert render_metric(runs, "loss", diagnosis, fmt=fmt)
    assert render_report(runs, diagnosis, fmt=fmt)


def test_non_finite_epochs_are_marked_and_counted():
    texts = svg_texts(render_metric([GAPPY], "loss", fmt="svg"))
    assert "NaN/inf (7 epochs, not drawn)" in texts


def test_diverging_loss_goes_to_a_log_axis():
    fig = metric_figure([{"loss": [0.7, 0.6, 5.0, 80.0, 2e3, 3e4]}], "loss")
    assert fig.axes[0].get_yscale() == "log"
    assert metric_figure([history()], "loss").axes[0].get_yscale() == "linear"


@pytest.mark.parametrize("runs", [[{"loss": [], "val_loss": []}], [{}], []])
def test_empty_history_renders_a_labelled_empty_loss_plot(runs):
    image = png(render_metric(runs, "loss"))
    assert image.size == (800, 500)
    texts = svg_texts(render_metric(runs, "loss", fmt="svg"))
    assert {"Training vs Validation loss", "No. of Epochs", "No epochs recorded yet"} <= set(texts)


def test_one_epoch_is_still_visible():
    training, validation = metric_figure([{"loss": [0.7], "val_loss": [0.71]}], "loss").axes[0].lines[:2]
    assert (training.get_marker(), validation.get_marker()) == ("o", "s")


def test_missing_validation_is_said_in_the_legend():
    fig = metric_figure([{"loss": [0.7, 0.5, 0.4]}], "loss")
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert labels == ["training", "no validation data"]


# --- The report ------------------------------------------------------------------------------


def test_report_has_loss_main_metric_and_the_diagnosis_in_words():
    texts = svg_texts(render_report([history(accuracy_key="acc")], DIAGNOSIS, fmt="svg"))
    joined = "\n".join(texts)
    for expected in ("Training vs Validation loss", "Training vs Validation accuracy", "Verdict: overfit",
                     "confidence 87%", "reasons: val_loss_rising", "Evidence", "+25%",
                     "Validation loss bottomed out at epoch 10"):
        assert expected in joined


def test_report_main_metric_falls_back_to_the_first_other_metric():
    runs = [{"loss": [0.5, 0.4, 0.3], "val_loss": [0.6, 0.5, 0.5], "mae": [0.4, 0.3, 0.2]}]
    assert "Training vs Validation mae" in svg_texts(render_report(runs, fmt="svg"))


def test_report_with_loss_only_and_no_diagnosis_says_so():
    fig = report_figure([{"loss": [0.5, 0.4]}], None)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "No metric besides loss was recorded" in texts
    assert "No diagnosis yet: too few epochs to read." in texts


# --- Determinism and threads -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_same_input_same_bytes(fmt):
    runs = [history(seed=s) for s in range(3)]
    assert render_metric(runs, "loss", DIAGNOSIS, fmt=fmt) == render_metric(runs, "loss", DIAGNOSIS, fmt=fmt)
    assert render_report(runs, DIAGNOSIS, fmt=fmt) == render_report(runs, DIAGNOSIS, fmt=fmt)


def test_png_carries_no_timestamp_or_software_chunk():
    image = png(render_metric([history()], "loss"))
    assert not {"Software", "Creation Time", "date:create"} & set(image.info)


def test_svg_carries_no_date():
    assert not re.search(rb"<dc:date>", render_metric([history()], "loss", fmt="svg"))


def test_concurrent_renders_match_serial_ones():
    jobs = [([history(seed=s)], metric, fmt) for s in range(2) for metric in ("loss", "accuracy")
            for fmt in ("png", "svg")]
    serial = [render_metric(runs, metric, DIAGNOSIS, fmt=fmt) for runs, metric, fmt in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda job: render_metric(job[0], job[1], DIAGNOSIS, fmt=job[2]), jobs))
    assert parallel == serial


# --- Reading partial diagnoses ---------------------------------------------------------------


def test_evidence_rows_format_numbers_and_skip_the_rest():
    rows = dict(plot_text.evidence_rows({"evidence": {
        "best_epoch": 14, "val_loss_rise": 0.38, "final_loss": 0.123456, "note": "text",
        "train_slope": None, "custom_score": 2.5}}))
    assert rows == {"best epoch": "14", "val loss rise": "+38%", "final loss": "0.123", "custom score": "2.5"}


def test_diagnosis_fields_of_the_wrong_type_are_ignored():
    odd = {"verdict": 3, "evidence": [], "reasons": "val_loss_rising", "recommendations": None}
    assert plot_text.verdict_label(odd) is None
    assert plot_text.best_epoch(odd, 10) is None
    assert plot_text.body_text(odd, 60) == ""
    assert render_report([history()], odd)
