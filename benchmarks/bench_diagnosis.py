"""The verdict engine's cost: ms per run of the corpus's 200+-epoch runs, next to reading the same
history with Keras' own ``EarlyStopping`` logic (the early-stopping reference diagnoser).

    .venv/bin/python -m benchmarks.bench_diagnosis

Both read the same histories in the same process, interleaved; the engine's full diagnosis
(verdict, evidence, summary and recommendations, JSON-safe) is timed, not just the rules.
"""
from __future__ import annotations

import time

from benchmarks.bench_common import Figure, median
from benchmarks.diagnosis_corpus import references, score
from diagnosis.engine import diagnose

ROUNDS = 5


def main() -> list[Figure]:
    corpus = score.load_corpus()
    long_runs = [e for e in corpus["runs"] if len(e["history"]["loss"]) >= 200]
    reference = references.early_stopping(patience=5, min_delta_share=0.0)
    engine_ms, reference_ms = [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for e in long_runs:
            diagnose([e["history"]], task=e["kind"], baseline_loss=e["baseline_loss"])
        engine_ms.append((time.perf_counter() - start) * 1000 / len(long_runs))
        start = time.perf_counter()
        for e in long_runs:
            reference(e["history"], e["baseline_loss"])
        reference_ms.append((time.perf_counter() - start) * 1000 / len(long_runs))
    engine, ref = median(engine_ms), median(reference_ms)
    return [
        Figure(f"engine, ms per 200+-epoch run ({len(long_runs)} runs)", engine, " ms", target=5.0),
        Figure("early-stopping reading, ms per run", ref, " ms"),
        Figure("engine / early-stopping reading", engine / ref, "×"),
    ]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
