"""Bytes that must outlive a request (datasets, trained models) behind one small interface.

``open_blob_store(settings)`` gives a local directory (the embedded default: ``make run`` keeps
everything under ``LSTM_DOCTOR_DATA_DIR``) or an S3-compatible bucket
(``LSTM_DOCTOR_BLOB_URL=s3://bucket/prefix``). Nothing assumes that the API and a worker share a
disk: a process that needs a blob as a file asks its ``BlobCache``, which streams the blob down
once into a local directory keyed by the blob's content hash.

Object names are built in ``core.blobs.keys`` only, from ids we minted, never from client input.
"""

from __future__ import annotations

from core.blobs.base import BlobNotFound, BlobStore, BlobStoreUnavailable
from core.blobs.cache import BlobCache, BlobCorrupt
from core.blobs.factory import open_blob_cache, open_blob_store
from core.blobs.local import LocalBlobStore

__all__ = [
    "BlobCache",
    "BlobCorrupt",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreUnavailable",
    "LocalBlobStore",
    "open_blob_cache",
    "open_blob_store",
]
