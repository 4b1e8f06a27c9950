"""Health monitoring's cost: the worker's fit (fast path) with and without ``worker.health``'s
monitor on the classic example, interleaved in one process, same seeds, same machine load.

Both wall-clock and CPU seconds of the process are reported: on a shared machine the wall clock
swings with the neighbours' load, CPU seconds far less. Target: watching costs ≤ 10 % (ratio
≤ 1.10). Results in benchmarks/BENCHMARKS.md.

    python -m benchmarks.bench_health [repeats]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_common import Figure, median
from benchmarks.bench_training import prepared_case

TARGET = 1.10


# Findings that flagged an issue on each watched (healthy, full-length) run: a false-positive
# check on 50-epoch runs, next to the short ones of benchmarks/bench_fault_corpus.py.
FLAGGED: list[list[str]] = []


def watched_fit(config, prepared, seed: int) -> dict[str, list[float]]:
    from diagnosis.findings import training
    from worker.health import HealthMonitor
    from worker.training import fit_run

    monitor = HealthMonitor(config.task, prepared.X_train, prepared.y_train)
    history = fit_run(config, prepared, seed, callbacks=[], health=monitor)
    found = training.evaluate([history], [monitor.records])
    FLAGGED.append([f["rule"] for f in found if f["status"] == "issue_found"])
    return history


def unwatched_fit(config, prepared, seed: int) -> dict[str, list[float]]:
    from worker.training import fit_run

    return fit_run(config, prepared, seed, callbacks=[])


def timed(fit, config, prepared, seed: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one fit, cleared up as the runner does."""
    import keras

    wall, cpu = time.perf_counter(), time.process_time()
    fit(config, prepared, seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    keras.backend.clear_session(free_memory=True)
    return wall, cpu


def main(repeats: int = 9) -> list[Figure]:
    from worker import devices

    devices.prepare()
    variants = {"unwatched": unwatched_fit, "watched": watched_fit}
    with tempfile.TemporaryDirectory() as tmp:
        config, prepared = prepared_case("classic", Path(tmp))
        for fit in variants.values():  # a warm process, as a worker's
            timed(fit, config, prepared, 0)
        took: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
        for seed in range(repeats):
            order = list(variants) if seed % 2 == 0 else list(reversed(variants))
            for variant in order:
                took[variant].append(timed(variants[variant], config, prepared, seed))
            print(f"    classic seed {seed}: " + ", ".join(
                f"{v} {took[v][-1][0]:.2f} s wall / {took[v][-1][1]:.2f} s CPU" for v in variants), flush=True)
    figures = []
    for k, clock in enumerate(("wall", "CPU")):
        plain = median([t[k] for t in took["unwatched"]])
        watched = median([t[k] for t in took["watched"]])
        ratios = sorted(w[k] / u[k] for w, u in zip(took["watched"], took["unwatched"]))
        print(f"  classic, {config.training.epochs} epochs, {clock}: median unwatched {plain:.2f} s, watched "
              f"{watched:.2f} s; per-seed ratios {', '.join(f'{r:.2f}' for r in ratios)}")
        figures.append(Figure(f"health monitor on classic: watched / unwatched ({clock})", watched / plain, "×",
                              TARGET))
    flagged = [rules for rules in FLAGGED[1:] if rules]  # the first was the warm-up round
    print(f"  training findings on the {len(FLAGGED) - 1} watched runs: "
          f"{'none flagged an issue' if not flagged else flagged}")
    return figures


if __name__ == "__main__":
    for figure in main(*(int(a) for a in sys.argv[1:2])):
        print(figure.line())
