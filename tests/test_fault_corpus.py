"""The fault corpus through the real service: upload → submit → the real Celery worker trains with
Keras → diagnosis. Each broken configuration must raise its finding; each healthy one none.
Tiny data, 4–6 epochs per job (benchmarks/bench_fault_corpus.py holds the cases)."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from benchmarks.bench_fault_corpus import FAULTS, HEALTHY, Case, issues
from diagnosis.findings.data import RULES as DATA_RULES
from tests.helpers import upload, wait_for

SEED = 0


def train(client, case: Case, **training) -> tuple[dict, dict]:
    created = upload(client, case.data(SEED), f"{case.name}.csv")
    assert created.status_code in (200, 201), created.text
    body = {"dataset_id": created.json()["id"], **case.job}
    body["training"] = {**body.get("training", {}), "seed": SEED, **training}
    submitted = client.post("/v1/jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    # The data rules are decided at submit on the upload's sketch (these tables are small).
    at_submit = submitted.json()["findings"]
    assert {f["rule"] for f in at_submit if f["status"] != "not_evaluated"} >= {
        "constant_target", "too_few_windows", "target_leakage"}
    assert issues(at_submit) >= case.expect & set(DATA_RULES)  # a data fault is known before training
    done = wait_for(client, submitted.json()["id"], timeout_s=240)
    assert done["status"] == "succeeded", done
    diagnosis = client.get(done["links"]["diagnosis"]).json()
    return done, diagnosis


@pytest.mark.parametrize("case", FAULTS, ids=[c.name for c in FAULTS])
def test_each_fault_raises_its_finding(client, worker, case):
    job, diagnosis = train(client, case)
    found = issues(diagnosis["findings"])
    assert case.expect <= found, diagnosis["findings"]
    for finding in diagnosis["findings"]:
        if finding["rule"] in case.expect:
            assert finding["message"] and finding["parameters"] and finding["evidence"], finding
    # Data findings are known at submit and shown on the job too.
    data_rules = {f["rule"] for f in job["findings"]}
    assert {"constant_target", "class_imbalance", "target_leakage"} <= data_rules


@pytest.mark.parametrize("case", HEALTHY, ids=[c.name for c in HEALTHY])
def test_healthy_runs_raise_nothing(client, worker, case):
    job, diagnosis = train(client, case)
    assert issues(diagnosis["findings"]) == set(), diagnosis["findings"]
    statuses = {f["rule"]: f["status"] for f in diagnosis["findings"]}
    # Trained here, so the health rules were all evaluated.
    assert statuses["saturated_gates"] == statuses["exploding_gradients"] == statuses["update_ratio"] == "ok"
    history = client.get(job["links"]["history"]).json()["runs"][0]
    health = history["health"]
    assert health["epoch"] == list(range(history["epochs_completed"] + 1))
    assert len(health["grad_norm"]) == len(health["epoch"])


def test_stop_on_ends_an_exploding_run_and_says_so(client, worker):
    case = next(c for c in FAULTS if c.name == "lr_10_sgd")
    job, diagnosis = train(client, case, stop_on=["nan", "exploding_gradients"], epochs=8)
    [stop] = job["stopped"]
    assert stop["run"] == 1 and stop["stop_on"] in ("nan", "exploding_gradients")
    history = client.get(job["links"]["history"]).json()["runs"][0]
    assert history["epochs_completed"] == stop["epoch"] < 8
    fired = {f["rule"]: f for f in diagnosis["findings"]}[stop["rule"]]
    assert fired["status"] == "issue_found"

    gradients = client.get(job["links"]["plots"]["gradients"])
    assert gradients.status_code == 200 and gradients.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(gradients.content))
    assert image.size == (1400, 500)
    assert client.get(job["links"]["plots"]["gradients"],
                      headers={"If-None-Match": gradients.headers["etag"]}).status_code == 304
    report = client.get(f"/v1/jobs/{job['id']}/plots/report.svg")
    assert report.status_code == 200 and b"Findings" in report.content and stop["rule"].encode() in report.content
