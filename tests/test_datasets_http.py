"""Datasets over HTTP: the malformed corpus answered with problem details and nothing stored,
dedup, size limits, listing, deletion, and random bytes never answered with a 5xx."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.blobs import BlobStore, open_blob_cache, open_blob_store
from service.app import create_app
from tests.helpers import ServerThread, classic_csv, upload

CORPUS = Path(__file__).parent / "corpus" / "malformed"
CASES = json.loads((CORPUS / "EXPECTED.json").read_text())["cases"]


def stored_state(redis_client, blobs: BlobStore) -> tuple[int, frozenset[str]]:
    return len(list(blobs.keys())), frozenset(redis_client.scan_iter("ld:t:*:ds*"))


def test_malformed_corpus_is_rejected_and_nothing_is_stored(client, settings, redis_client):
    blobs = open_blob_store(settings)
    uploads = [case for case in CASES if case["stage"] == "upload"]
    assert len(uploads) >= 15
    before = stored_state(redis_client, blobs)
    for case in uploads:
        response = upload(client, (CORPUS / case["file"]).read_bytes(), case["file"])
        assert response.status_code == case["status"], (case["file"], response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == case["status"] and case["detail"] in problem["detail"], case["file"]
    assert stored_state(redis_client, blobs) == before
    assert client.get("/healthz").status_code == 200
    assert upload(client, classic_csv(rows=50, seed=99), "after-corpus.csv").status_code in (200, 201)


def test_config_mismatches_are_422_at_submit_time(client):
    for case in [c for c in CASES if c["stage"] == "job"]:
        created = upload(client, (CORPUS / case["file"]).read_bytes(), case["file"])
        assert created.status_code in (200, 201), (case["file"], created.text)
        before = client.get("/v1/jobs", params={"limit": 200}).json()["items"]
        response = client.post("/v1/jobs", json={"dataset_id": created.json()["id"], "task": case["task"],
                                                 "data": case["data"]})
        assert response.status_code == case["status"], (case["file"], response.text)
        problem = response.json()
        assert case["detail"] in problem["detail"], (case["file"], problem["detail"])
        if "loc" in case:
            assert problem["errors"][0]["loc"] == case["loc"], case["file"]
        assert client.get("/v1/jobs", params={"limit": 200}).json()["items"] == before


def test_same_bytes_same_dataset_and_crud(client):
    content = classic_csv(rows=40, seed=123)
    first = upload(client, content, "dedup.csv")
    again = upload(client, content, "renamed.csv")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.headers["location"] == first.headers["location"]
    meta = first.json()
    assert meta["size_bytes"] == len(content) and len(meta["sha256"]) == 64 and meta["shape"] is None
    assert client.get(f"/v1/datasets/{meta['id']}").json() == meta
    listed = client.get("/v1/datasets", params={"limit": 200}).json()
    assert sum(item["id"] == meta["id"] for item in listed["items"]) == 1
    assert client.delete(f"/v1/datasets/{meta['id']}").status_code == 204
    gone = client.get(f"/v1/datasets/{meta['id']}")
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
    assert client.delete(f"/v1/datasets/{meta['id']}").status_code == 404


def test_named_upload_and_path_like_filename(client):
    response = client.post("/v1/datasets", files={"file": ("../../etc/passwd.csv", classic_csv(rows=30, seed=7))},
                           data={"name": "prices"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "prices"
    nameless = upload(client, classic_csv(rows=31, seed=7), "../../secret/dir/file.csv").json()
    assert nameless["name"] == "file.csv"  # a label only; never used as a path


def test_pagination_walks_every_dataset_once(client):
    ids = {upload(client, classic_csv(rows=20 + i, seed=i), f"page-{i}.csv").json()["id"] for i in range(5)}
    seen, cursor = [], None
    while True:
        page = client.get("/v1/datasets", params={"limit": 2, "cursor": cursor}).json()
        seen += [item["id"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert ids <= set(seen) and len(seen) == len(set(seen)) and seen == sorted(seen, reverse=True)


def test_not_multipart_and_missing_file_field(client):
    wrong_type = client.post("/v1/datasets", content=b"x,label\n1,0\n", headers={"content-type": "text/csv"})
    assert wrong_type.status_code == 415 and "multipart/form-data" in wrong_type.json()["detail"]
    no_file = client.post("/v1/datasets", data={"name": "nothing"}, files={"other": ("a.csv", b"x\n1\n")})
    assert no_file.status_code == 422 and no_file.json()["errors"][0]["loc"] == ["body", "file"]


def test_oversize_upload_is_413_and_keeps_nothing(settings, redis_client):
    small = settings.model_copy(update={"max_upload_mb": 1})
    blobs = open_blob_store(settings)
    before = stored_state(redis_client, blobs)
    with ServerThread(create_app(small)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        big = b"x,label\n" + b"0.5,1\n" * 200_000  # 1.2 MB
        response = upload(http, big, "big.csv")
        assert response.status_code == 413 and "1 MiB" in response.json()["detail"]
        # Without a Content-Length the limit is enforced while streaming.
        body = (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
                + big + b"\r\n--b0undary--\r\n")
        chunked = http.post("/v1/datasets", content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                            headers={"content-type": "multipart/form-data; boundary=b0undary"})
        assert chunked.status_code == 413, chunked.text
        assert http.get("/healthz").status_code == 200
    assert stored_state(redis_client, blobs) == before
    assert open_blob_cache(settings).staged_count() == 0


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=400),
                         st.text(alphabet=st.sampled_from('0123456789.,-+eE\n"xyNaniIf ;\t'), max_size=400)
                         .map(str.encode)),
       filename=st.sampled_from(["data.csv", "data.npz", "data.parquet", "data.txt", ""]))
def test_random_bytes_never_get_a_5xx(client, content, filename):
    response = upload(client, content, filename or "upload")
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
