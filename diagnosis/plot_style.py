"""How the plots look: sizes, fonts and colours, in one place.

Styles are passed to every artist explicitly instead of through ``matplotlib.rcParams``:
plots are rendered in server threads at the same time, and rcParams is one global dict.
"""

from __future__ import annotations

# Okabe–Ito palette: distinguishable under the common colour-vision deficiencies, and the
# training/validation pair also differs in line style and marker, so it survives greyscale.
BLUE = "#0072B2"
VERMILLION = "#D55E00"
GREEN = "#009E73"
ORANGE = "#E69F00"
PURPLE = "#CC79A7"
GREY = "#6E6E6E"
INK = "#222222"
GRID = "#DDDDDD"

TRAIN = {"color": BLUE, "linestyle": "-", "marker": "o"}
VAL = {"color": VERMILLION, "linestyle": "--", "marker": "s"}

VERDICT_COLOURS = {
    "good_fit": GREEN,
    "overfit": VERMILLION,
    "underfit": PURPLE,
    "unstable": ORANGE,
    "inconclusive": GREY,
}

DPI = 100
METRIC_SIZE_IN = (8.0, 5.0)
REPORT_SIZE_IN = (12.0, 9.0)

TITLE_PT = 14
LABEL_PT = 12
TICK_PT = 10
LEGEND_PT = 10
NOTE_PT = 9
BODY_PT = 10.5

MEAN_WIDTH = 2.4  # the mean (or the only run) is the line to read
RUN_WIDTH = 1.0  # single runs behind it: visible, not competing
RUN_ALPHA = 0.45
MARKER_SIZE = 4.5
# Below this many epochs a curve is a handful of points; markers keep a 1-epoch run visible.
MARKERS_UP_TO_EPOCHS = 25
TICK_EVERY_EPOCH_UP_TO = 12
# Losses that span more decades than this read better on a log axis (divergence, big drops).
LOG_SCALE_RATIO = 1e3
