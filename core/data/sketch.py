"""A bounded sketch of an uploaded table, made in the pass that validates it, so that the data
checks (``diagnosis.findings.data``) can run when a job is submitted without reading the file.

While the table fits in ``SKETCH_CELLS`` cells, the sketch holds its values: every numeric column
as float64 (upload refused NaN and infinite values there) and every text column of at most
``LABEL_CAP`` distinct labels as codes into its sorted labels. Submit then resolves the job's
data exactly as the worker does from the file (``core.data.spec.resolve_scan``) and the checks
see the very same numbers, for any target, features, window, horizon and split. A larger table
has no sketch (``None``): its checks wait for the worker, which reads the file before the first
epoch. The bound keeps both the stored profile and the work at submit small: 2¹⁵ cells are
256 KiB of float64 before compression (benchmarks/BENCHMARKS.md, "Data checks at submit",
measures both).
"""

from __future__ import annotations

import base64
import zlib

import numpy as np
import pyarrow as pa

from core.data.tables import LABEL_CAP, TableScan

SKETCH_CELLS = 1 << 15
# Labels of one text column kept in the sketch, in characters: past it the column is left out
# (a job that uses it as its target is checked by the worker).
_LABEL_CHARS = 1 << 16
VERSION = 1


class SketchBuilder:
    """Collects a table's columns block by block while they fit in ``max_cells``; past it, drops
    them all and stays empty, so its memory never exceeds the bound."""

    def __init__(self, max_cells: int = SKETCH_CELLS) -> None:
        self.max_cells = max_cells
        self.cells = 0
        self.over = False
        self.numbers: dict[str, list[pa.Array]] = {}
        self.text: dict[str, list[pa.Array]] = {}

    def reset(self) -> None:
        self.cells, self.over, self.numbers, self.text = 0, False, {}, {}

    def add(self, name: str, text: pa.Array, numbers: pa.Array | None) -> None:
        """One block of column ``name``: its normalised values, and the same as float64 while
        the column reads as numbers (None once it does not)."""
        if self.over:
            return
        if numbers is not None:
            self.numbers.setdefault(name, []).append(numbers)
            self.cells += len(numbers)
        if pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
            self.text.setdefault(name, []).append(text)
            self.cells += len(text)
        if self.cells > self.max_cells:
            self.over, self.numbers, self.text = True, {}, {}

    def finish(self, scan: TableScan) -> dict | None:
        """The sketch as JSON-able data, or None when the table did not fit (or odd data defeated
        it: the sketch only ever saves the worker a read, so it never fails an upload)."""
        if self.over:
            return None
        try:
            return self._finish(scan)
        except (pa.ArrowException, ValueError, KeyError, TypeError):
            return None

    def _finish(self, scan: TableScan) -> dict:
        numeric = [c.name for c in scan.columns if c.kind == "numeric" and not c.bad_count]
        if numeric:
            matrix = np.column_stack(
                [pa.chunked_array(self.numbers[n], pa.float64()).to_numpy().astype(np.float64) for n in numeric]
            )
        else:
            matrix = np.empty((scan.rows, 0))
        labels = {}
        for c in scan.columns:
            if c.kind != "text" or c.name not in self.text:
                continue
            values = pa.chunked_array([chunk.cast(pa.string()) for chunk in self.text[c.name]], pa.string()).to_pylist()
            if len(values) != scan.rows:
                continue  # read as numbers in part: the worker checks a job that uses it
            distinct = sorted({v for v in values if v is not None})
            if len(distinct) > LABEL_CAP or sum(map(len, distinct)) > _LABEL_CHARS:
                continue
            index = {v: i for i, v in enumerate(distinct)}
            codes = np.array([-1 if v is None else index[v] for v in values], dtype=np.int32)
            labels[c.name] = {"values": distinct, "codes": _pack(codes)}
        return {"version": VERSION, "rows": scan.rows, "numeric": numeric, "values": _pack(matrix), "labels": labels}


def with_values(profile: dict) -> TableScan | None:
    """The table of a profile with the values its sketch holds (as ``scan_table`` keeps them:
    numbers as float64, text as an object array of str/None), or None without a sketch."""
    sketch = profile.get("sketch")
    if not sketch or sketch.get("version") != VERSION:
        return None
    scan = TableScan.from_profile(profile)
    rows = int(sketch["rows"])
    matrix = _unpack(sketch["values"], np.float64).reshape(rows, len(sketch["numeric"]))
    for k, name in enumerate(sketch["numeric"]):
        scan.values[name] = matrix[:, k]
    for name, held in sketch["labels"].items():
        labels = np.array([*held["values"], None], dtype=object)
        scan.values[name] = labels[_unpack(held["codes"], np.int32)]  # code -1: the None at the end
    return scan


def _pack(array: np.ndarray) -> str:
    """Compressed little-endian bytes as base64 text (JSON keeps it as one string: cheap to parse)."""
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return base64.b64encode(zlib.compress(data.tobytes(), 6)).decode("ascii")


def _unpack(text: str, dtype: type) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.dtype(dtype).newbyteorder("<"))
