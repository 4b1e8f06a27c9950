"""Memory of moving a dataset to and from an S3-compatible store: our streaming blob store vs
the obvious alternative (read the file, ``put_object(Body=bytes)``; ``get_object().read()``).

    .venv/bin/python -m benchmarks.bench_blobs [--mib 64]

Runs moto's S3 server on loopback (as the tests do); each case runs in a fresh subprocess so
its peak RSS (``ru_maxrss``) is its own. Results: benchmarks/BLOBS.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

MIB = 1024 * 1024
CASES = ("store.put_file (multipart, streamed)", "put_object(Body=read_bytes())",
         "BlobCache.file (download_file, streamed)", "get_object().read()")


def _case(index: int, endpoint: str, path: str) -> dict:
    """In the child: one case, measured."""
    import boto3

    from core.blobs import BlobCache
    from core.blobs.s3 import S3BlobStore

    store = S3BlobStore("s3://bench/v1", endpoint_url=endpoint)
    raw = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")
    source = Path(path)
    digest = hashlib.sha256()
    with open(source, "rb") as stream:
        while chunk := stream.read(MIB):
            digest.update(chunk)
    sha = digest.hexdigest()
    cache_dir = Path(tempfile.mkdtemp())
    store.exists("warm-up")  # connection pools and imports paid before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    if index == 0:
        store.put_file("datasets/bench/a", source)
    elif index == 1:
        raw.put_object(Bucket="bench", Key="v1/datasets/bench/b", Body=source.read_bytes())
    elif index == 2:
        BlobCache(store, cache_dir, 1 << 40).file("datasets/bench/a", sha)
    else:
        raw.get_object(Bucket="bench", Key="v1/datasets/bench/a")["Body"].read()
    seconds = time.perf_counter() - start
    _, traced = tracemalloc.get_traced_memory()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "rss_mib": max(0, after - before) / 1024, "traced_mib": traced / MIB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_case(int(args.child[0]), args.child[1], args.child[2])))
        return

    from tests.s3_server import CREDENTIALS, MotoServer

    os.environ.update(CREDENTIALS)
    with MotoServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.create_bucket("bench")
        path = Path(tmp) / "data.bin"
        with open(path, "wb") as out:
            for i in range(args.mib):
                out.write(hashlib.sha256(str(i).encode()).digest() * (MIB // 32))
        print(f"file: {args.mib} MiB; moto {server.endpoint}")
        print("| case | seconds | peak RSS − before (MiB) | tracemalloc peak (MiB) |")
        print("|---|---:|---:|---:|")
        for index, name in enumerate(CASES):
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_blobs", "--child", str(index),
                                  server.endpoint, str(path)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {name} | {result['seconds']:.2f} | {result['rss_mib']:.1f} | {result['traced_mib']:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
