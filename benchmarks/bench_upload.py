"""Peak memory and time to accept a 50 MiB CSV upload (`inspect_dataset`), against loading the
whole file with pandas or pyarrow, the usual way to validate a CSV.

Every measurement runs in a fresh subprocess so that peaks do not leak between them:
- time: wall clock of the call alone (imports excluded), in a child without tracemalloc;
- peak RSS: the child's `ru_maxrss` minus its RSS just before the call, which counts pyarrow's
  native allocations that tracemalloc cannot see (imports and a warm-up call on a small file
  come before, as in a long-lived server);
- tracemalloc: peak of Python-tracked allocations (numpy included), in a second child;
- arrow pool: the peak of pyarrow's memory pool, reported by pyarrow itself.
The job-time `resolve_spec` and the worker's `prepare_arrays` on the same file are measured
the same way, for the record. Run from the repository root:

    .venv/bin/python -m benchmarks.bench_upload [--mib 50]

Results and the machine they came from are written down in ``benchmarks/UPLOAD.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

MIB = 1024 * 1024
CASES = ("inspect_dataset", "resolve_spec", "prepare_arrays", "pandas.read_csv", "pyarrow.csv.read_csv")


def make_csv(path: Path, size: int) -> None:
    """A time-ordered table like a user's: a step column, five float features, a 0/1 label."""
    rng = np.random.default_rng(0)
    n = 20_000  # rows per chunk (~1 MiB): the file ends within a chunk of `size`
    with pa.OSFile(str(path), "wb") as f:
        step = 0
        while f.tell() < size:
            table = pa.table({"t": np.arange(step, step + n), **{f"x{i}": rng.normal(size=n).round(6) for i in range(5)},
                              "label": (rng.random(n) < 0.5).astype(np.int8)})
            pa_csv.write_csv(table, f, pa_csv.WriteOptions(include_header=step == 0, quoting_style="none"))
            step += n


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _action(case: str, path: Path):
    from core.data import inspect_dataset, prepare_arrays, resolve_spec
    from core.job_config import DataConfig

    data = DataConfig(target="label", window=10)
    return {
        "inspect_dataset": lambda: inspect_dataset(path, path.name, max_bytes=100 * MIB),
        "resolve_spec": lambda: resolve_spec(path, "csv", data, "binary_classification"),
        "prepare_arrays": lambda: prepare_arrays(path, "csv", data, "binary_classification"),
        "pandas.read_csv": lambda: __import__("pandas").read_csv(path),
        "pyarrow.csv.read_csv": lambda: pa_csv.read_csv(path),
    }[case]


def child(case: str, path: Path, trace: bool) -> dict:
    # A server process is long-lived: imports and the first call's one-time setup (pyarrow
    # kernels, thread pools) are paid once, not per upload, so a small file warms them up.
    warm = path.with_name("warm.csv")
    _action(case, warm)()
    action = _action(case, path)
    if trace:
        tracemalloc.start()
        action()
        return {"tracemalloc_peak": tracemalloc.get_traced_memory()[1]}
    before = _rss_bytes()
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del result
    return {"seconds": seconds, "rss_before": before, "rss_peak": peak,
            "arrow_pool_peak": pa.default_memory_pool().max_memory()}


def _run_child(case: str, path: Path, trace: bool) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_upload", "--child", case, str(path)]
                         + (["--trace"] if trace else []), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=50, help="size of the generated CSV in MiB")
    parser.add_argument("--repeats", type=int, default=3, help="timed children per case (median reported)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.trace)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        make_csv(path, args.mib * MIB)
        make_csv(path.with_name("warm.csv"), MIB // 4)
        size = path.stat().st_size
        with path.open() as f:
            rows = sum(1 for _ in f) - 1
        print(f"python {platform.python_version()}, pyarrow {pa.__version__}, numpy {np.__version__}, "
              f"{os.cpu_count()} CPUs ({platform.machine()}), repeats={args.repeats}")
        print(f"file: {size} bytes ({size / MIB:.1f} MiB), {rows} rows x 7 columns\n")
        print("| case | time median (s) | time min (s) | peak RSS − before (MiB) | × file | peak RSS total (MiB) "
              "| tracemalloc peak (MiB) | arrow pool peak (MiB) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for case in CASES:
            timed = sorted((_run_child(case, path, trace=False) for _ in range(args.repeats)),
                           key=lambda r: r["seconds"])
            median = timed[len(timed) // 2]
            rss = max(r["rss_peak"] - r["rss_before"] for r in timed)
            traced = _run_child(case, path, trace=True)["tracemalloc_peak"]
            total = max(r["rss_peak"] for r in timed)
            print(f"| {case} | {median['seconds']:.2f} | {timed[0]['seconds']:.2f} | {rss / MIB:.1f} | "
                  f"{rss / size:.2f} | {total / MIB:.0f} | {traced / MIB:.1f} | "
                  f"{median['arrow_pool_peak'] / MIB:.1f} |", flush=True)


if __name__ == "__main__":
    main()
