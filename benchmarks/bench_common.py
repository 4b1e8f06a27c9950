"""What every benchmark reports: figures against their targets, and the machine they came from."""
from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass

# Training benchmarks run on the CPU like the plain script they are compared with; quiet TF logs.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class Figure:
    """One measured number; ``target`` is the bound it should stay at or below, if it has one."""

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        met = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return "met" if met else "MISSED"

    def line(self) -> str:
        bound = "" if self.target is None else f"   target {'≥' if self.higher_is_better else '≤'} {self.target:g}{self.unit}"
        return f"  {self.name:<58} {self.value:10.3f}{self.unit}{bound}   {self.verdict}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), python {platform.python_version()}, load average {load}"
