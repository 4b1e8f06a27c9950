"""The blob store the settings ask for."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from core.blobs.base import BlobStore
from core.blobs.cache import BlobCache
from core.blobs.local import LocalBlobStore
from core.settings import Settings


def open_blob_store(settings: Settings) -> BlobStore:
    url = settings.blob_url
    if not url:
        return LocalBlobStore(settings.blob_dir)
    if url.startswith("s3://"):
        from core.blobs.s3 import S3BlobStore

        return S3BlobStore(url, endpoint_url=settings.s3_endpoint_url)
    if url.startswith("file://"):
        return LocalBlobStore(Path(urlsplit(url).path))
    raise ValueError(f"LSTM_DOCTOR_BLOB_URL must be s3://bucket[/prefix] or file:///path, not {url!r}")


def open_blob_cache(settings: Settings) -> BlobCache:
    return BlobCache(open_blob_store(settings), settings.blob_cache_dir, settings.blob_cache_mb * 1024 * 1024)
