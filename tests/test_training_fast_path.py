"""The fast training input path (worker.fast_input via worker.training.fit_run) against plain
`model.fit` on the same arrays: same metrics, same epochs, same shuffling rules, reproducible,
and still stoppable between batches. Tiny data, in-process Keras, a few seconds in all."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from core.data import PreparedData
from core.job_config import JobConfig
from worker import devices, fast_input
from worker.callbacks import StopWhen
from worker.model import build_model
from worker.training import fit_run

pytestmark = pytest.mark.skipif(not fast_input.available(), reason="the fast path is TensorFlow's")


@pytest.fixture(scope="module", autouse=True)
def _like_a_worker():
    devices.prepare()  # op determinism, as in every training process


def classic(samples: int = 160, seed: int = 0) -> PreparedData:
    x = np.random.default_rng(seed).random(samples).astype("float32")
    X, y = ((x - 0.5) / 0.29).reshape(-1, 1, 1), (x > 0.5).astype("float32")
    train = int(samples * 0.8)
    return PreparedData(X[:train], y[:train], X[train:], y[train:], {"timesteps": 1, "n_features": 1})


def job(**training) -> JobConfig:
    return JobConfig.model_validate({"dataset_id": "ds_test", "training": {"epochs": 3, "batch_size": 16, **training}})


def plain_fit(config: JobConfig, data: PreparedData, seed: int) -> dict[str, list[float]]:
    keras.utils.set_random_seed(seed)
    model = build_model(config, 1, 1, 1)
    return model.fit(data.X_train, data.y_train, validation_data=(data.X_val, data.y_val), verbose=0,
                     epochs=config.training.epochs, batch_size=config.training.batch_size,
                     shuffle=config.training.shuffle).history


def test_same_metric_keys_and_epochs_as_plain_fit():
    config, data = job(), classic()
    fast = fit_run(config, data, seed=0, callbacks=[])
    plain = plain_fit(config, data, seed=0)
    assert set(fast) == set(plain) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in fast.values())


def test_without_shuffling_the_maths_is_plain_fit_exactly():
    # Same batches in the same order and the same initial weights: only how many batches run per
    # compiled call differs, which must not change a number beyond float rounding.
    config, data = job(shuffle=False), classic()
    fast = fit_run(config, data, seed=3, callbacks=[])
    plain = plain_fit(config, data, seed=3)
    for name in plain:
        np.testing.assert_allclose(fast[name], plain[name], rtol=1e-5, err_msg=name)


def test_same_seed_same_history_other_seed_other_history():
    config, data = job(), classic()
    first = fit_run(config, data, seed=7, callbacks=[])
    again = fit_run(config, data, seed=7, callbacks=[])
    other = fit_run(config, data, seed=8, callbacks=[])
    assert first == again
    assert first != other


def order_of_samples(batches) -> list[list[int]]:
    """The sample ids (stored as X) that two successive epochs see."""
    return [[int(v) for X, _ in batches for v in X.numpy().ravel()] for _epoch in range(2)]


def test_shuffle_off_keeps_the_order_every_epoch():
    ids = np.arange(50, dtype="float32")
    first, second = order_of_samples(fast_input.training_batches(ids, ids, 8, shuffle=False, seed=0))
    assert first == second == list(range(50))


@pytest.mark.parametrize("second_copy_max_bytes", [fast_input.SECOND_COPY_MAX_BYTES, 0])
def test_shuffle_on_draws_a_new_permutation_every_epoch(monkeypatch, second_copy_max_bytes):
    # Both ways of shuffling: through a sample buffer (small data) and by gathering (large data).
    monkeypatch.setattr(fast_input, "SECOND_COPY_MAX_BYTES", second_copy_max_bytes)
    ids = np.arange(50, dtype="float32")
    first, second = order_of_samples(fast_input.training_batches(ids, ids, 8, shuffle=True, seed=0))
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and first != list(range(50))
    again = order_of_samples(fast_input.training_batches(ids, ids, 8, shuffle=True, seed=0))
    assert again == [first, second]


def test_cancel_from_the_batch_callback_stops_within_the_epoch():
    # 480 samples in batches of 4: 120 batches an epoch, several executions of 25.
    data, seen = classic(samples=600), []
    stopper = StopWhen(lambda: True)
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    history = fit_run(job(epochs=5, batch_size=4), data, seed=0, callbacks=[counter, stopper])
    assert stopper.stopped
    assert len(history["loss"]) == 1
    assert seen == [fast_input.MAX_STEPS_PER_EXECUTION - 1]  # one execution, not the epoch's 120 batches


def test_early_stopping_still_stops():
    # Nothing improves by 10: patience 1 ends the run after its second epoch.
    config = job(epochs=5, early_stopping={"patience": 1, "min_delta": 10.0, "restore_best_weights": False})
    history = fit_run(config, classic(), seed=0, callbacks=[])
    assert len(history["loss"]) == 2
