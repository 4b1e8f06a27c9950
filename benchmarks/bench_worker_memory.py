"""Worker memory over many jobs: the resident set of the worker's training process (the Celery
pool child where Keras lives) after the first job and after the 50th, jobs run one after another
through the real API.

The worker replaces its training process once it has grown past LSTM_DOCTOR_WORKER_MAX_MEMORY_MB
(TensorFlow leaks ~10 MiB per fitted model); the figure is the RSS of whichever process is
training at that point, and the run reports how many replacements there were."""
from __future__ import annotations

import time

import httpx

from benchmarks import bench_datasets
from benchmarks.bench_common import Figure
from benchmarks.bench_stack import Stack, submit, upload, wait_for

JOBS = 50
EPOCHS = 5


def current_trainer(stack: Stack):
    """The one training process; right after a replacement there may briefly be none or two."""
    deadline = time.monotonic() + 120
    while len(children := stack.training_processes(stack.workers[0])) != 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker has {len(children)} training processes")
        time.sleep(0.2)
    return children[0]


def main() -> list[Figure]:
    with Stack(workers=1) as stack, httpx.Client(base_url=stack.url, timeout=60) as client:
        dataset = upload(client, bench_datasets.classic_csv(), "classic.csv")
        rss: dict[int, float] = {}
        trainers: set[int] = set()
        for job in range(1, JOBS + 1):
            # A new seed per job: a fresh model and fresh pipelines every time, as with real users.
            wait_for(client, submit(client, bench_datasets.classic_job(dataset, epochs=EPOCHS, seed=job)))
            trainer = current_trainer(stack)
            trainers.add(trainer.pid)
            if job in (1, 10, 20, 30, 40, JOBS):
                rss[job] = trainer.memory_info().rss / 2**20
                print(f"    after job {job}: training process {trainer.pid} RSS {rss[job]:.0f} MiB", flush=True)
    growth = 100 * (rss[JOBS] - rss[1]) / rss[1]
    return [Figure("worker RSS after 1 job", rss[1], " MiB"), Figure(f"worker RSS after {JOBS} jobs", rss[JOBS], " MiB"),
            Figure(f"worker RSS growth over {JOBS} jobs", growth, " %", 10),
            Figure(f"training processes replaced over {JOBS} jobs", len(trainers) - 1, "")]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
