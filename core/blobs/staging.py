"""Staging directories: files being written (an upload's body, a blob on its way into the store
or the cache), renamed into place when whole. A process killed mid-write leaves its file here;
``remove_stale`` deletes those once no write can still be at them."""

from __future__ import annotations

from pathlib import Path

STAGING = ".staging"


def staging_dir(root: Path) -> Path:
    staging = root / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    return staging


def remove_stale(root: Path, older_than: float) -> int:
    """Deletes the staged files under ``root`` last written before ``older_than`` (epoch
    seconds); returns how many."""
    staging = root / STAGING
    removed = 0
    for path in staging.iterdir() if staging.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < older_than:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # renamed into place, or removed by another sweeper, meanwhile
            continue
    return removed
