"""Upload-time validation: is this file a dataset we can store?

A text column is *not* an upload error: the job config decides which columns are used, and an
unused notes column may hold anything (resolve_spec rejects it once a job uses it). A table is
refused at upload for structural damage, fewer than 2 rows, no numeric column at all, or NaN,
infinite or missing values in a numeric column (docs/api.md: rejected with the count and the first
location, nothing stored).
"""

from __future__ import annotations

from pathlib import Path

from core.data.detect import detect_format
from core.data.errors import DatasetError
from core.data.npz import read_npz
from core.data.sketch import SketchBuilder
from core.data.tables import scan_table


def inspect_dataset(
    path: Path, filename: str, *, max_bytes: int, max_columns: int | None = None, profile: bool = False
) -> dict:
    """Validate an uploaded file fully; return its format, rows and columns (tables) or shapes
    (NPZ, X always 3-D). `filename` is a hint for the format only, never opened. `profile`: add
    the table's profile (what job configs are checked against at submit time)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetError(413, f"The file is {size} bytes, past the limit of {max_bytes} bytes.")
    fmt = detect_format(path, filename)
    if fmt == "npz":
        arrays = read_npz(path, max_bytes=max_bytes)
        return {
            "format": "npz",
            "rows": None,
            "columns": None,
            "shape": {"X": list(arrays.X.shape), "y": list(arrays.y.shape)},
        }
    sketch = SketchBuilder() if profile else None
    scan = scan_table(path, fmt, max_bytes=max_bytes, max_columns=max_columns, sink=sketch)
    if scan.rows < 2:
        raise DatasetError(
            422, f"The file has {scan.rows} data row(s) after the header; at least 2 are needed to train."
        )
    if not any(c.kind == "numeric" for c in scan.columns):
        texts = [c for c in scan.columns if c.kind == "text"]
        example = f" ({texts[0].not_numeric()})" if texts else ""
        raise DatasetError(
            422, f"No column holds numbers{example}. A dataset needs at least one numeric feature column."
        )
    not_finite = [c for c in scan.columns if c.kind == "numeric" and c.bad_count]
    if not_finite:
        raise DatasetError(
            422,
            "The dataset has values a model cannot train on: "
            + "; ".join(c.not_finite() for c in not_finite)
            + ". Fill or drop those rows and upload again.",
        )
    info = {"format": fmt, "rows": scan.rows, "columns": scan.names, "shape": None}
    if profile:
        # Stored beside the dataset: a job's data config is checked against it at submit time
        # without reading the file again (core.data.spec.resolve_from_profile).
        # The sketch (the values, for a table small enough) lets the data checks run at submit too.
        info["profile"] = {**scan.profile(), "sketch": sketch.finish(scan) if sketch is not None else None}
    return info
