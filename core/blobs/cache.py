"""A process's local copies of blobs, keyed by content hash, bounded in size.

Parsing a dataset (pyarrow, numpy) wants a file on this machine. With a local blob store the
blob already is one; with S3 the first job on a worker streams it down once, checks its
SHA-256 on the way, and later jobs on the same dataset (every repeat, every re-submission,
any tenant with the same bytes) reuse it. Least recently used copies are removed once the
cache passes its size bound.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from core.blobs.base import BlobStore
from core.blobs.staging import STAGING, staging_dir
from core.logging import get_logger

log = get_logger("core.blobs.cache")


class BlobCorrupt(Exception):
    """A downloaded blob's bytes do not hash to what was recorded at upload."""


class BlobCache:
    def __init__(self, store: BlobStore, root: Path, max_bytes: int) -> None:
        self.store = store
        self.root = root
        self.max_bytes = max_bytes

    def _entry(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def staging_file(self) -> IO[bytes]:
        """A temp file for an incoming upload, on the cache's disk so keeping it is a rename."""
        return tempfile.NamedTemporaryFile(dir=staging_dir(self.root), delete=False)

    def staged_count(self) -> int:
        staging = self.root / STAGING
        return sum(1 for _ in staging.iterdir()) if staging.exists() else 0

    def put(self, key: str, staged: Path, sha256: str) -> None:
        """Stores an accepted upload under ``key`` and keeps this machine's copy for later reads."""
        if _is_local(self.store):
            self.store.put_file(key, staged, move=True)
            return
        self.store.put_file(key, staged)
        entry = self._entry(sha256)
        entry.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, entry)
        self._evict(keep=entry)

    def file(self, key: str, sha256: str) -> Path:
        """The blob as a local file whose bytes hash to ``sha256``; streams it down when missing.

        Raises BlobNotFound when the store has no such blob, BlobCorrupt when its bytes changed.
        """
        if (local := self.store.local_path(key)) is not None:
            return local
        entry = self._entry(sha256)
        if entry.is_file():
            os.utime(entry)  # recently used: last to be evicted
            return entry
        tmp = Path(tempfile.mkstemp(dir=staging_dir(self.root))[1])
        try:
            self.store.download(key, tmp)
            digest = _sha256_of(tmp)
            if digest != sha256:
                raise BlobCorrupt(f"blob {key} hashes to {digest}, expected {sha256}")
            entry.parent.mkdir(parents=True, exist_ok=True)
            # Two processes fetching the same blob both write whole files; the last rename wins.
            os.replace(tmp, entry)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("blob_cached", key=key, bytes=entry.stat().st_size)
        self._evict(keep=entry)
        return entry

    def _evict(self, keep: Path) -> None:
        entries = [p for p in self.root.glob("??/*") if p.is_file()]
        total = sum(p.stat().st_size for p in entries)
        for path in sorted(entries, key=lambda p: p.stat().st_mtime):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            total -= size


def _is_local(store: BlobStore) -> bool:
    from core.blobs.local import LocalBlobStore

    return isinstance(store, LocalBlobStore)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
