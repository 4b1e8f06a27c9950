"""The API process never loads TensorFlow or Keras: its image ships without them (the `worker`
extra), so an import that crept in would break it in production, not here, where the tests
install everything. Checked in a fresh interpreter (this test process has Keras loaded by other
tests) after a request cycle that touches every kind of route."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.settings import Settings
from tests.helpers import classic_csv

ROOT = Path(__file__).parent.parent

REQUEST_CYCLE = r"""
import json, sys
from fastapi.testclient import TestClient
from core.settings import Settings
from service.app import create_app

settings = Settings(redis_url=sys.argv[1], data_dir=sys.argv[2], api_keys="notf:KEY_NOTF", log_level="WARNING",
                    _env_file=None)
statuses = {}
with TestClient(create_app(settings), headers={"Authorization": "Bearer KEY_NOTF"}) as http:
    def call(name, method, url, **kwargs):
        response = http.request(method, url, **kwargs)
        statuses[name] = response.status_code
        return response

    dataset = call("upload", "POST", "/v1/datasets", files={"file": ("notf.csv", sys.stdin.buffer.read())}).json()
    job = call("submit", "POST", "/v1/jobs", json={"dataset_id": dataset["id"], "data": {"target": "label"},
                                                   "training": {"epochs": 1}}).json()
    call("job", "GET", f"/v1/jobs/{job['id']}")
    call("history", "GET", f"/v1/jobs/{job['id']}/history")
    call("job_diagnosis", "GET", f"/v1/jobs/{job['id']}/diagnosis")
    call("job_plot", "GET", f"/v1/jobs/{job['id']}/plots/loss.png")
    diagnosis = call("diagnose", "POST", "/v1/diagnoses", json={"history": {
        "loss": [0.9, 0.7, 0.6, 0.55, 0.5, 0.48], "val_loss": [0.95, 0.8, 0.7, 0.72, 0.8, 0.9]}}).json()
    call("diagnosis_plot", "GET", f"/v1/diagnoses/{diagnosis['id']}/plots/report.svg")
    call("delete_job", "DELETE", f"/v1/jobs/{job['id']}")
    call("metrics", "GET", "/metrics")
    call("openapi", "GET", "/openapi.json")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({"statuses": statuses, "loaded": loaded}))
"""


def test_a_request_cycle_loads_no_tensorflow(settings: Settings):
    done = subprocess.run(
        [sys.executable, "-c", REQUEST_CYCLE, str(settings.redis_url), str(settings.data_dir)],
        input=classic_csv(rows=80, seed=31), capture_output=True, cwd=ROOT, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert result["statuses"] == {
        "upload": 201, "submit": 202, "job": 200, "history": 200, "job_diagnosis": 409, "job_plot": 200,
        "diagnose": 201, "diagnosis_plot": 200, "delete_job": 204, "metrics": 200, "openapi": 200,
    }
    assert result["loaded"] == []
