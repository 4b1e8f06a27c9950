"""The rooms of docs/design.md and the doors between them: which package may import which.

Read from the source (every import statement, nested ones included), so a forbidden import is
caught even on a code path no other test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
# package -> top-level modules it must never import
FORBIDDEN = {
    "core": {"service", "worker", "diagnosis", "fastapi", "starlette", "keras", "tensorflow"},
    "diagnosis": {"core", "service", "worker", "fastapi", "redis", "celery", "keras", "tensorflow"},
    "service": {"worker", "keras", "tensorflow"},
    "worker": {"service", "fastapi", "starlette"},
    # The client speaks only HTTP: it ships to users who have none of the service's code.
    "lstm_doctor_client": {
        "core",
        "service",
        "worker",
        "diagnosis",
        "fastapi",
        "redis",
        "celery",
        "keras",
        "tensorflow",
    },
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_each_package_imports_only_through_its_doors():
    crossings = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for package, forbidden in FORBIDDEN.items()
        for path in (ROOT / package).rglob("*.py")
        for name in imported(path) & forbidden
    )
    assert crossings == []


def test_the_reader_sees_nested_imports(tmp_path: Path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import tensorflow as tf\n    from keras import layers\n    from . import x\n")
    assert imported(probe) == {"tensorflow", "keras"}


def test_benchmark_files_are_named_one_way():
    # Benchmarks and their helpers are bench_*.py; run.py runs them, plot_examples.py draws docs/img.
    others = {"__init__.py", "run.py", "plot_examples.py"}
    odd = sorted(
        p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("bench_") and p.name not in others
    )
    assert odd == []
