"""Training phase: the worker's `fit_run` (fast input path) against plain `model.fit` on the same
NumPy arrays, same model, config and epochs, interleaved in one process.

Both variants build, compile and fit a fresh model (what every job pays), in a process that has
already trained once (a warm worker). Each repetition uses its own seed for both variants, so the
spread across repetitions is the seed-to-seed noise the final metrics are compared against.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from benchmarks import bench_datasets
from benchmarks.bench_common import Figure, median

CASES = {
    # name: (csv bytes, job body, repetitions, ratio target)
    "classic": (bench_datasets.classic_csv, lambda: bench_datasets.classic_job("ds_bench"), 5, 0.5),
    "larger": (bench_datasets.larger_csv, lambda: bench_datasets.larger_job("ds_bench", epochs=2), 3, 1.0),
}


def prepared_case(name: str, directory: Path):
    from core.data import prepare_arrays
    from core.job_config import JobConfig

    make_csv, make_job, _, _ = CASES[name]
    path = directory / f"{name}.csv"
    path.write_bytes(make_csv())
    config = JobConfig.model_validate(make_job())
    return config, prepare_arrays(path, "csv", config.data, config.task)


def plain_fit(config, prepared, seed: int) -> dict[str, list[float]]:
    """What the user's script does: fit on the arrays, Keras' defaults for everything else."""
    import keras

    from worker.model import build_model
    from worker.training import output_size

    keras.utils.set_random_seed(seed)
    spec = prepared.spec
    model = build_model(config, int(spec["timesteps"]), int(spec["n_features"]), output_size(config, spec))
    return model.fit(prepared.X_train, prepared.y_train, validation_data=(prepared.X_val, prepared.y_val),
                     epochs=config.training.epochs, batch_size=config.training.batch_size,
                     shuffle=config.training.shuffle, verbose=0).history


def fast_fit(config, prepared, seed: int) -> dict[str, list[float]]:
    from worker.training import fit_run

    return fit_run(config, prepared, seed, callbacks=[])


def timed(fit, config, prepared, seed: int) -> tuple[float, dict[str, float]]:
    import keras

    start = time.perf_counter()
    history = fit(config, prepared, seed)
    seconds = time.perf_counter() - start
    keras.backend.clear_session(free_memory=True)  # as the runner does after every job
    return seconds, {name: values[-1] for name, values in history.items()}


def compare(name: str, config, prepared, repeats: int, target: float) -> list[Figure]:
    variants = {"plain": plain_fit, "fast": fast_fit}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    finals: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for seed in range(repeats):
        # Alternate which goes first so a drift in machine load falls on both alike.
        order = list(variants) if seed % 2 == 0 else list(reversed(variants))
        for variant in order:
            took, final = timed(variants[variant], config, prepared, seed)
            seconds[variant].append(took)
            finals[variant].append(final)
        print(f"    {name} seed {seed}: " + ", ".join(f"{v} {seconds[v][-1]:.2f} s" for v in variants), flush=True)
    plain_s, fast_s = median(seconds["plain"]), median(seconds["fast"])
    print(f"  {name}: {config.training.epochs} epochs, {len(prepared.X_train)} training samples, "
          f"window {prepared.spec['timesteps']}, median plain fit {plain_s:.2f} s, fast path {fast_s:.2f} s")
    print_agreement(finals)
    return [Figure(f"training {name}: fast path / plain fit (time)", fast_s / plain_s, "×", target)]


def print_agreement(finals: dict[str, list[dict[str, float]]]) -> None:
    """Final metrics of both variants, medians over seeds; 'agree' when the difference is within
    the seed-to-seed spread of plain fit (max − min) plus 2 % of the value."""
    for metric in finals["plain"][0]:
        plain = [f[metric] for f in finals["plain"]]
        fast = [f[metric] for f in finals["fast"]]
        difference = abs(median(fast) - median(plain))
        allowed = (max(plain) - min(plain)) + 0.02 * abs(median(plain))
        word = "agree" if difference <= allowed else "DIFFER"
        print(f"    final {metric:<14} plain {median(plain):.4f}  fast {median(fast):.4f}  "
              f"|Δ| {difference:.4f} ≤ {allowed:.4f}: {word}")


def main(cases: list[str] | None = None) -> list[Figure]:
    from worker import devices

    devices.prepare()  # op determinism and GPU settings exactly as in a worker process
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in cases or list(CASES):
            config, prepared = prepared_case(name, Path(tmp))
            # One short untimed round of each: a process's first fit of a model shape loads kernels
            # that a warm worker already has.
            warm = config.model_copy(update={"training": config.training.model_copy(update={"epochs": 1})})
            sample = dataclasses.replace(prepared, X_train=prepared.X_train[:256], y_train=prepared.y_train[:256],
                                         X_val=prepared.X_val[:64], y_val=prepared.y_val[:64])
            timed(plain_fit, warm, sample, 0)
            timed(fast_fit, warm, sample, 0)
            _, _, repeats, target = CASES[name]
            figures += compare(name, config, prepared, repeats, target)
    return figures


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
