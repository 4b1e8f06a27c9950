"""Train the corpus: small Keras LSTMs, each also scored on a held-out test block every epoch.

    CUDA_VISIBLE_DEVICES= nice -n 10 .venv/bin/python -m benchmarks.diagnosis_corpus.generate [--tasks a,b]

Appends one JSON line per run to ``runs.jsonl`` as soon as the run ends, and skips runs already
there, so an interrupted generation resumes where it stopped. ``labels.py`` turns the runs
into the labelled corpus. Each run's configuration is drawn from its own seed, from families
that make each kind of fit likely (too few epochs, too little capacity, too small a learning
rate, a tuned model, too big a model trained too long on too little data, too large a
learning rate) — the family is a recipe, never the label.
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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.diagnosis_corpus.tasks import TASKS, Task
from diagnosis.baseline import baseline_loss

HERE = Path(__file__).parent
RUNS_FILE = HERE / "runs.jsonl"

# Strong default configurations run on every task. The truth's yardstick for "could have done
# better" is the best test loss any run of the task reaches at its best validation epoch (the
# model a user would keep); these runs make sure a well-tuned model is among them.
ORACLE_CONFIGS = (
    {"units": 16, "layers": 1, "dropout": 0.0, "optimizer": "adam", "lr": 3e-3, "epochs": 60, "train_fraction": 1.0},
    {"units": 32, "layers": 1, "dropout": 0.2, "optimizer": "adam", "lr": 1e-3, "epochs": 60, "train_fraction": 1.0},
)
# Runs per family and task. Big models trained long do not always overfit measurably, so
# that family gets the most runs.
FAMILY_RUNS = {
    "few_epochs": 4,
    "low_capacity": 3,
    "slow_learning_rate": 2,
    "tuned": 5,
    "too_big_too_long": 6,
    "large_learning_rate": 12,
}
# Later tranches, run ids 32 onwards, added because the first held only 21 unstable and 25
# overfit runs: large learning rates under more optimizers and batch sizes, and over-capacity
# models. Families come in pairs so each lands once on an even (tune) and once on an odd
# (holdout) id. Appending leaves earlier ids, seeds and configs as they were.
SECOND_TRANCHE = ("unstable_mix", "unstable_mix", "over_capacity", "over_capacity") * 2 + ("unstable_mix",) * 4  # ids 32–43
THIRD_TRANCHE = ("unstable_mix", "unstable_mix", "over_capacity", "over_capacity") * 3 + ("unstable_mix",) * 12  # ids 44–67


def sample_config(task: Task, family: str, rng: np.random.Generator) -> dict:
    pick = lambda *options: options[rng.integers(len(options))]  # noqa: E731
    config = {"family": family, "units": 16, "layers": 1, "dropout": 0.0, "optimizer": "adam",
              "lr": 1e-3, "epochs": 40, "train_fraction": 1.0, "raw_units": False}
    if family == "few_epochs":
        config.update(units=pick(8, 16, 32), lr=pick(3e-4, 1e-3), epochs=pick(3, 4, 5, 6, 8, 10, 12))
    elif family == "low_capacity":
        config.update(units=pick(1, 1, 2), lr=pick(1e-3, 3e-3), epochs=pick(20, 30, 40))
    elif family == "slow_learning_rate":
        config.update(units=pick(8, 16), lr=pick(3e-5, 1e-4), epochs=pick(15, 25, 40))
    elif family == "tuned":
        config.update(units=pick(8, 16), lr=pick(1e-3, 3e-3), dropout=pick(0.0, 0.2), epochs=pick(25, 40, 60))
    elif family == "too_big_too_long":
        config.update(units=32, layers=pick(1, 2), lr=pick(3e-3, 1e-2), epochs=pick(50, 80, 120),
                      train_fraction=pick(0.25, 0.4))
    elif family == "unstable_mix":
        optimizer = pick("adam", "rmsprop", "sgd", "sgd")
        lr = {"adam": pick(0.02, 0.05, 0.1, 0.2), "rmsprop": pick(0.01, 0.03, 0.1),
              "sgd": pick(0.3, 0.5, 1.0, 2.0)}[optimizer]
        config.update(optimizer=optimizer, lr=lr, batch_size=pick(16, 32, 64), epochs=pick(15, 20, 30),
                      units=pick(8, 16, 32))
    elif family == "over_capacity":
        config.update(units=pick(32, 48), layers=pick(1, 2), lr=pick(3e-3, 5e-3, 1e-2), epochs=pick(60, 90),
                      train_fraction=pick(0.2, 0.3), batch_size=pick(16, 32))
    else:
        if task.kind == "regression" and rng.random() < 0.4:
            config.update(optimizer="sgd", lr=pick(0.1, 0.5), raw_units=True, epochs=pick(15, 25))
        elif rng.random() < 0.5:
            config.update(optimizer="sgd", lr=pick(0.5, 1.0, 3.0), epochs=pick(15, 25))
        else:
            config.update(lr=pick(0.05, 0.1, 0.3), epochs=pick(15, 25))
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


def train_run(task: Task, config: dict, seed: int) -> dict:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    n_train = max(32, int(len(task.x_train) * config["train_fraction"]))
    subset = np.sort(rng.permutation(len(task.x_train))[:n_train])
    x_train, y_train = task.x_train[subset], task.y_train[subset]
    x_val, y_val, x_test, y_test = task.x_val, task.y_val, task.x_test, task.y_test
    if config.get("raw_units"):
        x_train, x_val, x_test = (a * task.raw_std + task.raw_mean for a in (x_train, x_val, x_test))
        y_train, y_val, y_test = (a * task.raw_std + task.raw_mean for a in (y_train, y_val, y_test))

    if task.kind == "binary_classification":
        head, loss = keras.layers.Dense(1, activation="sigmoid"), "binary_crossentropy"
    elif task.kind == "multiclass_classification":
        head, loss = keras.layers.Dense(int(task.y_train.max()) + 1, activation="softmax"), "sparse_categorical_crossentropy"
    else:
        head, loss = keras.layers.Dense(1), "mse"
    layers = [keras.Input(x_train.shape[1:])]
    for i in range(config["layers"]):
        layers.append(keras.layers.LSTM(config["units"], dropout=config["dropout"],
                                        return_sequences=i < config["layers"] - 1))
    model = keras.Sequential([*layers, head])
    optimizer = {"adam": lambda: keras.optimizers.Adam(config["lr"]),
                 "rmsprop": lambda: keras.optimizers.RMSprop(config["lr"]),
                 "sgd": lambda: keras.optimizers.SGD(config["lr"], momentum=0.9)}[config["optimizer"]]()
    model.compile(optimizer=optimizer, loss=loss, metrics=_metrics_for(task, seed))
    loss_fn = keras.losses.get(loss)
    test_loss: list[float | None] = []

    class TestLoss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            predictions = self.model.predict_on_batch(x_test)
            target = y_test.reshape(-1, 1) if predictions.shape[-1] == 1 else y_test
            test_loss.append(_round(float(tf.reduce_mean(loss_fn(target, predictions)))))

    started = time.perf_counter()
    fit = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=config["epochs"],
                    batch_size=config.get("batch_size", 32), shuffle=True, verbose=0,
                    callbacks=[keras.callbacks.TerminateOnNaN(), TestLoss()])
    return {
        "history": {k: [_round(float(v)) for v in values] for k, values in fit.history.items()},
        "test_loss": test_loss,
        "baseline_loss": _round(baseline_loss(task.kind, y_train, y_val)),
        "test_baseline_loss": _round(baseline_loss(task.kind, y_train, y_test)),
        "n_train": int(n_train),
        "seconds": round(time.perf_counter() - started, 2),
    }


def planned_runs(task_name: str) -> list[tuple[str, dict, int]]:
    """(run id, config, seed) for every run of a task; ids and configs depend on seeds only."""
    task_seed = zlib.crc32(task_name.encode())
    plan = []
    for i, oracle in enumerate(ORACLE_CONFIGS):
        plan.append((f"{task_name}/oracle{i}", {"family": "oracle", "raw_units": False, **oracle}, task_seed % 10_000 + i))
    families = [family for family, count in FAMILY_RUNS.items() for _ in range(count)] + list(SECOND_TRANCHE) + list(THIRD_TRANCHE)
    for i, family in enumerate(families):
        seed = (task_seed + 7919 * (i + 1)) % 100_000
        # A task's data seed is fixed; a run's config is drawn from the run seed only.
        config = sample_config(_task_stub(task_name), family, np.random.default_rng(seed))
        plan.append((f"{task_name}/{i:02d}", config, seed))
    return plan


_TASK_CACHE: dict[str, Task] = {}


def _task_stub(name: str) -> Task:
    if name not in _TASK_CACHE:
        _TASK_CACHE[name] = TASKS[name]()
    return _TASK_CACHE[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--out", type=Path, default=RUNS_FILE)
    args = parser.parse_args()

    import tensorflow as tf

    # Tiny models gain nothing from threads, and the machine is shared.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    done = set()
    if args.out.exists():
        done = {json.loads(line)["id"] for line in args.out.read_text().splitlines() if line.strip()}
    for task_name in args.tasks.split(","):
        task = _task_stub(task_name)
        for run_id, config, seed in planned_runs(task_name):
            if run_id in done:
                continue
            record = {"id": run_id, "task": task_name, "kind": task.kind, "seed": seed, "config": config,
                      **train_run(task, config, seed)}
            with args.out.open("a") as out:
                out.write(json.dumps(record) + "\n")
            print(run_id, config["family"], len(record["test_loss"]), "epochs", record["seconds"], "s", flush=True)


if __name__ == "__main__":
    main()
