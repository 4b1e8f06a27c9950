"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, …) through boto3.

Uploads go through boto3's transfer manager: past ``part_bytes`` a file is sent as a multipart
upload, part by part, read from disk as each part is sent, so neither the API nor a worker
ever holds a dataset or a model in memory. Credentials come from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance role, …); the
endpoint from ``LSTM_DOCTOR_S3_ENDPOINT_URL`` or boto3's own ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from core.blobs.base import BlobNotFound, BlobStoreUnavailable

# S3 parts must be at least 5 MiB (the last excepted); 8 MiB is boto3's own default.
DEFAULT_PART_BYTES = 8 * 1024 * 1024


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix/``)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"expected s3://bucket[/prefix], got {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def _missing(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in ("404", "NoSuchKey", "NotFound")


def _unavailable(method):
    """Network trouble and the store's own 5xx become BlobStoreUnavailable (after botocore's
    bounded retries); a missing key or a refused request stays what it is."""

    @wraps(method)
    def call(self, *args, **kwargs):
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            return method(self, *args, **kwargs)
        except (BotoConnectionError, HTTPClientError) as exc:
            raise BlobStoreUnavailable(f"the blob store at {self.url} did not answer: {exc}") from exc
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                raise BlobStoreUnavailable(f"the blob store at {self.url} failed: {exc}") from exc
            raise
        except S3UploadFailedError as exc:
            raise BlobStoreUnavailable(f"the upload to {self.url} failed: {exc}") from exc

    return call


class S3BlobStore:
    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_bytes: int = DEFAULT_PART_BYTES,
        max_concurrency: int = 4,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket, self.prefix = parse_s3_url(url)
        self.url = url
        config = Config(
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            # "standard" retries throttling and transient network errors with backoff, bounded.
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style addressing works with every S3-compatible server (MinIO, moto) and AWS.
            s3={"addressing_style": "path"},
        )
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        # Memory in flight is bounded by part_bytes × max_concurrency, whatever the file's size.
        self.transfer = TransferConfig(
            multipart_threshold=part_bytes,
            multipart_chunksize=part_bytes,
            max_concurrency=max_concurrency,
            io_chunksize=256 * 1024,
        )

    def _name(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"not a blob key: {key!r}")
        return self.prefix + key

    @_unavailable
    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        self.client.upload_file(str(source), self.bucket, self._name(key), Config=self.transfer)
        if move:
            Path(source).unlink(missing_ok=True)

    @_unavailable
    def put_stream(self, key: str, stream: BinaryIO) -> None:
        # A non-seekable stream is buffered one part at a time (bounded), never whole.
        self.client.upload_fileobj(stream, self.bucket, self._name(key), Config=self.transfer)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        body = self._get_body(key)
        try:
            yield body
        finally:
            body.close()

    @_unavailable
    def _get_body(self, key: str):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(key) from None

    @_unavailable
    def download(self, key: str, target: Path) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.download_file(self.bucket, self._name(key), str(target), Config=self.transfer)
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(key) from None
            raise

    def local_path(self, key: str) -> Path | None:
        return None

    @_unavailable
    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise BlobNotFound(key)
        return int(head["ContentLength"])

    def etag(self, key: str) -> str | None:
        """The object's ETag (a multipart upload's ends in ``-<parts>``); tests read it."""
        head = self._head(key)
        return head["ETag"].strip('"') if head else None

    @_unavailable
    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        yield from self._keys(prefix)

    @_unavailable
    def _keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                found.append(item["Key"][len(self.prefix) :])
        return found

    @_unavailable
    def ping(self) -> None:
        """Raises when the bucket cannot be reached (readiness, start-up checks)."""
        self.client.head_bucket(Bucket=self.bucket)
