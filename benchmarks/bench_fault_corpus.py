"""The fault corpus: deliberately broken configurations, each of which must raise its finding, and
healthy ones, which must raise none. Tiny data and few epochs, so the whole corpus trains through
the real worker inside the test suite (tests/test_fault_corpus.py); ``python -m
benchmarks.bench_fault_corpus`` trains every case over several seeds in-process and prints the
detection and false-positive rates written down in docs/findings.md.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def _csv(columns: dict[str, np.ndarray]) -> bytes:
    names = list(columns)
    rows = zip(*columns.values())
    return (",".join(names) + "\n" + "".join(",".join(f"{v:.6g}" for v in row) + "\n" for row in rows)).encode()


def classic(seed: int, rows: int = 240, scale: float = 1.0) -> bytes:
    """x uniform in [0, 1), label = x > 0.5 (the classic example)."""
    x = np.random.default_rng(seed).random(rows)
    return _csv({"x": x * scale, "label": (x > 0.5).astype(int)})


def leaked(seed: int, rows: int = 240) -> bytes:
    """The classic example plus a column that is the label again, relabelled."""
    x = np.random.default_rng(seed).random(rows)
    label = (x > 0.5).astype(int)
    return _csv({"x": x, "outcome_code": label * 2 + 1, "label": label})


def imbalanced(seed: int, rows: int = 420) -> bytes:
    """20:1: the positive class only where x is in its top 1/21."""
    x = np.random.default_rng(seed).random(rows)
    return _csv({"x": x, "label": (x > 20 / 21).astype(int)})


def noisy_sine(seed: int, rows: int = 260, constant: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    signal = np.sin(t / 4 + seed) + 0.2 * rng.standard_normal(rows)
    target = np.full(rows, 2.5) if constant else signal
    return _csv({"signal": signal, "target": target})


def three_classes(seed: int, rows: int = 300) -> bytes:
    x = np.random.default_rng(seed).random(rows)
    return _csv({"x": x, "y": (x * 3).astype(int)})


@dataclass
class Case:
    name: str
    data: Callable[[int], bytes]
    job: dict
    expect: set[str] = field(default_factory=set)  # rules that must find an issue; empty = healthy
    note: str = ""


SERIES = {"target": "target", "features": ["signal"], "window": 8, "horizon": 1}

FAULTS = [
    Case("lr_10_sgd", noisy_sine, {"task": "regression", "data": SERIES,
                                  "training": {"optimizer": "sgd", "learning_rate": 10.0, "epochs": 4}},
         {"exploding_gradients"}, "learning rate 10 with plain SGD: the gradient norm explodes, then NaN"),
    Case("lr_10_adam", classic, {"data": {"target": "label"}, "training": {"learning_rate": 10.0, "epochs": 4}},
         {"update_ratio"}, "learning rate 10 with Adam: each step moves the weights by a large share of their size"),
    Case("unscaled_x1e4", lambda seed: classic(seed, scale=1e4),
         {"data": {"target": "label", "scale": "none"}, "training": {"epochs": 4}},
         {"saturated_gates", "feature_scales"}, "inputs ×10⁴ and scale: none"),
    Case("constant_target", lambda seed: noisy_sine(seed, constant=True),
         {"task": "regression", "data": SERIES, "training": {"epochs": 4}}, {"constant_target"}),
    Case("leaked_feature", leaked, {"data": {"target": "label"}, "training": {"epochs": 4}}, {"target_leakage"}),
    Case("imbalance_20_1", imbalanced, {"data": {"target": "label"}, "training": {"epochs": 4}}, {"class_imbalance"}),
    Case("lr_1e-7", classic, {"data": {"target": "label"}, "training": {"learning_rate": 1e-7, "epochs": 6}},
         {"loss_not_decreasing"}, "learning rate 1e-7: nothing moves"),
]

HEALTHY = [
    Case("classic", classic, {"data": {"target": "label"}, "training": {"epochs": 6}}),
    Case("sine_regression", noisy_sine, {"task": "regression", "data": SERIES, "training": {"epochs": 6}}),
    Case("three_classes", three_classes,
         {"task": "multiclass_classification", "data": {"target": "y"}, "training": {"epochs": 6}}),
    Case("stacked_bidirectional", noisy_sine,
         {"task": "regression", "data": SERIES,
          "model": {"layers": [{"units": 8, "bidirectional": True}, {"units": 4}], "dense": [4]},
          "training": {"epochs": 6, "learning_rate": 0.003}}),
]


def issues(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings if f["status"] == "issue_found"}


def run_in_process(case: Case, seed: int) -> tuple[set[str], str]:
    """Train ``case`` with this seed as the worker would (data checks, health monitor) and return
    the rules that found an issue, and the verdict."""
    import tempfile
    from pathlib import Path

    import keras

    from core.data import inspect_dataset, prepare_arrays
    from core.job_config import JobConfig
    from diagnosis.baseline import baseline_loss
    from diagnosis.engine import diagnose
    from service.data_findings import submit_findings
    from worker.data_checks import check_data
    from worker.health import HealthMonitor
    from worker.training import fit_run

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        path.write_bytes(case.data(seed))
        job = {**case.job, "training": {**case.job.get("training", {}), "seed": seed}}
        config = JobConfig.model_validate({"dataset_id": "ds_corpus", **job})
        # As a job goes: checked at submit on the upload's sketch, the rest by the worker on the file.
        profile = inspect_dataset(path, path.name, max_bytes=1 << 30, profile=True)["profile"]
        data_findings = check_data(path, "csv", config, submit_findings(profile, config, "csv"))
        prepared = prepare_arrays(path, "csv", config.data, config.task)
    monitor = HealthMonitor(config.task, prepared.X_train, prepared.y_train)
    history = fit_run(config, prepared, seed, [], health=monitor)
    keras.backend.clear_session(free_memory=True)
    diagnosis = diagnose([history], task=config.task,
                         baseline_loss=baseline_loss(config.task, prepared.y_train, prepared.y_val),
                         data_findings=data_findings, health=[monitor.records])
    return issues(diagnosis["findings"]), diagnosis["verdict"]


def main(seeds: int = 5) -> None:
    from worker import devices

    devices.prepare()
    detected = missed = false_positive = healthy_runs = 0
    for case in FAULTS + HEALTHY:
        for seed in range(seeds):
            found, verdict = run_in_process(case, seed)
            if case.expect:
                ok = case.expect <= found
                detected += ok
                missed += not ok
                extra = found - case.expect
                print(f"fault   {case.name:<22} seed {seed}: {'found' if ok else 'MISSED'} {sorted(case.expect)}"
                      f"{' (also ' + ', '.join(sorted(extra)) + ')' if extra else ''}; verdict {verdict}", flush=True)
            else:
                healthy_runs += 1
                false_positive += bool(found)
                print(f"healthy {case.name:<22} seed {seed}: {'FALSE POSITIVE ' + str(sorted(found)) if found else 'clean'}"
                      f"; verdict {verdict}", flush=True)
    print(f"\nfaults detected: {detected}/{detected + missed}; healthy runs with any issue: "
          f"{false_positive}/{healthy_runs} ({false_positive / max(healthy_runs, 1):.0%})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
