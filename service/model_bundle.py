"""The model download: a zip of a run's `.keras` file and its `preprocessing.json`.

Built the same way every time (fixed member order and timestamps), so one model always gives the
same bytes, and its ETag can be computed from the stored digests without reading the model.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile

from core.blobs import BlobStore
from core.blobs.base import CHUNK_BYTES
from service.etags import etag_for

MODEL_MEMBER = "model.keras"
PREPROCESSING_MEMBER = "preprocessing.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest zip date: the bytes depend on the content only


def preprocessing_bytes(record: dict) -> bytes:
    return (json.dumps(record["preprocessing"], indent=2, sort_keys=True) + "\n").encode()


def etag(record: dict) -> str:
    return etag_for(("model", record["sha256"], preprocessing_bytes(record)))


def build_zip(store: BlobStore, record: dict) -> bytes:
    """The zip's bytes; raises BlobNotFound when the model's blob is gone."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # A .keras file is a zip already: stored as it is, compressing it again gains nothing.
        member = zipfile.ZipInfo(MODEL_MEMBER, _EPOCH)
        member.compress_type = zipfile.ZIP_STORED
        with store.open(record["blob"]) as source, archive.open(member, "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, CHUNK_BYTES)
        archive.writestr(
            zipfile.ZipInfo(PREPROCESSING_MEMBER, _EPOCH), preprocessing_bytes(record), zipfile.ZIP_DEFLATED
        )
    return buffer.getvalue()
