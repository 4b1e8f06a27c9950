"""Blobs as files under one directory: the embedded default (``make run``, the tests)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from core.blobs.base import CHUNK_BYTES, BlobNotFound
from core.blobs.staging import STAGING, staging_dir


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.resolve().as_uri()

    def _path(self, key: str) -> Path:
        # Keys are built by core.blobs.keys from ids we minted; refuse anything that could climb out.
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root.joinpath(*parts)

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            # A rename when on the same disk (the usual case: the cache and the store are both
            # under LSTM_DOCTOR_DATA_DIR), a copy otherwise.
            shutil.move(source, target)
            return
        with open(source, "rb") as stream:
            self.put_stream(key, stream)

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the store and renamed, so a reader never sees half a blob.
        with tempfile.NamedTemporaryFile(dir=staging_dir(self.root), delete=False) as tmp:
            try:
                shutil.copyfileobj(stream, tmp, CHUNK_BYTES)
                tmp.flush()
            except BaseException:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
                raise
        os.replace(tmp.name, target)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            stream = open(self._path(key), "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        with stream:
            yield stream

    def download(self, key: str, target: Path) -> None:
        with self.open(key) as stream, open(target, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK_BYTES)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self, prefix: str = "") -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if path.is_file() and rel.parts[0] != STAGING:
                key = rel.as_posix()
                if key.startswith(prefix):
                    yield key
