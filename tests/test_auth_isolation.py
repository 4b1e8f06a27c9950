"""API keys and tenant isolation (docs/api.md, Auth): another tenant's id answers exactly like an id
that never existed, lists never mix, a missing or unknown key is 401; open mode only on loopback."""
from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from service.auth import KeyConfigError, Keyring, check_bind
from tests.helpers import TENANT_KEYS, ServerThread, classic_csv, upload, wait_for

KEY_A, KEY_B = TENANT_KEYS["acme"], TENANT_KEYS["beta"]
# Shaped like real ids (time prefix + random tail), so "never existed" is a fair comparison.
NEVER_DATASET = "ds_000000000000aaaaaaaaaaaa"
NEVER_JOB = "job_000000000000aaaaaaaaaaaa"


def _client(server: ServerThread, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def acme(keyed_api):
    with _client(keyed_api, KEY_A) as http:
        yield http


@pytest.fixture(scope="module")
def beta(keyed_api):
    with _client(keyed_api, KEY_B) as http:
        yield http


@pytest.fixture(scope="module")
def acme_job(acme, worker) -> dict:
    """A small finished job of tenant acme (history, diagnosis and plots all exist)."""
    dataset = upload(acme, classic_csv(rows=120, seed=7), "acme.csv")
    assert dataset.status_code == 201, dataset.text
    submitted = acme.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], "data": {"target": "label"},
                                            "training": {"epochs": 4}})
    assert submitted.status_code == 202, submitted.text
    done = wait_for(acme, submitted.json()["id"], timeout_s=180)
    assert done["status"] == "succeeded", done
    return done


def _as_never_existing(response: httpx.Response, real_id: str, never_id: str) -> tuple:
    body = response.text.replace(real_id, never_id)
    return response.status_code, response.headers.get("content-type"), body


def _sub_resources(job_id: str) -> list[tuple[str, str]]:
    base = f"/v1/jobs/{job_id}"
    return [("GET", base), ("GET", f"{base}/history"), ("GET", f"{base}/events"), ("GET", f"{base}/diagnosis"),
            ("GET", f"{base}/plots/loss.png"), ("GET", f"{base}/plots/accuracy.svg"),
            ("GET", f"{base}/model"), ("POST", f"{base}/predictions"),
            ("GET", f"{base}/predictions/pred_000000000000bbbbbbbbbbbb"), ("GET", f"{base}/deliveries"),
            ("POST", f"{base}/cancel"), ("DELETE", base)]


def test_other_tenants_job_and_every_sub_resource_is_404_like_a_missing_id(acme, beta, acme_job):
    job_id = acme_job["id"]
    for (method, url), (_, never_url) in zip(_sub_resources(job_id), _sub_resources(NEVER_JOB)):
        theirs = beta.request(method, url)
        never = beta.request(method, never_url)
        assert theirs.status_code == 404, (method, url, theirs.text)
        assert theirs.headers["content-type"] == "application/problem+json"
        assert _as_never_existing(theirs, job_id, NEVER_JOB) == _as_never_existing(never, NEVER_JOB, NEVER_JOB)
    # None of beta's attempts touched acme's job: still there, still finished, history intact.
    assert acme.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
    assert acme.get(f"/v1/jobs/{job_id}/history").json()["runs"][0]["epochs_completed"] == 4
    assert acme.get(f"/v1/jobs/{job_id}/diagnosis").status_code == 200
    assert acme.get(f"/v1/jobs/{job_id}/plots/loss.png").status_code == 200


def test_other_tenants_external_diagnosis_and_its_plots_are_404_like_a_missing_id(acme, beta):
    history = {"loss": [0.7, 0.5, 0.4, 0.35, 0.33], "val_loss": [0.72, 0.55, 0.47, 0.45, 0.44]}
    created = acme.post("/v1/diagnoses", json={"history": history, "task": "binary_classification"})
    assert created.status_code == 201, created.text
    diagnosis_id = created.json()["id"]
    never_id = "dx_000000000000cccccccccccc"
    for suffix in ("", "/plots/loss.png", "/plots/report.svg"):
        theirs = beta.get(f"/v1/diagnoses/{diagnosis_id}{suffix}")
        never = beta.get(f"/v1/diagnoses/{never_id}{suffix}")
        assert theirs.status_code == 404, (suffix, theirs.text)
        assert _as_never_existing(theirs, diagnosis_id, never_id) == _as_never_existing(never, never_id, never_id)
    assert acme.get(f"/v1/diagnoses/{diagnosis_id}").status_code == 200


def test_other_tenants_dataset_is_404_like_a_missing_id(acme, beta, acme_job):
    dataset_id = acme_job["dataset_id"]
    for method in ("GET", "DELETE"):
        theirs = beta.request(method, f"/v1/datasets/{dataset_id}")
        never = beta.request(method, f"/v1/datasets/{NEVER_DATASET}")
        assert theirs.status_code == 404, theirs.text
        assert _as_never_existing(theirs, dataset_id, NEVER_DATASET) == _as_never_existing(
            never, NEVER_DATASET, NEVER_DATASET)
    # Training on another tenant's dataset is refused exactly like training on a missing one.
    body = {"data": {"target": "label"}, "training": {"epochs": 1}}
    theirs = beta.post("/v1/jobs", json={"dataset_id": dataset_id, **body})
    never = beta.post("/v1/jobs", json={"dataset_id": NEVER_DATASET, **body})
    assert theirs.status_code == 422
    assert _as_never_existing(theirs, dataset_id, NEVER_DATASET) == _as_never_existing(
        never, NEVER_DATASET, NEVER_DATASET)
    assert acme.get(f"/v1/datasets/{dataset_id}").status_code == 200


def test_lists_never_mix_and_deduplication_is_per_tenant(acme, beta, acme_job):
    # The same bytes uploaded by beta are a new dataset of beta's (201, new id): the dedup answer
    # must not reveal that another tenant holds these bytes.
    same_bytes = upload(beta, classic_csv(rows=120, seed=7), "beta.csv")
    assert same_bytes.status_code == 201, same_bytes.text
    beta_dataset = same_bytes.json()["id"]
    assert beta_dataset != acme_job["dataset_id"]

    acme_datasets = {d["id"] for d in acme.get("/v1/datasets", params={"limit": 200}).json()["items"]}
    beta_datasets = {d["id"] for d in beta.get("/v1/datasets", params={"limit": 200}).json()["items"]}
    assert acme_job["dataset_id"] in acme_datasets and beta_dataset in beta_datasets
    assert not acme_datasets & beta_datasets

    acme_jobs = {j["id"] for j in acme.get("/v1/jobs", params={"limit": 200}).json()["items"]}
    beta_jobs = {j["id"] for j in beta.get("/v1/jobs", params={"limit": 200}).json()["items"]}
    assert acme_job["id"] in acme_jobs and acme_job["id"] not in beta_jobs
    # Filtering by another tenant's dataset finds nothing rather than their jobs.
    filtered = beta.get("/v1/jobs", params={"dataset_id": acme_job["dataset_id"]}).json()
    assert filtered == {"items": [], "next_cursor": None}
    assert beta.delete(f"/v1/datasets/{beta_dataset}").status_code == 204


def test_open_mode_tenant_does_not_see_keyed_tenants(client, acme_job):
    """The open-mode app (tenant "default") on the same Redis sees nothing of acme's."""
    assert client.get(f"/v1/jobs/{acme_job['id']}").status_code == 404
    assert acme_job["id"] not in {j["id"] for j in client.get("/v1/jobs", params={"limit": 200}).json()["items"]}


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY_A}"}, {"Authorization": "Bearer"},
    {"Authorization": f"bearer {KEY_A}x"},
], ids=["missing", "unknown", "basic-scheme", "empty-bearer", "near-miss"])
def test_missing_or_unknown_key_is_401_with_challenge(keyed_api, headers):
    with httpx.Client(base_url=keyed_api.url, timeout=30) as anonymous:
        for method, url in [("GET", "/v1/datasets"), ("GET", "/v1/jobs"), ("GET", f"/v1/jobs/{NEVER_JOB}"),
                            ("POST", "/v1/jobs"), ("GET", f"/v1/jobs/{NEVER_JOB}/events"),
                            ("DELETE", f"/v1/datasets/{NEVER_DATASET}")]:
            response = anonymous.request(method, url, headers=headers)
            assert response.status_code == 401, (method, url, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 401
            assert KEY_A not in response.text


def test_upload_without_key_stores_nothing(keyed_api, acme):
    before = acme.get("/v1/datasets", params={"limit": 200}).json()["items"]
    with httpx.Client(base_url=keyed_api.url, timeout=30) as anonymous:
        assert upload(anonymous, classic_csv(rows=50, seed=99)).status_code == 401
    assert acme.get("/v1/datasets", params={"limit": 200}).json()["items"] == before


def test_operational_endpoints_need_no_key(keyed_api):
    with httpx.Client(base_url=keyed_api.url, timeout=30) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/metrics").status_code == 200


# Configuration: keys file parsing and refusing to run open on a public address.

def _settings(**overrides) -> Settings:
    return Settings(_env_file=None, **overrides)


def test_keys_from_settings_and_file(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# operators' keys\n\nbeta:KEY_B\n  gamma-2 : KEY_C  \n")
    keyring = Keyring.from_settings(_settings(api_keys="acme:KEY_A", api_keys_file=keys_file))
    assert not keyring.open
    assert [keyring.tenant_for(k) for k in ("KEY_A", "KEY_B", "KEY_C")] == ["acme", "beta", "gamma-2"]
    assert keyring.tenant_for("KEY_D") is None and keyring.tenant_for("") is None
    assert keyring.tenant_for("KEY_A ") is None  # no trimming at lookup time: a key is exact


def test_a_key_may_contain_colons():
    # The tenant ends at the first colon; the rest is the key.
    assert Keyring.from_settings(_settings(api_keys="acme:k:e:y")).tenant_for("k:e:y") == "acme"


@pytest.mark.parametrize("entry", ["justakey", "acme:", ":KEY", "ac me:KEY", "a/b:KEY"])
def test_malformed_key_entries_are_refused(entry):
    with pytest.raises(KeyConfigError):
        Keyring.from_settings(_settings(api_keys=entry))


def test_keyring_does_not_keep_keys_in_clear():
    keyring = Keyring.from_settings(_settings(api_keys="acme:SECRET-KEY-123"))
    assert "SECRET-KEY-123" not in repr(vars(keyring))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_open_mode_refuses_non_loopback(host):
    settings = _settings(host=host)
    with pytest.raises(KeyConfigError, match="without API keys"):
        check_bind(settings, Keyring.from_settings(settings))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_open_mode_allows_loopback(host):
    settings = _settings(host=host)
    check_bind(settings, Keyring.from_settings(settings))


def test_keys_allow_any_address():
    settings = _settings(host="0.0.0.0", api_keys="acme:KEY_A")
    check_bind(settings, Keyring.from_settings(settings))
