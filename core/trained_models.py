"""Records of the models jobs saved: one per finished run, in Redis; the bytes are in the blob store.

A record says where the run's `.keras` file is (its blob key and SHA-256) and carries the
preprocessing document (features, window, scaler statistics, class mapping) that goes with it.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from core import keys
from core.blobs import BlobStore
from core.blobs import keys as blob_keys


def delete_model_files(blobs: BlobStore, client: redis.Redis, tenant: str, job_id: str) -> None:
    """Removes every model file of a deleted job (its records went with it: ``Lifecycle.delete``,
    which also recorded that these files are owed: see ``purge``)."""
    purge(blobs, client, blob_keys.job_models_prefix(tenant, job_id))


def purge(blobs: BlobStore, client: redis.Redis, prefix: str) -> None:
    """Deletes every blob under ``prefix``, then the entry that said they were owed."""
    for key in list(blobs.keys(prefix)):
        blobs.delete(key)
    client.srem(keys.blob_purges(), prefix)


def owed_purges(client: redis.Redis, limit: int = 100) -> list[str]:
    """Prefixes whose deletion a process began and may not have finished (``core.orphans``)."""
    return list(client.srandmember(keys.blob_purges(), limit) or [])


class ModelStore:
    """Reads the model records; a trainer writes them through ``Lifecycle.save_model`` (fenced)."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def get(self, tenant: str, job_id: str, run: int) -> dict[str, Any] | None:
        raw = self.r.hget(keys.job_models(tenant, job_id), str(run))
        return json.loads(raw) if raw else None

    def all(self, tenant: str, job_id: str) -> dict[int, dict[str, Any]]:
        raw = self.r.hgetall(keys.job_models(tenant, job_id))
        return {int(run): json.loads(value) for run, value in raw.items()}
