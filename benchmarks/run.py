"""Runs the benchmarks and prints every figure next to its target (`make bench`).

    python -m benchmarks.run                     # all of them, in the order below
    python -m benchmarks.run training memory     # only these

Results are written down, with the machine and its load, in benchmarks/BENCHMARKS.md. Timings
never fail anything: a missed target is printed as MISSED and the exit status stays 0.
"""
from __future__ import annotations

import argparse
import importlib
import time

from benchmarks.bench_common import Figure, machine

BENCHMARKS = {
    "training": ("benchmarks.bench_training", "training phase: fast path vs plain model.fit"),
    "health": ("benchmarks.bench_health", "health monitor: watched vs unwatched fit"),
    "submit": ("benchmarks.bench_submit", "data checks at submit: submit with vs without them, profile size"),
    "end_to_end": ("benchmarks.bench_end_to_end", "end to end through the API vs the plain script"),
    "api_load": ("benchmarks.bench_api_load", "API under load: pollers, plots, SSE fan-out"),
    "throughput": ("benchmarks.bench_throughput", "small jobs per minute, one worker vs two"),
    "memory": ("benchmarks.bench_worker_memory", "worker RSS after 1 and after 50 jobs"),
    "diagnosis": ("benchmarks.bench_diagnosis", "verdict engine: ms per 200-epoch run vs early-stopping reading"),
    "predictions": ("benchmarks.bench_predictions", "predictions: Prefer: wait on a warm worker vs the plain script"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    names = parser.parse_args().names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    print(f"machine: {machine()}\n", flush=True)
    results: list[tuple[str, list[Figure]]] = []
    for name in names:
        module, title = BENCHMARKS[name]
        print(f"== {name}: {title}", flush=True)
        start = time.perf_counter()
        figures = importlib.import_module(module).main()
        print(f"   ({time.perf_counter() - start:.0f} s)\n", flush=True)
        results.append((name, figures))

    print(f"== summary (machine after the run: {machine()})")
    for _name, figures in results:
        for figure in figures:
            print(figure.line())


if __name__ == "__main__":
    main()
