"""Training-vs-validation plots as PNG or SVG bytes: pure, deterministic, safe in threads.

``render_metric`` draws one metric for every run (each run thin, their mean thick), marks the
diagnosis' best epoch and writes its verdict in the corner; ``render_report`` puts loss, the
main metric and the diagnosis in words on one sheet. Only matplotlib's object-oriented API is
used (a fresh ``Figure`` per call, never pyplot), so concurrent server threads share nothing.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from diagnosis import plot_style as style
from diagnosis import plot_text
from diagnosis.downsample import MAX_POINTS, min_max
from diagnosis.history import (
    ACCURACY_ALIASES,
    History,
    as_array,
    available_metrics,
    resolve_metric,
    train_metrics,
)
from diagnosis.plot_text import DiagnosisData

FORMATS = ("png", "svg")
X_LABEL = "No. of Epochs"

# SVG ids are hashes salted with a random UUID unless ``svg.hashsalt`` is set, and text is
# drawn as glyph outlines unless ``svg.fonttype`` is "none"; both are read from the global
# rcParams while the figure is written. A fixed salt makes the bytes (hence ETags) stable,
# real <text> keeps the SVG small and searchable. The lock keeps the temporary rcParams
# change to one SVG writer at a time; PNG rendering never reads these keys.
_SVG_LOCK = threading.Lock()


class UnknownMetric(KeyError):
    """No run records ``metric`` (nor ``val_<metric>``); ``available`` lists what they do record."""

    def __init__(self, metric: str, available: Sequence[str]):
        super().__init__(metric)
        self.metric = metric
        self.available = list(available)

    def __str__(self) -> str:
        names = ", ".join(self.available) or "none yet"
        return f"no run records the metric {self.metric!r}; metrics recorded: {names}"


def render_metric(
    runs: Sequence[History], metric: str, diagnosis: DiagnosisData | None = None, fmt: str = "png"
) -> bytes:
    """One metric's training and validation curves, as PNG or SVG bytes."""
    _check_format(fmt)
    return _encode(metric_figure(runs, metric, diagnosis), fmt)


def render_report(runs: Sequence[History], diagnosis: DiagnosisData | None = None, fmt: str = "png") -> bytes:
    """Loss, the main metric and the diagnosis in words on one sheet, as PNG or SVG bytes."""
    _check_format(fmt)
    return _encode(report_figure(runs, diagnosis), fmt)


def metric_figure(runs: Sequence[History], metric: str, diagnosis: DiagnosisData | None = None) -> Figure:
    """The figure ``render_metric`` encodes; exposed so tests can inspect the artists."""
    curves = _curves(runs, metric)
    fig = _new_figure(style.METRIC_SIZE_IN)
    ax = fig.add_subplot()
    _draw_curves(ax, curves, diagnosis)
    label = plot_text.verdict_label(diagnosis)
    if label:
        colour = style.VERDICT_COLOURS.get(plot_text.verdict(diagnosis), style.INK)
        ax.set_title(label, loc="right", fontsize=style.LABEL_PT, fontweight="bold", color=colour)
    return fig


def report_figure(runs: Sequence[History], diagnosis: DiagnosisData | None = None) -> Figure:
    """The figure ``render_report`` encodes: two plots above, the diagnosis in words below."""
    fig = _new_figure(style.REPORT_SIZE_IN)
    rows = fig.add_gridspec(2, 1, height_ratios=(5, 3.6))
    plots = rows[0].subgridspec(1, 2)
    # Words need more width than numbers; the two plots share theirs evenly.
    text = rows[1].subgridspec(1, 2, width_ratios=(3, 2))
    loss = _curves(runs, "loss")
    _draw_curves(fig.add_subplot(plots[0]), loss, diagnosis)
    main = _main_metric(runs)
    metric_ax = fig.add_subplot(plots[1])
    if main is None:
        _draw_placeholder(metric_ax, "No metric besides loss was recorded")
    else:
        _draw_curves(metric_ax, _curves(runs, main), diagnosis)
    _draw_diagnosis(fig.add_subplot(text[0]), fig.add_subplot(text[1]), diagnosis)
    fig.suptitle(
        f"lstm-doctor report · {_count(len(runs), 'run')}, {_count(loss.epochs, 'epoch')}",
        fontsize=style.TITLE_PT + 2,
        fontweight="bold",
        color=style.INK,
    )
    return fig


@dataclass(frozen=True)
class PlottedMetric:
    """One metric across runs, each row padded with NaN to the longest run."""

    name: str  # as titled: the public name ("accuracy" for any spelling)
    train: np.ndarray  # (runs, epochs)
    val: np.ndarray
    has_val: bool
    non_finite_epochs: np.ndarray  # 1-based epochs where some run recorded NaN/inf/None

    @property
    def epochs(self) -> int:
        return self.train.shape[1]


def _curves(runs: Sequence[History], metric: str) -> PlottedMetric:
    keys = [_metric_key(history, metric) for history in runs]
    # Every Keras history has a loss, so a run that has not finished an epoch yet still gets
    # an (empty) loss plot rather than a 404; other metrics must be recorded somewhere.
    if metric != "loss" and not any(keys):
        raise UnknownMetric(metric, available_metrics(runs))
    train = [as_array(h.get(k, ())) if k else np.empty(0) for h, k in zip(runs, keys)]
    val = [as_array(h.get(f"val_{k}", ())) if k else np.empty(0) for h, k in zip(runs, keys)]
    epochs = max((len(values) for values in train + val), default=0)
    non_finite = {int(i) + 1 for values in train + val for i in np.flatnonzero(~np.isfinite(values))}
    return PlottedMetric(
        name="accuracy" if metric in ACCURACY_ALIASES else metric,
        train=_rows(train, epochs),
        val=_rows(val, epochs),
        has_val=any(k and f"val_{k}" in h for h, k in zip(runs, keys)),
        non_finite_epochs=np.array(sorted(non_finite), dtype=int),
    )


def _metric_key(history: History, metric: str) -> str | None:
    """The history key for ``metric``; ``val_*`` names are curves of another metric, not metrics."""
    key = resolve_metric(history, metric)
    return key if key in train_metrics(history) else None


def _rows(curves: Sequence[np.ndarray], epochs: int) -> np.ndarray:
    """One row per run, NaN-padded to ``epochs``; non-finite values become NaN, drawn as gaps."""
    rows = np.full((max(len(curves), 1), epochs), np.nan)
    for row, values in zip(rows, curves):
        row[: len(values)] = np.where(np.isfinite(values), values, np.nan)
    return rows


def _nan_mean(rows: np.ndarray) -> np.ndarray:
    """Per-epoch mean of the runs that have a finite value there (NaN where none has)."""
    finite = np.isfinite(rows)
    counts = finite.sum(axis=0)
    sums = np.where(finite, rows, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.full(rows.shape[1], np.nan), where=counts > 0)


def _main_metric(runs: Sequence[History]) -> str | None:
    others = [m for m in available_metrics(runs) if m != "loss"]
    return "accuracy" if "accuracy" in others else (others[0] if others else None)


def _new_figure(size: tuple[float, float]) -> Figure:
    return Figure(figsize=size, dpi=style.DPI, facecolor="white", layout="constrained")


def _draw_curves(ax: Axes, curves: PlottedMetric, diagnosis: DiagnosisData | None) -> None:
    epochs = np.arange(1, curves.epochs + 1)
    means = {}
    for kind, rows, look in (("training", curves.train, style.TRAIN), ("validation", curves.val, style.VAL)):
        if kind == "validation" and not curves.has_val:
            continue
        means[kind] = _draw_kind(ax, epochs, rows, kind, look)
    baseline = plot_text.baseline_loss(diagnosis) if curves.name == "loss" else None
    if baseline is not None:
        ax.axhline(
            baseline,
            color=style.GREY,
            linestyle="-.",
            linewidth=1.4,
            label=f"baseline, trivial predictor ({baseline:.3g})",
        )
    _style_axes(ax, curves)
    best_epoch = plot_text.best_epoch(diagnosis, curves.epochs)
    if best_epoch is not None:
        _mark_best_epoch(ax, best_epoch, means.get("validation", means["training"]), curves.epochs)
    _add_legend(ax, curves)


def _draw_kind(ax: Axes, epochs: np.ndarray, rows: np.ndarray, kind: str, look: dict) -> np.ndarray:
    """Draw each run thin and the mean thick; return the mean (the only run when there is one)."""
    colour, linestyle = look["color"], look["linestyle"]
    several = rows.shape[0] > 1
    if several:
        # Thin lines share the point budget: 100 runs of 6000 epochs stay a plot, not 22 MiB of SVG.
        per_run = max(MAX_POINTS // rows.shape[0], 200)
        for run in rows:
            ax.plot(
                *min_max(epochs, run, per_run),
                color=colour,
                linestyle=linestyle,
                linewidth=style.RUN_WIDTH,
                alpha=style.RUN_ALPHA,
            )
    mean = _nan_mean(rows)
    marker = look["marker"] if len(epochs) <= style.MARKERS_UP_TO_EPOCHS else None
    ax.plot(
        *min_max(epochs, mean),
        color=colour,
        linestyle=linestyle,
        linewidth=style.MEAN_WIDTH,
        marker=marker,
        markersize=style.MARKER_SIZE,
        label=f"{kind}, mean of {rows.shape[0]} runs" if several else kind,
    )
    return mean


def _mark_best_epoch(ax: Axes, epoch: int, curve: np.ndarray, epochs: int) -> None:
    ax.axvline(epoch, color=style.INK, linestyle=":", linewidth=1.4)
    value = curve[epoch - 1]
    if np.isfinite(value):
        ax.plot(
            [epoch],
            [value],
            linestyle="none",
            marker="*",
            markersize=15,
            color=style.VAL["color"],
            markeredgecolor=style.INK,
            zorder=5,
        )
    # Label the line itself so the reader need not look it up in the legend. Low down, where
    # losses rarely reach, and on the left of late best epochs so it stays inside the axes.
    late = epoch > 0.6 * epochs
    ax.annotate(
        f"best epoch {epoch}",
        xy=(epoch, 0.06),
        xycoords=ax.get_xaxis_transform(),
        xytext=(-4 if late else 4, 0),
        textcoords="offset points",
        ha="right" if late else "left",
        va="bottom",
        fontsize=style.NOTE_PT,
        color=style.INK,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
    )


def _style_axes(ax: Axes, curves: PlottedMetric) -> None:
    ax.set_title(
        f"Training vs Validation {curves.name}",
        loc="left",
        fontsize=style.TITLE_PT,
        color=style.INK,
        parse_math=False,  # a metric is named by the client: `$\fakecmd$` is text, not mathtext
    )
    ax.set_xlabel(X_LABEL, fontsize=style.LABEL_PT, color=style.INK)
    ax.set_ylabel(curves.name, fontsize=style.LABEL_PT, color=style.INK, parse_math=False)
    ax.tick_params(labelsize=style.TICK_PT, colors=style.INK)
    ax.grid(True, color=style.GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _scale_epochs(ax, curves.epochs)
    values = np.concatenate([curves.train.ravel(), curves.val.ravel()])
    _scale_values(ax, curves.name, values[np.isfinite(values)])
    if curves.epochs == 0:
        ax.text(
            0.5,
            0.5,
            "No epochs recorded yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=style.LABEL_PT,
            color=style.GREY,
        )
    if curves.non_finite_epochs.size:
        _mark_non_finite(ax, curves.non_finite_epochs)


def _scale_epochs(ax: Axes, epochs: int) -> None:
    """Whole epochs from 1, every one ticked while there are few; room either side for markers."""
    shown = max(epochs, 1)
    if shown <= style.TICK_EVERY_EPOCH_UP_TO:
        ax.set_xticks(np.arange(1, shown + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    pad = max(0.5, 0.02 * shown)
    ax.set_xlim(1 - pad, shown + pad)


def _scale_values(ax: Axes, metric: str, finite: np.ndarray) -> None:
    if not finite.size:
        ax.set_ylim(0, 1)  # nothing to scale to; an empty unit axis beats a range around 0
    elif finite.min() > 0 and finite.max() / finite.min() > style.LOG_SCALE_RATIO:
        ax.set_yscale("log")
    elif metric != "accuracy" and finite.min() >= 0:
        # Errors are read against zero: a loss stuck near its baseline must look flat, not
        # like the wild swings an auto-scaled axis makes of its noise. Zero joins the data
        # limits so the top keeps its margin, then the bottom margin below zero is cut.
        ax.update_datalim([(1.0, 0.0)])
        ax.autoscale_view()
        ax.set_ylim(bottom=0)


def _mark_non_finite(ax: Axes, epochs: np.ndarray) -> None:
    """Crosses along the bottom at epochs with NaN/inf: a gap alone is easy to miss."""
    bottom = blended_transform_factory(ax.transData, ax.transAxes)
    label = f"NaN/inf ({_count(len(epochs), 'epoch')}, not drawn)"
    if len(epochs) > MAX_POINTS:
        epochs = epochs[np.linspace(0, len(epochs) - 1, MAX_POINTS).astype(int)]
    ax.plot(
        epochs,
        np.full(epochs.shape, 0.02),
        transform=bottom,
        linestyle="none",
        marker="x",
        markersize=6,
        color=style.INK,
        clip_on=False,
        label=label,
    )


def _add_legend(ax: Axes, curves: PlottedMetric) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if curves.train.shape[0] > 1:
        handles.append(
            Line2D(
                [], [], color=style.GREY, linewidth=style.RUN_WIDTH, alpha=style.RUN_ALPHA + 0.2, label="single runs"
            )
        )
    if not curves.has_val:
        handles.append(Line2D([], [], linestyle="none", label="no validation data"))
    ax.legend(handles=handles, fontsize=style.LEGEND_PT, loc="best", framealpha=0.9)


def _draw_placeholder(ax: Axes, message: str) -> None:
    ax.set_axis_off()
    ax.text(
        0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", fontsize=style.LABEL_PT, color=style.GREY
    )


def _draw_diagnosis(words: Axes, numbers: Axes, diagnosis: DiagnosisData | None) -> None:
    """The verdict and its reasons on the left, the evidence numbers on the right."""
    for ax in (words, numbers):
        ax.set_axis_off()
    label = plot_text.verdict_label(diagnosis)
    if diagnosis is None or label is None:
        _write(words, 1, "No diagnosis yet: too few epochs to read.", fontsize=style.TITLE_PT, color=style.GREY)
        return
    colour = style.VERDICT_COLOURS.get(plot_text.verdict(diagnosis), style.INK)
    _write(words, 1, label, fontsize=style.TITLE_PT + 4, fontweight="bold", color=colour)
    _write(words, 0.885, plot_text.confidence_line(diagnosis), color=style.GREY)
    _write(words, 0.79, plot_text.body_text(diagnosis, width=72), linespacing=1.35)
    rows = plot_text.evidence_rows(diagnosis)
    findings = plot_text.finding_lines(diagnosis, width=64)
    if findings:
        # Findings take the bottom of the column; the evidence table gives up its last rows.
        rows = rows[:_EVIDENCE_ROWS_WITH_FINDINGS]
    if rows:
        width = max(len(name) for name, _ in rows)
        table = "\n".join(f"{name:<{width}}  {value:>8}" for name, value in rows)
        _write(numbers, 1, "Evidence", fontsize=style.LABEL_PT, fontweight="bold")
        _write(numbers, 0.9, table, family="monospace", linespacing=1.3)
    if findings:
        _write(numbers, _FINDINGS_TOP, "Findings", fontsize=style.LABEL_PT, fontweight="bold", color=style.VERMILLION)
        _write(numbers, _FINDINGS_TOP - 0.08, "\n".join(findings), fontsize=style.NOTE_PT, linespacing=1.25)


# With findings to show, the evidence table keeps the rows that fit above them.
_FINDINGS_TOP = 0.38
_EVIDENCE_ROWS_WITH_FINDINGS = 8


def _write(ax: Axes, y: float, text: str, **font) -> None:
    """A block of text hanging from height ``y`` (axes fraction), just inside the left edge."""
    font = {"fontsize": style.BODY_PT, "color": style.INK, **font}
    ax.text(0.03, y, text, transform=ax.transAxes, va="top", parse_math=False, **font)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown plot format {fmt!r}; use one of: {', '.join(FORMATS)}")


def _encode(fig: Figure, fmt: str) -> bytes:
    # The canvases' own print methods, not ``savefig``: the same bytes, one draw instead of a
    # layout pass plus a draw.
    buffer = io.BytesIO()
    if fmt == "png":
        # No "Software" chunk: the bytes depend on the input only, so ETags stay stable.
        FigureCanvasAgg(fig).print_png(buffer, metadata={"Software": None})
    else:
        with _SVG_LOCK, matplotlib.rc_context({"svg.hashsalt": "lstm-doctor", "svg.fonttype": "none"}):
            FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None, "Creator": "lstm-doctor"})
    return buffer.getvalue()
