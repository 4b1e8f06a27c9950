"""Health monitoring's cost: the worker's fit (fast path) with and without ``worker.health``'s
monitor on the classic example, interleaved in one process, same seeds, same machine load.

Target: watching costs ≤ 10 % (ratio ≤ 1.10). Results in benchmarks/BENCHMARKS.md.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.bench_common import Figure, median
from benchmarks.bench_training import prepared_case, timed

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


def main(repeats: int = 7) -> list[Figure]:
    from worker import devices

    devices.prepare()
    variants = {"unwatched": unwatched_fit, "watched": watched_fit}
    with tempfile.TemporaryDirectory() as tmp:
        config, prepared = prepared_case("classic", Path(tmp))
        for fit in variants.values():  # a warm process, as a worker's
            timed(fit, config, prepared, 0)
        seconds: dict[str, list[float]] = {v: [] for v in variants}
        for seed in range(repeats):
            order = list(variants) if seed % 2 == 0 else list(reversed(variants))
            for variant in order:
                took, _ = timed(variants[variant], config, prepared, seed)
                seconds[variant].append(took)
            print(f"    classic seed {seed}: " + ", ".join(f"{v} {seconds[v][-1]:.2f} s" for v in variants),
                  flush=True)
    plain, watched = median(seconds["unwatched"]), median(seconds["watched"])
    ratios = sorted(w / u for w, u in zip(seconds["watched"], seconds["unwatched"]))
    print(f"  classic, {config.training.epochs} epochs: median unwatched {plain:.2f} s, watched {watched:.2f} s; "
          f"per-seed ratios {', '.join(f'{r:.2f}' for r in ratios)}")
    flagged = [rules for rules in FLAGGED[1:] if rules]  # the first was the warm-up round
    print(f"  training findings on the {len(FLAGGED) - 1} watched runs: "
          f"{'none flagged an issue' if not flagged else flagged}")
    return [Figure("health monitor on classic: watched / unwatched fit (time)", watched / plain, "×", TARGET)]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
