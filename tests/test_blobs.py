"""The blob store interface, against a local directory and a real S3-compatible server (moto's
standalone server on loopback): the same behaviour from both, multipart uploads streamed from
disk, and the content-addressed cache a worker reads datasets through."""
from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest

from core.blobs import BlobCache, BlobCorrupt, BlobNotFound, LocalBlobStore, open_blob_store
from core.blobs.base import iter_chunks
from core.blobs.s3 import S3BlobStore, parse_s3_url
from core.settings import Settings
from tests.s3_server import CREDENTIALS, MotoServer

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        server.create_bucket("lstm-doctor")
        yield server


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, aws_env):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    moto = request.getfixturevalue("moto")
    # A fresh prefix per test: tests share the bucket, never each other's keys.
    return S3BlobStore(f"s3://lstm-doctor/{tmp_path.name}", endpoint_url=moto.endpoint)


def write_file(path: Path, size: int, seed: int = 0) -> str:
    """Writes ``size`` pseudo-random bytes in 1 MiB steps; returns their sha256."""
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = block[:min(left, MIB)]
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def test_put_get_exists_delete_behave_the_same_on_every_store(store, tmp_path):
    source = tmp_path / "source"
    sha = write_file(source, 300_000)
    store.put_file("datasets/acme/ds_1", source)
    assert source.exists()  # without move=True the caller keeps its file
    store.put_stream("datasets/acme/ds_2", io.BytesIO(b"x,label\n0.1,0\n"))

    assert store.exists("datasets/acme/ds_1") and store.size("datasets/acme/ds_1") == 300_000
    with store.open("datasets/acme/ds_2") as stream:
        assert stream.read() == b"x,label\n0.1,0\n"
    target = tmp_path / "copy"
    store.download("datasets/acme/ds_1", target)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    assert b"".join(iter_chunks(store, "datasets/acme/ds_1", 64 * 1024)) == source.read_bytes()
    assert sorted(store.keys("datasets/acme/")) == ["datasets/acme/ds_1", "datasets/acme/ds_2"]
    assert list(store.keys("datasets/beta/")) == []

    store.delete("datasets/acme/ds_1")
    store.delete("datasets/acme/never-existed")  # not an error
    assert not store.exists("datasets/acme/ds_1")
    with pytest.raises(BlobNotFound):
        store.size("datasets/acme/ds_1")
    with pytest.raises(BlobNotFound):
        store.download("datasets/acme/ds_1", tmp_path / "gone")
    with pytest.raises(BlobNotFound):
        next(iter_chunks(store, "datasets/acme/ds_1"))


def test_put_file_with_move_gives_the_file_to_the_store(store, tmp_path):
    source = tmp_path / "staged"
    write_file(source, 1000)
    store.put_file("models/acme/job_1/run-1.keras", source, move=True)
    assert not source.exists()
    assert store.size("models/acme/job_1/run-1.keras") == 1000


@pytest.mark.parametrize("key", ["", "../escape", "a/../../b", "/abs"])
def test_keys_that_could_escape_are_refused(store, key, tmp_path):
    with pytest.raises(ValueError):
        store.put_stream(key, io.BytesIO(b"x"))


def test_s3_upload_is_multipart_and_streamed_from_disk(moto, aws_env, tmp_path):
    store = S3BlobStore("s3://lstm-doctor/multipart", endpoint_url=moto.endpoint, part_bytes=5 * MIB,
                        max_concurrency=2)
    source = tmp_path / "big"
    sha = write_file(source, 32 * MIB, seed=7)
    tracemalloc.start()
    try:
        store.put_file("datasets/acme/big", source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # An S3 multipart ETag is "<md5 of part md5s>-<number of parts>": 32 MiB in 5 MiB parts is 7.
    assert store.etag("datasets/acme/big").endswith("-7")
    # The file was read part by part, never whole: Python-allocated memory stays far below its size.
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB while uploading 32 MiB"
    target = tmp_path / "back"
    store.download("datasets/acme/big", target)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha


def test_cache_streams_a_blob_down_once_and_checks_its_hash(moto, aws_env, tmp_path):
    store = S3BlobStore("s3://lstm-doctor/cache", endpoint_url=moto.endpoint)
    source = tmp_path / "ds"
    sha = write_file(source, 200_000, seed=3)
    store.put_file("datasets/acme/ds_1", source)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10 * MIB)

    first = cache.file("datasets/acme/ds_1", sha)
    assert first.name == sha and hashlib.sha256(first.read_bytes()).hexdigest() == sha
    store.delete("datasets/acme/ds_1")
    assert cache.file("datasets/acme/ds_1", sha) == first  # served locally: the store is not asked again

    other = tmp_path / "other"
    write_file(other, 1000, seed=4)
    store.put_file("datasets/acme/ds_2", other)
    with pytest.raises(BlobCorrupt):
        cache.file("datasets/acme/ds_2", "0" * 64)
    with pytest.raises(BlobNotFound):
        cache.file("datasets/acme/ds_404", "1" * 64)
    assert cache.staged_count() == 0  # failed downloads leave no temp file


def test_cache_keeps_accepted_uploads_and_stays_within_its_bound(moto, aws_env, tmp_path):
    store = S3BlobStore("s3://lstm-doctor/bound", endpoint_url=moto.endpoint)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=250_000)
    shas = []
    for i in range(3):
        with cache.staging_file() as staged:
            pass
        sha = write_file(Path(staged.name), 100_000, seed=10 + i)
        cache.put(f"datasets/acme/ds_{i}", Path(staged.name), sha)
        shas.append(sha)
        os.utime(cache.root / sha[:2] / sha, (i + 1, i + 1))  # a strict order of use
    assert all(store.exists(f"datasets/acme/ds_{i}") for i in range(3))
    kept = {p.name for p in cache.root.glob("??/*")}
    assert kept == set(shas[1:])  # the least recently used copy went; the bucket still has it
    assert cache.file("datasets/acme/ds_0", shas[0]).is_file()


def test_local_store_needs_no_cache_copy(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    cache = BlobCache(store, tmp_path / "cache", max_bytes=MIB)
    with cache.staging_file() as staged:
        staged.write(b"x,label\n1,0\n")
    sha = hashlib.sha256(b"x,label\n1,0\n").hexdigest()
    cache.put("datasets/acme/ds_1", Path(staged.name), sha)
    assert cache.file("datasets/acme/ds_1", sha) == tmp_path / "blobs" / "datasets" / "acme" / "ds_1"
    assert not list(cache.root.glob("??/*")) and cache.staged_count() == 0


def test_settings_choose_the_store(tmp_path, aws_env):
    assert isinstance(open_blob_store(Settings(data_dir=tmp_path, _env_file=None)), LocalBlobStore)
    s3 = open_blob_store(Settings(data_dir=tmp_path, blob_url="s3://bucket/some/prefix",
                                  s3_endpoint_url="http://127.0.0.1:9", _env_file=None))
    assert isinstance(s3, S3BlobStore) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError):
        Settings(blob_url="http://not-s3/bucket", _env_file=None)


def test_an_unreachable_store_is_a_503_and_keeps_nothing(settings, redis_client, aws_env, tmp_path):
    import httpx

    from core.embedded_redis import free_port
    from service.app import create_app
    from tests.helpers import ServerThread, classic_csv, upload

    dead = settings.model_copy(update={"blob_url": "s3://nowhere/v1", "data_dir": tmp_path,
                                       "s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    before = frozenset(redis_client.scan_iter("ld:t:*:ds*"))
    with ServerThread(create_app(dead)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        response = upload(http, classic_csv(rows=30, seed=404), "unreachable.csv")
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] and "blob store" in response.json()["detail"]
    assert frozenset(redis_client.scan_iter("ld:t:*:ds*")) == before
    assert BlobCache(open_blob_store(dead), dead.blob_cache_dir, MIB).staged_count() == 0
