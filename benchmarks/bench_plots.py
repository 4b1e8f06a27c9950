"""How long a plot takes: a cold render against a hit in the HTTP layer's plot cache.

Cold = a full render (new Figure, draw, encode) of an input not seen before in the cache, in a
process whose fonts are already loaded; the first render of a process is reported separately.
Cached = ``service.plot_cache.PlotCache.get_or_render`` on a key already there, plus the ETag,
which is what a repeat GET costs. Run from the repository root:

    .venv/bin/python -m benchmarks.bench_plots [--repeats N]

Results and the machine they came from are written down in ``benchmarks/PLOTS.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import matplotlib

from benchmarks.plot_examples import OVERFIT_DIAGNOSIS, overfit_history
from diagnosis.plots import render_metric, render_report
from service.etags import etag_for
from service.plot_cache import PlotCache

CACHE_HITS = 20_000


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="cold renders per case (median reported)")
    repeats = parser.parse_args().repeats

    print(f"python {platform.python_version()}, matplotlib {matplotlib.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), repeats={repeats}, "
          # Medians move with whatever else runs on the machine; the minimum is the cost alone.
          f"load average {os.getloadavg()[0]:.1f}\n")
    start = time.perf_counter()
    render_metric([overfit_history(50)], "loss", OVERFIT_DIAGNOSIS)
    print(f"first render in a fresh process (font cache load): {1e3 * (time.perf_counter() - start):.0f} ms\n")

    print("| plot | epochs | runs | format | cold median (ms) | cold min (ms) | bytes |")
    print("|---|---:|---:|---|---:|---:|---:|")
    cold_ms = {}
    for epochs in (50, 1000):
        for n_runs in (1, 3):
            runs = [overfit_history(epochs, seed=s, best=epochs // 4) for s in range(n_runs)]
            diagnosis = {**OVERFIT_DIAGNOSIS, "evidence": {"epochs": epochs, "best_epoch": epochs // 4}}
            for name, render in (("metric", render_metric), ("report", render_report)):
                if name == "report" and n_runs == 1:
                    continue
                for fmt in ("png", "svg"):
                    args = (runs, "loss", diagnosis) if name == "metric" else (runs, diagnosis)
                    body = render(*args, fmt=fmt)
                    seconds = timed(lambda render=render, args=args, fmt=fmt: render(*args, fmt=fmt), repeats)
                    median = 1e3 * statistics.median(seconds)
                    cold_ms[(name, epochs, n_runs, fmt)] = median
                    print(f"| {name} | {epochs} | {n_runs} | {fmt} | {median:.0f} | "
                          f"{1e3 * min(seconds):.0f} | {len(body):,} |")

    cache = PlotCache()
    key = ("job:bench:job_1", (1000,), "loss", "png", ("overfit", True))
    cache.get_or_render(key, lambda: render_metric([overfit_history(1000)], "loss", OVERFIT_DIAGNOSIS))

    def repeat_get() -> None:
        etag_for(key)
        cache.get_or_render(key, lambda: b"")

    hit_us = 1e6 * statistics.median(timed(repeat_get, CACHE_HITS))
    cold = cold_ms[("metric", 1000, 1, "png")]
    print(f"\ncached (PlotCache hit + ETag), median of {CACHE_HITS:,}: {hit_us:.1f} µs; "
          f"cold 1000-epoch PNG / cached = {1e3 * cold / hit_us:,.0f}×")


if __name__ == "__main__":
    main()
