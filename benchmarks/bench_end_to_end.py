"""End to end: one classic job through the real HTTP API (upload → submit → verdict → both
plots) on a warm worker, against the wall time of the plain script a user would otherwise run (a
fresh Python that imports TensorFlow, reads the same CSV, fits and saves the two plots with
matplotlib). The two alternate, so load drift falls on both."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks import bench_datasets
from benchmarks.bench_common import Figure, median
from benchmarks.bench_stack import Stack, submit, upload, wait_for

# The classic recipe as users write it. verbose=0 spares it the progress bar, which only helps it.
PLAIN_SCRIPT = """
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tensorflow import keras

data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
X, Y = data[:, 0].reshape(-1, 1, 1), data[:, 1]
model = keras.Sequential([keras.Input((1, 1)), keras.layers.LSTM(5), keras.layers.Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(X, Y, epochs=50, validation_split=0.2, verbose=0)
for metric in ("loss", "accuracy"):
    plt.figure()
    plt.plot(history.history[metric])
    plt.plot(history.history["val_" + metric])
    plt.title("model train vs validation " + metric)
    plt.ylabel(metric)
    plt.xlabel("epoch")
    plt.legend(["train", "validation"], loc="upper right")
    plt.savefig(sys.argv[2] + "/" + metric + ".png")
"""


def plain_script(csv: Path, out: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PLAIN_SCRIPT, str(csv), str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def service_job(client: httpx.Client, csv: bytes) -> tuple[float, dict]:
    start = time.perf_counter()
    dataset = upload(client, csv, "classic.csv")
    job = wait_for(client, submit(client, bench_datasets.classic_job(dataset)))
    client.get(f"/v1/jobs/{job['id']}/diagnosis").raise_for_status()
    for metric in ("loss", "accuracy"):
        client.get(f"/v1/jobs/{job['id']}/plots/{metric}.png").raise_for_status()
    return time.perf_counter() - start, job


def server_side(job: dict) -> tuple[float, float]:
    """(queued, running) seconds as the job record tells them."""
    created, started, finished = (datetime.fromisoformat(job[k].replace("Z", "+00:00"))
                                  for k in ("created_at", "started_at", "finished_at"))
    return (started - created).total_seconds(), (finished - started).total_seconds()


def main(repeats: int = 3) -> list[Figure]:
    with Stack(workers=1) as stack, httpx.Client(base_url=stack.url, timeout=60) as client, \
            tempfile.TemporaryDirectory() as tmp:
        service_job(client, bench_datasets.classic_csv(seed=999))  # the warm-up a warm worker has had
        script_s, service_s = [], []
        for rep in range(repeats):
            csv = bench_datasets.classic_csv(seed=rep)  # new bytes each time: a real upload, no dedup
            path = Path(tmp) / f"classic{rep}.csv"
            path.write_bytes(csv)
            runs = [("script", lambda path=path: plain_script(path, Path(tmp), stack.env())),
                    ("service", lambda csv=csv: service_job(client, csv))]
            for name, run in runs if rep % 2 == 0 else reversed(runs):
                if name == "script":
                    script_s.append(run())
                else:
                    took, job = run()
                    service_s.append(took)
                    queued, running = server_side(job)
            print(f"    rep {rep}: plain script {script_s[-1]:.2f} s, service {service_s[-1]:.2f} s "
                  f"(queued {queued:.2f} s, running {running:.2f} s, verdict {job['verdict']})", flush=True)
    print(f"  end to end: median plain script {median(script_s):.2f} s, service {median(service_s):.2f} s")
    return [Figure("end to end: service job / plain script (time)", median(service_s) / median(script_s), "×", 0.5)]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
