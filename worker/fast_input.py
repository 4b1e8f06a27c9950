"""Training input for the TensorFlow backend without Keras' per-epoch overhead on NumPy arrays.

`model.fit(X, y)` wraps the arrays in a fresh index-shuffling, gathering `tf.data` pipeline and
runs one compiled call per batch. On the small models users diagnose that overhead, not the
maths, is most of the time (see benchmarks/BENCHMARKS.md). Here the arrays become native `tf.data`
pipelines instead (validation batches built once and cached, training samples reshuffled every
epoch) and several batches run per compiled call (`steps_per_execution`).

What users rely on is unchanged: the same model, loss and metrics, batches of `batch_size`, a
uniform reshuffle of every training sample each epoch when `shuffle` is on and the file's order
otherwise, and the same seed giving the same history.
"""

from __future__ import annotations

import math

import keras
import numpy as np

# Keras calls batch callbacks once per execution, so the cancel poller (StopWhen) sees a batch
# boundary only every this many steps: a cancelled job stops within 25 batches (about 0.6 s
# with the larger benchmark model on 2 CPU cores), while small models still run a whole epoch
# per call.
MAX_STEPS_PER_EXECUTION = 25

# A full-size shuffle buffer and a batch cache each keep a second copy of the data. Past this size
# we do without: indices are shuffled and batches gathered (Keras' own way, somewhat slower per
# batch) and fixed batches are cut anew each epoch.
SECOND_COPY_MAX_BYTES = 256 * 2**20


def available() -> bool:
    """tf.data exists only under the TensorFlow backend; other backends train on the arrays."""
    return keras.backend.backend() == "tensorflow"


def steps_per_execution(samples: int, batch_size: int) -> int:
    return max(1, min(MAX_STEPS_PER_EXECUTION, math.ceil(samples / batch_size)))


def training_batches(X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int):
    """Batches for one epoch per iteration; reshuffled on every iteration when ``shuffle``."""
    import tensorflow as tf

    if not shuffle:
        return fixed_batches(X, y, batch_size)
    if _fits_twice(X, y):
        # A buffer as large as the data set draws a uniform permutation of all samples, new on
        # every iteration (epoch), as fit(shuffle=True) does.
        samples = tf.data.Dataset.from_tensor_slices((X, y))
        batches = samples.shuffle(len(X), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    else:
        X_all, y_all = tf.convert_to_tensor(X), tf.convert_to_tensor(y)
        order = tf.data.Dataset.range(len(X)).shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
        batches = order.batch(batch_size).map(lambda i: (tf.gather(X_all, i), tf.gather(y_all, i)))
    return _prefetched(batches)


def window_batches(rows: np.ndarray, window: int, first: int, y: np.ndarray, batch_size: int, shuffle: bool, seed: int):
    """Batches of the samples ``first, first + 1, …`` (one per label in ``y``) cut from ``rows``:
    sample i is rows [i, i + window). Only the rows are held (O(rows × features)); each batch's
    windows are gathered when it is drawn, so overlapping windows are never materialised."""
    import tensorflow as tf

    rows_t, y_t = tf.convert_to_tensor(rows), tf.convert_to_tensor(y)
    offsets = tf.range(window, dtype=tf.int64)
    order = tf.data.Dataset.range(len(y))
    if shuffle:
        order = order.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)

    def gather(i):
        return tf.gather(rows_t, i[:, None] + first + offsets[None, :]), tf.gather(y_t, i)

    return _prefetched(order.batch(batch_size).map(gather))


def fixed_batches(X: np.ndarray, y: np.ndarray, batch_size: int):
    """The same batches, in the arrays' order, every epoch (validation, or ``shuffle`` off)."""
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensor_slices((X, y)).batch(batch_size)
    if _fits_twice(X, y):
        # Cut them once, replay them from memory.
        batches = batches.cache()
    return _prefetched(batches)


def _prefetched(batches):
    import tensorflow as tf

    options = tf.data.Options()
    # As Keras does for arrays: the default graph rewrites gain nothing on pipelines this simple
    # and would serialize the in-memory arrays with the pipeline's graph.
    options.experimental_optimization.apply_default_optimizations = False
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def _fits_twice(X: np.ndarray, y: np.ndarray) -> bool:
    return X.nbytes + y.nbytes <= SECOND_COPY_MAX_BYTES
