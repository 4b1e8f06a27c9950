"""What a killed process leaves behind (uploads, job deletes), found and removed by the API's housekeeping.

- Dataset bytes stored without their record (the process died between storing the bytes and
  the record's transaction): an upload registers the bytes before storing them
  (``DatasetStore.begin_storing``) and the record's transaction unregisters them, so an entry
  older than ``GRACE_S`` is an orphan: its bytes are deleted unless a record exists after all.
- Staged files (an upload's body, a blob on its way into place) older than ``GRACE_S``.
- Model files of a deleted job, when the process that deleted the job died before its files
  (the delete script records that they are owed; they are deleted on the next sweep).

The grace is far longer than any upload takes, so nothing still being written is touched.
"""

from __future__ import annotations

import time

from core.blobs import BlobCache
from core.blobs import keys as blob_keys
from core.blobs.local import LocalBlobStore
from core.blobs.staging import remove_stale
from core.datasets import DatasetStore
from core.logging import get_logger
from core.trained_models import owed_purges, purge

log = get_logger("core.orphans")
GRACE_S = 24 * 3600.0


def sweep_orphans(datasets: DatasetStore, cache: BlobCache, now: float | None = None) -> int:
    """Removes what killed uploads left behind; returns how many things it removed."""
    cutoff = (time.time() if now is None else now) - GRACE_S
    removed = 0
    for tenant, dataset_id in datasets.storing_before(cutoff):
        if datasets.get(tenant, dataset_id) is None:
            cache.store.delete(blob_keys.dataset(tenant, dataset_id))
            removed += 1
        datasets.end_storing(tenant, dataset_id)
    removed += remove_stale(cache.root, cutoff)
    if isinstance(cache.store, LocalBlobStore):
        removed += remove_stale(cache.store.root, cutoff)
    for prefix in owed_purges(datasets.r):
        purge(cache.store, datasets.r, prefix)
        removed += 1
    if removed:
        log.info("orphans_removed", count=removed)
    return removed
