"""Which device this worker trains on, asked of whichever Keras backend is loaded."""

from __future__ import annotations

import platform
from pathlib import Path

import keras


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if backend == "jax":
        import jax

        return [str(d.device_kind) for d in jax.devices() if d.platform == "gpu"]
    return []


def prepare() -> None:
    """Once per training process: GPU memory grows on demand (TensorFlow otherwise grabs it all),
    and ops are deterministic so the same seed gives the same history."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.experimental.enable_op_determinism()


def describe(worker: str) -> dict[str, str]:
    gpus = gpu_names()
    if gpus:
        return {"type": "gpu", "name": gpus[0], "worker": worker}
    return {"type": "cpu", "name": _cpu_name(), "worker": worker}
