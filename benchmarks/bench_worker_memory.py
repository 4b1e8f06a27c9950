"""Worker memory over many jobs: the resident set of the worker's training process (the Celery
pool child where Keras lives) after its first job and after its 50th, jobs run one after another
through the real API."""
from __future__ import annotations

import httpx

from benchmarks import bench_datasets
from benchmarks.bench_common import Figure
from benchmarks.bench_stack import Stack, submit, upload, wait_for

JOBS = 50
EPOCHS = 5


def main() -> list[Figure]:
    with Stack(workers=1) as stack, httpx.Client(base_url=stack.url, timeout=60) as client:
        dataset = upload(client, bench_datasets.classic_csv(), "classic.csv")
        rss: dict[int, float] = {}
        for job in range(1, JOBS + 1):
            # A new seed per job: a fresh model and fresh pipelines every time, as with real users.
            wait_for(client, submit(client, bench_datasets.classic_job(dataset, epochs=EPOCHS, seed=job)))
            if job == 1:
                (trainer,) = stack.training_processes(stack.workers[0])
            if job in (1, 10, 20, 30, 40, JOBS):
                rss[job] = trainer.memory_info().rss / 2**20
                print(f"    after job {job}: training process RSS {rss[job]:.0f} MiB", flush=True)
        if stack.training_processes(stack.workers[0]) != [trainer]:
            raise RuntimeError("the training process was replaced during the run; RSS figures are not comparable")
    growth = 100 * (rss[JOBS] - rss[1]) / rss[1]
    return [Figure("worker RSS after 1 job", rss[1], " MiB"), Figure(f"worker RSS after {JOBS} jobs", rss[JOBS], " MiB"),
            Figure(f"worker RSS growth over {JOBS} jobs", growth, " %", 10)]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
