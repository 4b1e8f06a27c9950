"""Serving plots: ``{metric}.png|svg`` (and ``report.png|svg``) with ETag / 304, from the cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response

from diagnosis.health_plots import render_gradients
from diagnosis.history import History, available_metrics, resolve_metric
from diagnosis.plots import UnknownMetric, render_metric, render_report
from service.etags import etag_for, matches
from service.plot_cache import PlotCache
from service.problems import Problem

MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
GRADIENTS = "gradients"  # the numeric-health plot, drawn from health records, not from the history
PLOT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The rendered plot"},
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
}


def plot_response(
    request: Request,
    cache: PlotCache,
    resource: str,
    runs: Sequence[History],
    diagnosis: dict[str, Any] | None,
    filename: str,
    expected: Sequence[str] = (),
    health: Sequence[Sequence[dict[str, Any]]] | None = None,
) -> Response:
    """``expected`` metrics are served even before the first epoch (a job's advertised plots);
    ``health`` (per run, ``worker.health`` records) is what ``gradients.png`` draws."""
    metric, dot, fmt = filename.rpartition(".")
    if not dot or fmt not in MEDIA_TYPES or not metric:
        raise Problem(404, f"Plots are named <metric>.png or <metric>.svg (e.g. loss.png); got {filename!r}.")
    if metric == GRADIENTS:
        return _gradients(request, cache, resource, health or [], diagnosis, fmt)
    if metric in expected and not _has_metric(runs, metric):
        runs = [{metric: [], f"val_{metric}": []} for _ in runs or [{}]]
    if metric != "report" and not _has_metric(runs, metric):
        names = ", ".join(available_metrics(runs)) or "none yet"
        raise Problem(404, f"The history has no metric {metric!r}; available: {names}.")
    epochs = tuple(len(run.get("loss", [])) for run in runs)
    verdict = (diagnosis or {}).get("verdict"), (diagnosis or {}).get("final")
    key = (resource, epochs, metric, fmt, verdict)
    etag = etag_for(key)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)

    def render() -> bytes:
        if metric == "report":
            return render_report(list(runs), diagnosis, fmt=fmt)
        return render_metric(list(runs), metric, diagnosis, fmt=fmt)

    try:
        body = cache.get_or_render(key, render)
    except UnknownMetric as exc:
        raise Problem(404, f"The history has no metric {metric!r}; available: {', '.join(exc.available)}.") from None
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def _has_metric(runs: Sequence[History], metric: str) -> bool:
    return any(resolve_metric(run, metric) is not None for run in runs)


def _gradients(
    request: Request,
    cache: PlotCache,
    resource: str,
    health: Sequence[Sequence[dict[str, Any]]],
    diagnosis: dict[str, Any] | None,
    fmt: str,
) -> Response:
    if not any(health):
        raise Problem(
            404,
            "No numeric health was recorded here (it is recorded while lstm-doctor trains a job; "
            "not for histories trained elsewhere): no gradients plot.",
        )
    flagged = tuple(f.get("rule") for f in (diagnosis or {}).get("findings") or [] if f.get("status") == "issue_found")
    key = (resource, tuple(len(records) for records in health), GRADIENTS, fmt, flagged)
    etag = etag_for(key)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    body = cache.get_or_render(key, lambda: render_gradients(list(health), diagnosis, fmt=fmt))
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)
