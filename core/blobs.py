"""Dataset bytes on disk: one file per dataset, under a directory per tenant.

Paths are built from ids we minted, never from client filenames.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, tenant: str, dataset_id: str) -> Path:
        return self.root / tenant / dataset_id

    def staging_file(self) -> IO[bytes]:
        """A temp file on the same filesystem, so accepting an upload is an atomic rename."""
        staging = self.root / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile(dir=staging, delete=False)

    def commit(self, staged: Path, tenant: str, dataset_id: str) -> Path:
        target = self.path(tenant, dataset_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        return target

    def delete(self, tenant: str, dataset_id: str) -> None:
        self.path(tenant, dataset_id).unlink(missing_ok=True)

    def count(self) -> int:
        """Stored blobs (staging excluded): tests use it to prove a rejected upload kept nothing."""
        if not self.root.exists():
            return 0
        return sum(1 for p in self.root.glob("*/*") if p.parent.name != ".staging" and p.is_file())
