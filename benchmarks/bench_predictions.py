"""Predictions from a trained model: `POST /v1/jobs/{id}/predictions` with `Prefer: wait` on a
warm worker (model loaded once, kept), against what a calling service would otherwise do with the
downloaded zip — a fresh Python that imports TensorFlow, loads `model.keras` with plain
`keras.saving.load_model`, scales and windows the rows from `preprocessing.json`, and predicts.
The two alternate, so load drift falls on both. Same 200 rows, same model, both answers checked
to agree."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np

from benchmarks import bench_datasets
from benchmarks.bench_common import Figure, median
from benchmarks.bench_stack import Stack, submit, upload, wait_for

ROWS = 200

# What a user writes with the zip in hand (the README's recipe).
PLAIN_SCRIPT = """
import json, sys
import numpy as np
import keras

folder, rows_file = sys.argv[1], sys.argv[2]
model = keras.saving.load_model(folder + "/model.keras")
pre = json.load(open(folder + "/preprocessing.json"))
rows = np.array(json.load(open(rows_file)), dtype="float64")
mean, std = np.array(pre["scaler"]["mean"]), np.array(pre["scaler"]["std"])
scaled = (rows - mean) / np.where(std > 0, std, 1.0)
w = pre["input"]["window"]
X = np.stack([scaled[i:i + w] for i in range(len(scaled) - w + 1)]).astype("float32")
print(json.dumps(model.predict(X, verbose=0)[:, 0].tolist()))
"""


def plain_script(folder: Path, rows_file: Path, env: dict[str, str]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_SCRIPT, str(folder), str(rows_file)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return time.perf_counter() - start, json.loads(out.strip().splitlines()[-1])


def service(client: httpx.Client, job_id: str, rows: list[dict]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    response = client.post(f"/v1/jobs/{job_id}/predictions", json={"rows": rows}, headers={"Prefer": "wait=60"})
    took = time.perf_counter() - start
    response.raise_for_status()
    body = response.json()
    if body["status"] != "succeeded":
        raise RuntimeError(f"prediction not answered inline: {body}")
    return took, [item["probabilities"]["1"] for item in body["predictions"]]


def main(repeats: int = 5) -> list[Figure]:
    with (
        Stack(workers=1) as stack,
        httpx.Client(base_url=stack.url, timeout=90) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        dataset = upload(client, bench_datasets.classic_csv(seed=7), "classic.csv")
        job = wait_for(
            client,
            submit(
                client, {**bench_datasets.classic_job(dataset, epochs=10), "data": {"target": "label", "window": 4}}
            ),
        )
        folder = Path(tmp) / "model"
        zipfile.ZipFile(_download(client, job["id"], Path(tmp))).extractall(folder)
        x = np.random.default_rng(1).random(ROWS)
        rows = [{"x": float(v)} for v in x]
        rows_file = Path(tmp) / "rows.json"
        rows_file.write_text(json.dumps([[float(v)] for v in x]))
        service(client, job["id"], rows)  # the worker's first use loads the model, as a warm service has done
        script_s, service_s = [], []
        for rep in range(repeats):
            order = [
                ("script", lambda: plain_script(folder, rows_file, stack.env())),
                ("service", lambda: service(client, job["id"], rows)),
            ]
            answers = {}
            for name, run in order if rep % 2 == 0 else reversed(order):
                took, answers[name] = run()
                (script_s if name == "script" else service_s).append(took)
            agree = np.max(np.abs(np.array(answers["script"]) - np.array(answers["service"])))
            print(
                f"    rep {rep}: plain script {script_s[-1]:.2f} s, service {service_s[-1] * 1000:.0f} ms "
                f"({len(answers['service'])} predictions, largest difference {agree:.1e})",
                flush=True,
            )
            if agree > 1e-5:
                raise RuntimeError(f"the service and the plain script disagree by {agree}")
    print(f"  predictions: median plain script {median(script_s):.2f} s, service {median(service_s) * 1000:.0f} ms")
    return [
        Figure(
            "predictions: service (Prefer: wait) / plain script (time)", median(service_s) / median(script_s), "×", 0.1
        ),
        Figure("predictions: service latency, 200 rows, warm model", median(service_s) * 1000, " ms", 500),
    ]


def _download(client: httpx.Client, job_id: str, folder: Path) -> Path:
    path = folder / "model.zip"
    response = client.get(f"/v1/jobs/{job_id}/model")
    response.raise_for_status()
    path.write_bytes(response.content)
    return path


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
