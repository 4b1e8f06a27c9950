"""Datasets as a library: upload validation, config resolution and training arrays.

- `inspect_dataset`: is an uploaded file a dataset (CSV, NPZ, Parquet)? Its rows/columns/shape.
- `resolve_spec`: can a job's `data` config work with it? The spec of what would be trained on.
- `prepare_arrays`: the windowed, split, scaled arrays for training.
Every problem is a `DatasetError` carrying a problem-details status, title, detail and errors.
"""

from core.data.errors import DatasetError
from core.data.ingest import inspect_dataset
from core.data.prepare import PreparedData, prepare_arrays
from core.data.spec import resolve_from_profile, resolve_spec

__all__ = ["DatasetError", "PreparedData", "inspect_dataset", "prepare_arrays", "resolve_from_profile", "resolve_spec"]
