"""What a process killed mid-upload leaves behind is found and removed (core.orphans), and nothing
that is still being written, or was kept, is touched. A Redis of its own: the registry of bytes
being stored is global, and other tests' uploads must not count here."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from core import keys
from core.blobs import BlobCache
from core.blobs import keys as blob_keys
from core.blobs.local import LocalBlobStore
from core.datasets import DatasetStore
from core.embedded_redis import EmbeddedRedis
from core.ids import new_id, now
from core.job_record import JobRecord, JobStatus
from core.lifecycle import Lifecycle
from core.orphans import GRACE_S, sweep_orphans
from core.redis_client import worker_client

TENANT = "orphans"
KILLED, KEPT = "ds_000000000000aaaaaaaaaaaa", "ds_000000000000bbbbbbbbbbbb"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("orphans-redis")) as server:
        yield DatasetStore(worker_client(server.url, 15.0))


def _stage(cache: BlobCache, body: bytes) -> tuple[Path, str]:
    with cache.staging_file() as staged:
        staged.write(body)
    return Path(staged.name), hashlib.sha256(body).hexdigest()


def test_bytes_without_a_record_and_stale_staged_files_are_swept(datasets, tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    cache = BlobCache(store, tmp_path / "cache", 10**8)
    began = time.time()
    # An upload whose process died after storing its bytes, before its record.
    path, sha = _stage(cache, b"x,y\n1,2\n")
    datasets.begin_storing(TENANT, KILLED, began)
    cache.put(blob_keys.dataset(TENANT, KILLED), path, sha)
    # One that finished: the record's transaction unregistered its bytes.
    path, sha = _stage(cache, b"x,y\n3,4\n")
    datasets.begin_storing(TENANT, KEPT, began)
    cache.put(blob_keys.dataset(TENANT, KEPT), path, sha)
    datasets.create(TENANT, {"id": KEPT, "sha256": sha, "size_bytes": 8})
    # A body cut off mid-upload long ago, one still arriving, and a write into the store cut off.
    cut_off, _ = _stage(cache, b"partial")
    os.utime(cut_off, (began - GRACE_S - 10, began - GRACE_S - 10))
    arriving, _ = _stage(cache, b"still coming")
    (store.root / ".staging").mkdir(exist_ok=True)
    half_written = store.root / ".staging" / "tmp-half"
    half_written.write_bytes(b"half")
    os.utime(half_written, (began - GRACE_S - 10, began - GRACE_S - 10))

    assert sweep_orphans(datasets, cache, now=began) == 2  # the two stale staged files only
    assert not cut_off.exists() and not half_written.exists() and arriving.exists()
    assert store.exists(blob_keys.dataset(TENANT, KILLED))  # within the grace: maybe still storing

    # A day on: the orphan bytes, and the body that was arriving then (its upload is long over).
    assert sweep_orphans(datasets, cache, now=began + GRACE_S + 1) == 2
    assert not store.exists(blob_keys.dataset(TENANT, KILLED)) and not arriving.exists()
    assert store.exists(blob_keys.dataset(TENANT, KEPT)) and datasets.get(TENANT, KEPT) is not None
    assert datasets.storing_before(began + GRACE_S + 1) == []
    assert sweep_orphans(datasets, cache, now=began + GRACE_S + 1) == 0  # nothing twice


def test_model_files_of_a_job_deleted_by_a_process_that_died_next_are_swept(datasets, tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    cache = BlobCache(store, tmp_path / "cache", 10**8)
    lifecycle = Lifecycle(datasets.r)
    dataset_id = new_id("ds")
    datasets.create(TENANT, {"id": dataset_id, "sha256": "f" * 64, "size_bytes": 8})
    job = JobRecord(id=new_id("job"), status=JobStatus.QUEUED, dataset_id=dataset_id,
                    config={"device": "cpu", "task": "regression", "training": {"repeats": 1}},
                    created_at=now(), queued_at=now())
    lifecycle.submit(TENANT, job)
    model = blob_keys.model(TENANT, job.id, 1, 1)
    source = tmp_path / "model.keras"
    source.write_bytes(b"weights")
    store.put_file(model, source)
    lifecycle.delete(TENANT, job)  # ...and the process dies before deleting the files
    assert store.exists(model) and datasets.r.sismember(keys.blob_purges(), blob_keys.job_models_prefix(TENANT, job.id))
    assert sweep_orphans(datasets, cache) == 1
    assert not store.exists(model) and datasets.r.scard(keys.blob_purges()) == 0
