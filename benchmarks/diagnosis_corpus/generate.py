"""Train the corpus: small Keras LSTMs, each also scored on a held-out test block every epoch.

    CUDA_VISIBLE_DEVICES= .venv/bin/python -m benchmarks.diagnosis_corpus.generate [--tasks a,b] [--shard 0/2]

Appends one JSON line per run to ``runs.jsonl`` as soon as the run ends, and skips runs already
there, so an interrupted generation resumes where it stopped (shards write their own files,
``runs.jsonl`` is their concatenation; ``--merge`` makes it).

Per task: an **oracle grid** (DIAGNOSIS-TRUTH.md: at least 8 sensible configurations trained
long enough; the best test loss at a best-validation epoch among them is the yardstick) and
runs drawn from **recipe families** of what users train — too few epochs, tiny models, tiny
learning rates, tuned models, dropout and recurrent dropout, early stopping with restored
weights, learning-rate schedules, small and large batches, stacked and bidirectional layers,
raw unscaled inputs, long runs, repeats with different seeds, big models on little data,
large learning rates. A family is a recipe, never a label: labels come from ``labels.py``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
import zlib
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Keras 3 on the JAX backend: the same layers, losses and optimizers the worker trains with
# TensorFlow, but a tiny LSTM's epoch is ~20x cheaper once compiled, and the persistent
# compilation cache lets runs of one architecture share their compile. On a 2-core machine
# that is the difference between an hour and a day for the corpus.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np

from benchmarks.diagnosis_corpus.tasks import TASKS, Task
from diagnosis.baseline import baseline_loss

HERE = Path(__file__).parent
RUNS_FILE = HERE / "runs.jsonl"

_ORACLE_BASE = {"dropout": 0.0, "recurrent_dropout": 0.0, "bidirectional": False, "optimizer": "adam",
                "batch_size": 32, "epochs": 100, "train_fraction": 1.0, "raw_units": False}
ORACLE_GRID = (
    {"units": 16, "layers": 1, "lr": 3e-3},
    {"units": 32, "layers": 1, "lr": 1e-3},
    {"units": 32, "layers": 1, "lr": 3e-3, "batch_size": 16},
    {"units": 64, "layers": 1, "lr": 1e-3},
    {"units": 32, "layers": 2, "lr": 1e-3},
    {"units": 16, "layers": 2, "lr": 3e-3},
    {"units": 32, "layers": 1, "lr": 1e-3, "optimizer": "rmsprop"},
    {"units": 64, "layers": 1, "lr": 3e-4, "batch_size": 16},
    {"units": 32, "layers": 1, "lr": 2e-3, "dropout": 0.2},
)
# Runs per family and task. "repeats" is one configuration trained under three seeds.
FAMILY_RUNS = {
    "few_epochs": 5,
    "short": 3,
    "low_capacity": 4,
    "slow_learning_rate": 4,
    "tuned": 4,
    "dropout": 4,
    "early_stopping": 4,
    "lr_schedule": 3,
    "batch_extremes": 4,
    "stacked_bidirectional": 4,
    "raw_unscaled": 3,
    "long": 3,
    "repeats": 3,
    "too_big_too_long": 5,
    "large_learning_rate": 5,
}


def sample_config(task: Task, family: str, rng: np.random.Generator) -> dict:
    pick = lambda *options: options[rng.integers(len(options))]  # noqa: E731
    config = {"family": family, "units": 16, "layers": 1, "dropout": 0.0, "recurrent_dropout": 0.0,
              "bidirectional": False, "optimizer": "adam", "lr": 1e-3, "batch_size": 32, "epochs": 40,
              "train_fraction": 1.0, "raw_units": False}
    if family == "few_epochs":
        config.update(units=pick(8, 16, 32), lr=pick(3e-4, 1e-3, 3e-3), epochs=pick(2, 3, 4, 5, 6))
    elif family == "short":
        config.update(units=pick(8, 16, 32), lr=pick(3e-4, 1e-3), epochs=pick(8, 10, 12, 15))
    elif family == "low_capacity":
        config.update(units=pick(1, 1, 2, 3), lr=pick(1e-3, 3e-3), epochs=pick(20, 40, 60))
    elif family == "slow_learning_rate":
        config.update(units=pick(8, 16, 32), lr=pick(1e-5, 3e-5, 1e-4), epochs=pick(15, 30, 50),
                      optimizer=pick("adam", "adam", "sgd"))
        if config["optimizer"] == "sgd":
            config["lr"] *= 10
    elif family == "tuned":
        config.update(units=pick(16, 32), lr=pick(1e-3, 3e-3), epochs=pick(30, 50, 80))
    elif family == "dropout":
        config.update(units=pick(16, 32, 64), dropout=pick(0.0, 0.2, 0.4), recurrent_dropout=pick(0.0, 0.2, 0.4),
                      lr=pick(1e-3, 3e-3), epochs=pick(30, 60, 100), train_fraction=pick(0.5, 1.0))
        if config["dropout"] == config["recurrent_dropout"] == 0.0:
            config["dropout"] = 0.3
    elif family == "early_stopping":
        config.update(units=pick(16, 32, 64), lr=pick(1e-3, 3e-3, 1e-2), epochs=pick(80, 150),
                      early_stopping=pick(3, 5, 10), train_fraction=pick(0.4, 1.0))
    elif family == "lr_schedule":
        config.update(units=pick(16, 32), lr=pick(3e-3, 1e-2), epochs=pick(40, 80),
                      schedule=pick("plateau", "exponential", "cosine"))
    elif family == "batch_extremes":
        if rng.random() < 0.5:
            config.update(batch_size=pick(4, 8), lr=pick(1e-3, 3e-3), epochs=pick(10, 20, 30), units=pick(16, 32))
        else:
            config.update(batch_size=pick(256, 512), lr=pick(1e-3, 3e-3, 1e-2), epochs=pick(40, 100, 150), units=pick(16, 32))
    elif family == "stacked_bidirectional":
        config.update(units=pick(16, 32), layers=pick(1, 2, 3), bidirectional=pick(True, False, True),
                      lr=pick(1e-3, 3e-3), epochs=pick(20, 40, 80))
    elif family == "raw_unscaled":
        config.update(raw_units=True, units=pick(8, 16, 32), lr=pick(1e-3, 1e-2), epochs=pick(20, 40),
                      optimizer=pick("adam", "adam", "sgd"))
        if config["optimizer"] == "sgd":
            config["lr"] = pick(1e-3, 1e-2)
    elif family == "long":
        config.update(units=pick(16, 32, 64), lr=pick(1e-3, 3e-3), epochs=pick(200, 250, 300),
                      batch_size=pick(64, 128), train_fraction=pick(0.5, 1.0))
    elif family == "repeats":
        config.update(units=32, lr=3e-3, epochs=60, train_fraction=0.5)
    elif family == "too_big_too_long":
        config.update(units=pick(32, 64), layers=pick(1, 2), lr=pick(3e-3, 1e-2), epochs=pick(60, 100, 150),
                      train_fraction=pick(0.2, 0.3, 0.5), batch_size=pick(16, 32))
    elif family == "large_learning_rate":
        optimizer = pick("adam", "rmsprop", "sgd", "sgd")
        lr = {"adam": pick(0.03, 0.1, 0.3), "rmsprop": pick(0.03, 0.1), "sgd": pick(0.5, 1.0, 3.0)}[optimizer]
        config.update(optimizer=optimizer, lr=lr, batch_size=pick(16, 32, 64), epochs=pick(15, 25, 40),
                      units=pick(8, 16, 32))
    else:
        raise ValueError(family)
    return config


def _metrics_for(task: Task, seed: int):
    """The accuracy metric under the spellings Keras users meet, so the corpus has them all."""
    if task.kind == "regression":
        return ["mae"]
    if task.kind == "binary_classification":
        return ["accuracy"] if seed % 2 else ["binary_accuracy"]
    return ["accuracy"] if seed % 2 else ["sparse_categorical_accuracy"]


def _round(value: float) -> float | None:
    return float(f"{value:.6g}") if math.isfinite(value) else None


def _raw_classification_scale(task: Task) -> float:
    # Unscaled sensor-like inputs: the same data in units a thousand times larger.
    return 1000.0


def train_run(task: Task, config: dict, seed: int) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    n_train = max(32, int(len(task.x_train) * config["train_fraction"]))
    # The most recent part of the training block: a short history, as a user with little data has.
    start = len(task.x_train) - n_train if task.source == "real" or task.kind == "regression" else 0
    x_train, y_train = task.x_train[start : start + n_train], task.y_train[start : start + n_train]
    x_val, y_val, x_test, y_test = task.x_val, task.y_val, task.x_test, task.y_test
    if config.get("raw_units"):
        if task.kind == "regression":
            x_train, x_val, x_test = (a * task.raw_std + task.raw_mean for a in (x_train, x_val, x_test))
            y_train, y_val, y_test = (a * task.raw_std + task.raw_mean for a in (y_train, y_val, y_test))
        else:
            k = _raw_classification_scale(task)
            x_train, x_val, x_test = (a * k + k for a in (x_train, x_val, x_test))
    del rng

    if task.kind == "binary_classification":
        head, loss = keras.layers.Dense(1, activation="sigmoid"), "binary_crossentropy"
    elif task.kind == "multiclass_classification":
        head, loss = keras.layers.Dense(task.classes, activation="softmax"), "sparse_categorical_crossentropy"
    else:
        head, loss = keras.layers.Dense(1), "mse"
    layers = [keras.Input(x_train.shape[1:])]
    for i in range(config["layers"]):
        lstm = keras.layers.LSTM(config["units"], dropout=config["dropout"],
                                 recurrent_dropout=config["recurrent_dropout"],
                                 return_sequences=i < config["layers"] - 1)
        layers.append(keras.layers.Bidirectional(lstm) if config["bidirectional"] else lstm)
    model = keras.Sequential([*layers, head])
    lr: float | keras.optimizers.schedules.LearningRateSchedule = config["lr"]
    steps = math.ceil(len(x_train) / config["batch_size"])
    if config.get("schedule") == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(config["lr"], decay_steps=steps * 10, decay_rate=0.5)
    elif config.get("schedule") == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config["lr"], decay_steps=steps * config["epochs"])
    optimizer = {"adam": lambda: keras.optimizers.Adam(lr),
                 "rmsprop": lambda: keras.optimizers.RMSprop(lr),
                 "sgd": lambda: keras.optimizers.SGD(lr, momentum=0.9)}[config["optimizer"]]()
    # Several steps per call: tiny models spend most of their time in Python otherwise.
    model.compile(optimizer=optimizer, loss=loss, metrics=_metrics_for(task, seed), steps_per_execution=8)
    loss_fn = keras.losses.get(loss)
    test_loss: list[float | None] = []
    test_accuracy: list[float | None] = []

    class TestBlock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            predictions = np.asarray(self.model.predict_on_batch(x_test))
            target = y_test.reshape(-1, 1) if predictions.shape[-1] == 1 else y_test
            test_loss.append(_round(float(np.mean(keras.ops.convert_to_numpy(loss_fn(target, predictions))))))
            if task.kind == "binary_classification":
                test_accuracy.append(_round(float(np.mean((predictions.ravel() > 0.5) == (y_test > 0.5)))))
            elif task.kind == "multiclass_classification":
                test_accuracy.append(_round(float(np.mean(predictions.argmax(axis=-1) == y_test))))

    callbacks: list = [keras.callbacks.TerminateOnNaN(), TestBlock()]
    if config.get("early_stopping"):
        callbacks.append(keras.callbacks.EarlyStopping(patience=config["early_stopping"], restore_best_weights=True))
    if config.get("schedule") == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(factor=0.3, patience=5))

    started = time.perf_counter()
    fit = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=config["epochs"],
                    batch_size=config["batch_size"], shuffle=True, verbose=0, callbacks=callbacks)
    record = {
        "backend": keras.backend.backend(), "keras": keras.__version__,
        "history": {k: [_round(float(v)) for v in values] for k, values in fit.history.items()},
        "test_loss": test_loss,
        "baseline_loss": _round(baseline_loss(task.kind, y_train, y_val)),
        "test_baseline_loss": _round(baseline_loss(task.kind, y_train, y_test)),
        "n_train": int(n_train),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if test_accuracy:
        record["test_accuracy"] = test_accuracy
    return record


def planned_runs(task_name: str) -> list[tuple[str, dict, int]]:
    """(run id, config, seed) for every run of a task; ids and configs depend on seeds only."""
    task_seed = zlib.crc32(task_name.encode())
    task = _task(task_name)
    plan = []
    for i, oracle in enumerate(ORACLE_GRID):
        config = {"family": "oracle", **_ORACLE_BASE, **oracle}
        plan.append((f"{task_name}/oracle{i}", config, task_seed % 10_000 + i))
    families = [family for family, count in FAMILY_RUNS.items() for _ in range(count)]
    repeat_config = None
    for i, family in enumerate(families):
        seed = (task_seed + 7919 * (i + 1)) % 100_000
        if family == "repeats":
            # One configuration, seeds seed, seed+1, ...: what `training.repeats` trains.
            if repeat_config is None:
                repeat_config, repeat_seed, k = sample_config(task, family, np.random.default_rng(seed)), seed, 0
            plan.append((f"{task_name}/{i:02d}", repeat_config, repeat_seed + k))
            k += 1
            continue
        plan.append((f"{task_name}/{i:02d}", sample_config(task, family, np.random.default_rng(seed)), seed))
    return plan


_TASK_CACHE: dict[str, Task] = {}


def _task(name: str) -> Task:
    if name not in _TASK_CACHE:
        _TASK_CACHE[name] = TASKS[name]()
    return _TASK_CACHE[name]


def _done(paths: list[Path]) -> set[str]:
    done: set[str] = set()
    for path in paths:
        if path.exists():
            done |= {json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()}
    return done


def merge(out: Path = RUNS_FILE) -> None:
    """Concatenate the shard files into ``runs.jsonl`` (sorted by id, one line per run)."""
    records = {}
    for path in sorted(HERE.glob("runs.shard*.jsonl")) + ([out] if out.exists() else []):
        for line in path.read_text().splitlines():
            if line.strip():
                records[json.loads(line)["id"]] = line
    out.write_text("".join(records[k] + "\n" for k in sorted(records)))
    print(f"{len(records)} runs → {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--shard", default="0/1", help="i/n: train every n-th planned run starting at i")
    parser.add_argument("--merge", action="store_true", help="merge shard files into runs.jsonl and stop")
    args = parser.parse_args()
    if args.merge:
        merge()
        return

    import jax

    jax.config.update("jax_compilation_cache_dir", str(Path(os.environ.get("JAX_CACHE", "/tmp/lstm-doctor-jax-cache"))))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    index, count = (int(p) for p in args.shard.split("/"))
    out = HERE / f"runs.shard{index}.jsonl" if count > 1 else RUNS_FILE
    done = _done([out, RUNS_FILE])
    plan = [(name, *run) for name in args.tasks.split(",") for run in planned_runs(name)]
    # Interleave tasks so that every task has runs early (scoring can start on partial data).
    plan.sort(key=lambda p: (int(p[1].rsplit("/", 1)[1].removeprefix("oracle")) if "oracle" in p[1] else 100 + int(p[1].rsplit("/", 1)[1]), p[0]))
    for n, (task_name, run_id, config, seed) in enumerate(plan):
        if n % count != index or run_id in done:
            continue
        task = _task(task_name)
        record = {"id": run_id, "task": task_name, "kind": task.kind, "source": task.source, "seed": seed,
                  "config": config, **train_run(task, config, seed)}
        with out.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(run_id, config["family"], len(record["test_loss"]), "epochs", record["seconds"], "s", flush=True)


if __name__ == "__main__":
    main()
