"""Small jobs per minute through the real API with one worker, then with two (same Redis, same
queue): a batch of classic jobs submitted at once, timed from the first submit to the last
success. Each worker trains one job at a time (one training process), as deployed."""
from __future__ import annotations

import time

import httpx

from benchmarks import bench_datasets
from benchmarks.bench_common import Figure
from benchmarks.bench_stack import Stack, submit, upload, wait_for

JOBS = 16
EPOCHS = 10


def jobs_per_minute(client: httpx.Client, dataset: str, jobs: int) -> float:
    start = time.perf_counter()
    ids = [submit(client, bench_datasets.classic_job(dataset, epochs=EPOCHS, seed=i)) for i in range(jobs)]
    for job_id in ids:
        wait_for(client, job_id)
    return 60 * jobs / (time.perf_counter() - start)


def main() -> list[Figure]:
    with Stack(workers=1) as stack, httpx.Client(base_url=stack.url, timeout=60) as client:
        dataset = upload(client, bench_datasets.classic_csv(), "classic.csv")
        jobs_per_minute(client, dataset, 2)  # warm-up
        one = jobs_per_minute(client, dataset, JOBS)
        print(f"  one worker: {one:.1f} small jobs/min ({JOBS} jobs, classic, {EPOCHS} epochs)", flush=True)
        stack.add_worker()
        stack.wait_ready(2)
        jobs_per_minute(client, dataset, 4)  # both training processes warm
        two = jobs_per_minute(client, dataset, JOBS)
        print(f"  two workers: {two:.1f} small jobs/min", flush=True)
    return [Figure("small jobs/min, one worker", one, "/min"), Figure("small jobs/min, two workers", two, "/min"),
            Figure("two workers / one worker (jobs/min)", two / one, "×")]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
