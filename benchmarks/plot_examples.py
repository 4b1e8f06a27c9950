"""Realistic Keras-style histories and diagnoses for the plot benchmark and the README images.

Curves are exponential decays plus noise shaped like real binary-classification runs; no Keras
needed. ``python -m benchmarks.plot_examples [DIR]`` writes the example images (default
``docs/img``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from diagnosis.plots import render_metric, render_report


def overfit_history(epochs: int = 50, seed: int = 0, best: int = 14) -> dict[str, list[float]]:
    """Training loss keeps falling; validation loss bottoms out at ``best`` and climbs."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1, dtype=float)
    loss = 0.62 * np.exp(-t / 11) + 0.07 + rng.normal(0, 0.008, epochs)
    # Past ``best`` the validation curves drift away and level off, as memorisation saturates.
    drift = 1 - np.exp(-np.maximum(t - best, 0) / 25)
    val_loss = 0.40 + 0.25 * np.exp(-t / 5) + 0.30 * drift + rng.normal(0, 0.012, epochs)
    accuracy = 0.99 - 0.45 * np.exp(-t / 9) + rng.normal(0, 0.005, epochs)
    val_accuracy = 0.80 - 0.27 * np.exp(-t / 5) - 0.10 * drift + rng.normal(0, 0.01, epochs)
    return _history(loss=loss, val_loss=val_loss, accuracy=accuracy, val_accuracy=val_accuracy)


def good_fit_history(epochs: int = 50, seed: int = 0) -> dict[str, list[float]]:
    """Both curves fall and flatten together, validation just above training."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1, dtype=float)
    loss = 0.45 * np.exp(-t / 8) + 0.24 + rng.normal(0, 0.006, epochs)
    val_loss = 0.43 * np.exp(-t / 8) + 0.27 + rng.normal(0, 0.009, epochs)
    acc = 0.91 - 0.36 * np.exp(-t / 7) + rng.normal(0, 0.005, epochs)
    val_acc = 0.89 - 0.34 * np.exp(-t / 7) + rng.normal(0, 0.008, epochs)
    # Older Keras spells accuracy "acc": the plots must find it under either name.
    return _history(loss=loss, val_loss=val_loss, acc=acc, val_acc=val_acc)


def underfit_history(epochs: int = 50, seed: int = 0) -> dict[str, list[float]]:
    """Training loss stays near the 0.69 majority-class baseline."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1, dtype=float)
    loss = 0.693 - 0.03 * (1 - np.exp(-t / 20)) + rng.normal(0, 0.003, epochs)
    val_loss = 0.695 - 0.025 * (1 - np.exp(-t / 20)) + rng.normal(0, 0.004, epochs)
    accuracy = 0.52 + 0.04 * (1 - np.exp(-t / 20)) + rng.normal(0, 0.006, epochs)
    val_accuracy = 0.51 + 0.035 * (1 - np.exp(-t / 20)) + rng.normal(0, 0.008, epochs)
    return _history(loss=loss, val_loss=val_loss, accuracy=accuracy, val_accuracy=val_accuracy)


def _history(**curves: np.ndarray) -> dict[str, list[float]]:
    return {name: [round(float(v), 5) for v in values] for name, values in curves.items()}


OVERFIT_DIAGNOSIS = {
    "verdict": "overfit",
    "final": True,
    "confidence": 0.87,
    "reasons": ["val_loss_rising", "generalization_gap"],
    "flags": [],
    "summary": "Validation loss bottomed out at epoch 14 and rose 38 % since, "
    "while training loss kept falling.",
    "recommendations": [
        "Stop at epoch 14 (early stopping, patience ≈ 5, restore_best_weights)",
        "Add dropout 0.2–0.5 or recurrent_dropout 0.2",
        "Use fewer units or fewer layers",
        "Get more training data, or augment it",
    ],
    "evidence": {
        "epochs": 50, "best_epoch": 14, "final_loss": 0.082, "final_val_loss": 0.611,
        "min_val_loss": 0.443, "val_loss_rise": 0.38, "generalization_gap": 0.529,
        "baseline_loss": 0.693, "loss_vs_baseline": 0.118, "train_slope": -0.0021,
        "val_slope": 0.0058, "final_accuracy": 0.986, "final_val_accuracy": 0.708,
    },
}

GOOD_FIT_DIAGNOSIS = {
    "verdict": "good_fit",
    "final": True,
    "confidence": 0.81,
    "reasons": [],
    "flags": [],
    "summary": "Both losses fell well below the baseline and flattened together.",
    "recommendations": ["Keep this configuration; more epochs will not help much"],
    "evidence": {"epochs": 50, "best_epoch": 50, "baseline_loss": 0.693, "loss_vs_baseline": 0.36},
}

UNDERFIT_DIAGNOSIS = {
    "verdict": "underfit",
    "final": False,
    "confidence": 0.74,
    "reasons": ["high_training_loss"],
    "flags": [],
    "summary": "Training loss is still 96 % of the majority-class baseline.",
    "recommendations": ["Add units or layers", "Raise the learning rate", "Train longer"],
    "evidence": {"epochs": 50, "best_epoch": 49, "baseline_loss": 0.693, "loss_vs_baseline": 0.96},
}


def write_examples(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    overfit = [overfit_history()]
    repeats = [overfit_history(seed=seed, best=best) for seed, best in ((1, 12), (2, 14), (3, 16))]
    repeat_diagnosis = {**OVERFIT_DIAGNOSIS, "runs": [{"verdict": "overfit"}] * 3}
    images = {
        "loss.png": render_metric(overfit, "loss", OVERFIT_DIAGNOSIS),
        "accuracy.png": render_metric(overfit, "accuracy", OVERFIT_DIAGNOSIS),
        "good_fit.png": render_metric([good_fit_history()], "loss", GOOD_FIT_DIAGNOSIS),
        "underfit.png": render_metric([underfit_history()], "loss", UNDERFIT_DIAGNOSIS),
        "runs.png": render_metric(repeats, "loss", repeat_diagnosis),
        "report.png": render_report(repeats, repeat_diagnosis),
    }
    paths = []
    for name, data in images.items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_examples(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")):
        print(written)
