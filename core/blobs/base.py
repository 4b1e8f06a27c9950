"""The interface every blob store implements, and what a missing blob raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_BYTES = 1024 * 1024


class BlobNotFound(KeyError):
    """No blob under this key (never stored, or deleted)."""


class BlobStoreUnavailable(Exception):
    """The store did not answer (network, timeouts, its own 5xx) after bounded retries: a
    temporary condition, answered 503 by the API."""


class BlobStore(Protocol):
    """Streaming put/get of opaque bytes under string keys (``datasets/acme/ds_…``).

    Every method streams: no implementation holds a whole blob in memory.
    """

    url: str  # where the blobs live, for logs and /readyz (no credentials in it)

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Stores the file's bytes under ``key`` (replacing what was there). ``move=True`` lets
        the store take the file itself when it can (a rename on the same disk); the caller must
        not use ``source`` afterwards either way."""
        ...

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        """Stores everything ``stream.read()`` yields, in bounded chunks."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable stream of the blob; raises BlobNotFound."""
        ...

    def download(self, key: str, target: Path) -> None:
        """Streams the blob into ``target`` (written in place: callers rename into view)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The blob as a file on this machine when the store is a local directory, else None."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Bytes stored under ``key``; raises BlobNotFound."""
        ...

    def delete(self, key: str) -> None:
        """Removes the blob; deleting a missing key is not an error."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Stored keys under ``prefix`` (operations and tests: what a rejected upload left)."""
        ...


def iter_chunks(store: BlobStore, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The blob in chunks, for a streaming HTTP response; raises BlobNotFound before the first."""
    with store.open(key) as stream:
        while chunk := stream.read(chunk_bytes):
            yield chunk
