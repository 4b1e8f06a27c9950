"""Data checks at submit: `POST /v1/jobs` with the checks (``service.data_findings`` on the sketch
stored at upload) against the same submit without them, interleaved, in one process (the app on a
real embedded Redis through Starlette's in-process transport, no worker: jobs stay queued), and
the size of the stored profile with its sketch.

Datasets: the classic example (1000 rows × 2 columns), a table at the sketch's bound (8,192 rows ×
4 columns = 32,768 cells, window 24) and one past it (40,000 rows × 4: no values kept, the checks
wait for the worker). Targets: with the checks / without ≤ 1.5× for the classic example, ≤ 2.5×
at the sketch's bound (the most work the checks can do at submit).

    python -m benchmarks.bench_submit [submits per variant]
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_common import Figure, median, percentile
from core import keys
from core.data.sketch import SKETCH_CELLS
from core.embedded_redis import EmbeddedRedis
from core.settings import Settings
from diagnosis.findings import data as rules
from service.auth import OPEN_TENANT

TARGETS = {"classic (1000 × 2)": 1.5}  # others: 2.5× (at the bound the checks do the most work they can)


def table(rows: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    signal = np.sin(np.arange(rows) / 9) + 0.3 * rng.standard_normal(rows)
    columns = {
        "load": signal,
        "temp": rng.standard_normal(rows),
        "hour": np.arange(rows) % 24,
        "label": (signal > 0).astype(int),
    }
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    np.savetxt(out, np.column_stack(list(columns.values())), delimiter=",", fmt="%.6g")
    return out.getvalue().encode()


def classic() -> bytes:
    x = np.random.default_rng(0).random(1000)
    return ("x,label\n" + "".join(f"{v:.5f},{int(v > 0.5)}\n" for v in x)).encode()


CASES = {
    # name: (bytes, job body without dataset_id)
    "classic (1000 × 2)": (classic, {"data": {"target": "label"}}),
    "at the bound (8,192 × 4)": (
        lambda: table(8_192),
        {"task": "regression", "data": {"target": "load", "window": 24, "horizon": 1}},
    ),
    "past the bound (40,000 × 4)": (
        lambda: table(40_000),
        {"task": "regression", "data": {"target": "load", "window": 24, "horizon": 1}},
    ),
}


def main(submits: int = 200) -> list[Figure]:
    from fastapi.testclient import TestClient

    import service.routes.jobs as jobs_route
    from service.app import create_app

    with_checks = jobs_route.submit_findings

    def without_checks(profile, config, fmt, spec=None):  # the alternative: leave every data rule to the worker
        return rules.all_deferred("Checked by the worker before the first epoch.")

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(Path(tmp) / "redis")
        redis_server.start()
        try:
            settings = Settings(
                redis_url=redis_server.url,
                data_dir=Path(tmp),
                log_level="WARNING",
                max_queued_jobs=100_000,
                max_jobs=100_000,
                _env_file=None,
            )
            with TestClient(create_app(settings)) as http:
                for name, (make, job) in CASES.items():
                    content = make()
                    dataset = http.post("/v1/datasets", files={"file": ("data.csv", content)}).json()
                    raw = http.app.state.container.redis.get(keys.dataset_profile(OPEN_TENANT, dataset["id"]))
                    profile_kb = len(raw) / 1024 if raw else 0.0
                    sketch_kb = len(json.dumps(json.loads(raw)["sketch"])) / 1024 if raw else 0.0
                    body = {"dataset_id": dataset["id"], **job, "training": {"epochs": 5}}
                    took: dict[str, list[float]] = {"with": [], "without": []}
                    for i in range(submits // 10 + submits):  # the first tenth warms up
                        for variant in ("with", "without") if i % 2 == 0 else ("without", "with"):
                            jobs_route.submit_findings = with_checks if variant == "with" else without_checks
                            start = time.perf_counter()
                            answer = http.post("/v1/jobs", json=body)
                            seconds = time.perf_counter() - start
                            assert answer.status_code == 202, answer.text
                            if i >= submits // 10:
                                took[variant].append(seconds)
                    jobs_route.submit_findings = with_checks
                    found = http.get(answer.headers["location"]).json()["findings"]
                    decided = sum(f["evidence"] != rules.DEFERRED for f in found)
                    with_ms, without_ms = median(took["with"]) * 1000, median(took["without"]) * 1000
                    print(
                        f"  {name}: {len(content) / 2**20:.2f} MiB, profile {profile_kb:,.0f} KiB (sketch "
                          f"{sketch_kb:,.0f} KiB); submit median "
                        f"{with_ms:.1f} ms with the checks ({decided}/{len(found)} rules decided), {without_ms:.1f} "
                        f"ms without; p95 {percentile(took['with'], 95) * 1000:.1f} / "
                        f"{percentile(took['without'], 95) * 1000:.1f} ms",
                        flush=True,
                    )
                    figures.append(Figure(f"submit {name}: with / without checks", with_ms / without_ms, "×",
                                          TARGETS.get(name, 2.5)))
                    figures.append(Figure(f"profile {name}", profile_kb, " KiB"))
        finally:
            redis_server.stop()
    print(f"  sketch bound: {SKETCH_CELLS:,} cells")
    return figures


if __name__ == "__main__":
    for figure in main(*(int(a) for a in sys.argv[1:2])):
        print(figure.line())
