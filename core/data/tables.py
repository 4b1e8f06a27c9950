"""Streaming reads of CSV and Parquet tables into per-column facts (and, on request, values).

Memory stays bounded by one block of the file (plus the columns asked for): CSV is read with
pyarrow's streaming reader, every column as text, and each block is cast to numbers here so
that a bad value is reported with its column, row and text instead of pyarrow's position-less
conversion error. Parquet is read batch by batch and takes the same path.

Rows are counted from 1 for the first data row after the header; blank lines are not counted.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from core.data.errors import DatasetError

_BLOCK = 1 << 18  # pyarrow's streaming CSV reader reads ~32 blocks ahead: this bounds memory
_MAX_BLOCK = 1 << 22
_MAX_RETYPES = 8
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error")
_PARQUET_BATCH_ROWS = 65_536
_PARQUET_SLICE_BYTES = 8 << 20  # decoded bytes checked at a time
_OTHER_DELIMITERS = (";", "\t", "|")


# Distinct values a column may have and still be profiled as labels (beyond, a classification
# job on it is judged by reading the column again).
LABEL_CAP = 1024
PROFILE_LABEL_BUDGET = 16_384  # label values kept over all columns of one profile
_NO_ROW = np.iinfo(np.int64).max


class LabelSet:
    """The distinct values of a column with the first and last data row (0-based) of each, kept
    while there are at most LABEL_CAP of them: with them, a job's target classes and whether its
    training part holds two of them are known without reading the file again."""

    def __init__(self) -> None:
        self.first: dict[float | str, int] = {}
        self.last: dict[float | str, int] = {}
        self.many = False

    def add_numbers(self, numbers: pa.Array, row0: int) -> None:
        self._add(numbers, row0, numeric=True)

    def add_text(self, text: pa.Array, row0: int) -> None:
        self._add(text, row0, numeric=False)

    def _add(self, values: pa.Array, row0: int, *, numeric: bool) -> None:
        """One block: its distinct values by a hash pass (pyarrow's dictionary encoding) and each
        one's first and last row by unbuffered min/max, O(rows); no sort."""
        if self.many or not len(values):
            return
        encoded = values.dictionary_encode()
        names = encoded.dictionary.to_pylist()
        if len(names) > LABEL_CAP:
            self._too_many()
            return
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        positions = np.flatnonzero(codes >= 0)
        codes = codes[positions]
        first = np.full(len(names), _NO_ROW)
        last = np.full(len(names), -1)
        np.minimum.at(first, codes, positions)
        np.maximum.at(last, codes, positions)
        for code, name in enumerate(names):
            if last[code] < 0 or name is None or (numeric and not np.isfinite(name)):
                continue
            value = float(name) if numeric else str(name)
            self.first.setdefault(value, row0 + int(first[code]))
            self.last[value] = row0 + int(last[code])
        if len(self.first) > LABEL_CAP:
            self._too_many()

    def _too_many(self) -> None:
        self.many, self.first, self.last = True, {}, {}

    def as_dict(self) -> dict | None:
        if self.many or not self.first:
            return None
        values = sorted(self.first)
        return {"values": values, "first": [self.first[v] for v in values], "last": [self.last[v] for v in values]}


@dataclass
class ColumnFacts:
    """What one column holds, enough to accept or reject it once we know it is used."""

    name: str
    present: int = 0  # values that are not missing
    text_row: int | None = None  # first value that is not a number (None: all numbers)
    text_value: str | None = None
    bad_count: int = 0  # missing, NaN or infinite among a numeric column
    bad_row: int | None = None
    bad_value: str | None = None
    labels: LabelSet = field(default_factory=LabelSet)

    @property
    def kind(self) -> str:
        if self.text_row is not None:
            return "text"
        return "numeric" if self.present else "empty"

    def not_numeric(self) -> str:
        return f"column {self.name!r} is not numeric: row {self.text_row} holds {self.text_value!r}"

    def not_finite(self) -> str:
        return (
            f"column {self.name!r} has {self.bad_count} missing, NaN or infinite value(s), "
            f"first at row {self.bad_row} ({self.bad_value})"
        )


@dataclass
class TableScan:
    fmt: str
    rows: int
    columns: list[ColumnFacts]
    # Kept columns: float64 (NaN where missing) when numeric; the labels column, when it holds
    # text, as an object array of str/None.
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnFacts:
        return self.columns[self.names.index(name)]

    def profile(self) -> dict:
        """What a job's config is checked against at submit time, as JSON: per column its facts
        and, for columns of few distinct values, those values with their first and last rows."""
        columns = []
        budget = PROFILE_LABEL_BUDGET
        for c in self.columns:
            labels = c.labels.as_dict()
            if labels is not None:
                budget -= len(labels["values"])
                if budget < 0:
                    labels = None  # the profile stays small; a job on this column reads it again
            if labels is not None and c.kind == "numeric" and any(isinstance(v, str) for v in labels["values"]):
                labels = None  # read as text, judged as numbers: the job reads the column again
            columns.append(
                {
                    "name": c.name,
                    "present": c.present,
                    "text_row": c.text_row,
                    "text_value": c.text_value,
                    "bad_count": c.bad_count,
                    "bad_row": c.bad_row,
                    "bad_value": c.bad_value,
                    "labels": labels,
                }
            )
        return {"format": self.fmt, "rows": self.rows, "columns": columns}

    @classmethod
    def from_profile(cls, profile: dict) -> TableScan:
        columns = [ColumnFacts(**{k: v for k, v in c.items() if k != "labels"}) for c in profile["columns"]]
        return cls(profile["format"], profile["rows"], columns)


class BlockSink(Protocol):
    """Sees every block of every column as the scan reads it (core.data.sketch.SketchBuilder)."""

    def reset(self) -> None: ...

    def add(self, name: str, text: pa.Array, numbers: pa.Array | None) -> None: ...


def scan_table(
    path: Path,
    fmt: str,
    *,
    max_bytes: int,
    numbers: frozenset[str] = frozenset(),
    labels: str | None = None,
    max_columns: int | None = None,
    sink: BlockSink | None = None,
) -> TableScan:
    """Read the whole table once, checking its structure. Keep the values of the `numbers`
    columns while they are numeric (a text one is the caller's to report) and of the `labels`
    column as numbers or as text, whichever it turns out to hold. `max_columns`: a wider table
    is refused (422) from its header alone. `sink` sees every block of every column."""
    if fmt != "csv":
        return _scan(fmt, *_parquet_batches(path, max_bytes, max_columns), numbers, labels, sink)
    _check_text(path)
    if max_columns is not None:
        # From the first line alone: a 20,000-column header is refused before pyarrow parses a block.
        _check_width(_header_fields(path), max_columns)
    names, text_columns = _csv_header(path, max_columns)
    for attempt in range(_MAX_RETYPES + 1):
        try:
            return _scan(fmt, *_csv_batches(path, names, text_columns), numbers, labels, sink)
        except _Retype as retype:
            # A column that looked numeric in the first block holds text further down: read it
            # as text from the start. Past a few such surprises, every column is read as text.
            text_columns.add(retype.index)
            if attempt >= _MAX_RETYPES - 1:
                text_columns = set(range(len(names)))
    raise AssertionError("unreachable: the last attempt reads every column as text")


def _scan(
    fmt: str,
    names: list[str],
    batches: Iterator[pa.RecordBatch],
    finish: Callable[[], None],
    numbers: frozenset[str],
    labels: str | None,
    sink: BlockSink | None = None,
) -> TableScan:
    facts = [ColumnFacts(n) for n in names]
    if sink is not None:
        sink.reset()  # a CSV read again with a column retyped starts over
    kept: dict[str, list[pa.Array]] = {n: [] for n in names if n in numbers or n == labels}
    label_text: list[pa.Array] = []
    rows = 0
    for batch in batches:
        for col_facts, col in zip(facts, batch.columns):
            text, as_numbers = _observe(col_facts, col, rows, one_line=fmt == "csv")
            if sink is not None:
                sink.add(col_facts.name, text, as_numbers)
            if as_numbers is not None and not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
                col_facts.labels.add_numbers(as_numbers, rows)
            elif pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
                col_facts.labels.add_text(text, rows)
            if as_numbers is not None and col_facts.name in kept:
                kept[col_facts.name].append(as_numbers)
            if col_facts.name == labels:
                label_text.append(text)
        rows += batch.num_rows
    finish()
    scan = TableScan(fmt, rows, facts)
    for name, chunks in kept.items():
        if scan.column(name).kind != "text":
            scan.values[name] = pa.chunked_array(chunks, pa.float64()).to_numpy().astype(np.float64)  # null: NaN
        elif name == labels:
            scan.values[name] = np.array(
                [None if v is None else str(v) for chunk in label_text for v in chunk.to_pylist()], dtype=object
            )
    return scan


def _observe(facts: ColumnFacts, col: pa.Array, row0: int, *, one_line: bool) -> tuple[pa.Array, pa.Array | None]:
    """Update `facts` with one block of a column; return it normalised and as float64 (or None
    once the column is known not to be numeric). `one_line`: values may not hold line breaks."""
    col = _normalise(col)
    facts.present += len(col) - col.null_count
    if facts.text_row is None:
        numbers, bad = _to_float64(col)
        if numbers is not None:
            _count_non_finite(facts, numbers, row0)
            return col, numbers
        facts.text_row = row0 + bad + 1
        facts.text_value = str(col[bad].as_py())[:80]
    if one_line:  # only text can hold a line break: numeric blocks skip this scan
        _check_line_breaks(facts, col, row0)
    return col, None


def _count_non_finite(facts: ColumnFacts, numbers: pa.Array, row0: int) -> None:
    finite = pc.is_finite(numbers)  # null where missing; sum skips nulls
    bad_here = len(numbers) - (pc.sum(finite).as_py() or 0) if len(numbers) else 0
    if bad_here and facts.bad_row is None:
        i = pc.index(pc.fill_null(finite, False), False).as_py()
        facts.bad_row = row0 + i + 1
        facts.bad_value = "missing" if not numbers[i].is_valid else str(numbers[i].as_py())
    facts.bad_count += bad_here


def _check_line_breaks(facts: ColumnFacts, col: pa.Array, row0: int) -> None:
    """CSV values with line breaks are refused: they are rare in numeric data, and an unclosed
    quote otherwise silently swallows the rest of the file into one value."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return
    breaks = pc.fill_null(pc.match_substring(col, "\n"), False)
    if pc.any(breaks).as_py():
        row = row0 + pc.index(breaks, True).as_py() + 1
        raise DatasetError(
            400,
            f"Row {row} of column {facts.name!r} holds a line break inside a quoted value "
            "(an unclosed '\"'?). Close every quote; values may not span lines.",
        )


def _normalise(col: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        # "1, 2, 3" (a space after the comma) is common in hand-written CSV: trim, and read a
        # cell that is blank after trimming as missing.
        col = pc.utf8_trim_whitespace(col)
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
    return col


def _to_float64(col: pa.Array) -> tuple[pa.Array | None, int]:
    """(values as float64, -1), or (None, index of the first value that is not a number)."""
    t = col.type
    if col.null_count == len(col):
        return pa.nulls(len(col), pa.float64()), -1  # nothing to judge the column by yet
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        return pc.cast(col, pa.float64(), safe=False), -1
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None, pc.index(pc.is_valid(col), True).as_py()  # dates, lists, bytes...: not numbers
    try:
        return pc.cast(col, pa.float64()), -1
    except pa.ArrowInvalid:
        pass
    # Binary search for the shortest failing prefix: O(n) casts in total, exact pyarrow rules.
    good, failing = 0, len(col)
    while failing - good > 1:
        mid = (good + failing) // 2
        try:
            pc.cast(col.slice(0, mid), pa.float64())
            good = mid
        except pa.ArrowInvalid:
            failing = mid
    return None, failing - 1


# --- CSV ---------------------------------------------------------------------------------


class _Retype(Exception):
    """pyarrow could not read column ``index`` as numbers: it is to be read as text."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _read_error(e: pa.ArrowException) -> Exception:
    if match := _CONVERSION_ERROR.match(str(e)):
        return _Retype(int(match.group(1)))
    return _unparsable(e)


_Batches = tuple[list[str], Iterator[pa.RecordBatch], Callable[[], None]]


def _csv_batches(path: Path, names: list[str], text_columns: set[int]) -> _Batches:
    """Batches with numeric columns converted by pyarrow itself (vectorised, in C++) and the
    `text_columns` as strings; a numeric column meeting text raises _Retype."""
    ragged = _RaggedRows()
    # Wide tables get larger blocks, so the per-column work per block (a few vectorised calls)
    # is spread over more rows: a 20,000-column file is a few blocks, not a few hundred.
    block = max(_BLOCK, min(_MAX_BLOCK, len(names) * 4096))
    types = {n: pa.string() if i in text_columns else pa.float64() for i, n in enumerate(names)}
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=block, use_threads=False),  # threads hide row numbers
            parse_options=pa_csv.ParseOptions(invalid_row_handler=ragged),
            convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
    except pa.ArrowException as e:
        raise _read_error(e) from None
    clean = [n.strip() for n in names]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except pa.ArrowException as e:
            raise _read_error(e) from None

    return clean, batches(), ragged.raise_if_any


def _check_text(path: Path) -> None:
    """Reject binary junk and non-UTF-8 text with the place of the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = line = 0
    with path.open("rb") as f:
        while chunk := f.read(_BLOCK):
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise DatasetError(
                    415,
                    f"The file holds binary data (a NUL byte at byte {offset + nul}), "
                    "not CSV text. Upload a CSV, NPZ or Parquet file.",
                )
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=False)
            except UnicodeDecodeError as e:
                at = offset - pending + e.start
                bad_line = line + e.object[: e.start].count(b"\n") + 1
                raise DatasetError(
                    400,
                    f"The file is not UTF-8 text: byte 0x{e.object[e.start]:02x} at line "
                    f"{bad_line} (byte {at}) is invalid. Save the file as UTF-8 and upload "
                    "again.",
                ) from None
            offset += len(chunk)
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DatasetError(
            400,
            "The file is not UTF-8 text: it ends in the middle of a character. "
            "Save the file as UTF-8 and upload again.",
        ) from None


def _csv_header(path: Path, max_columns: int | None) -> tuple[list[str], set[int]]:
    """The header's names, and the columns whose first block pyarrow reads as something other
    than numbers (they are read as text; every other column as float64)."""
    try:
        # Opening reads and parses the first block only; we just want the header's names.
        peek = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=_BLOCK, use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=lambda row: "skip"),
        )
    except pa.ArrowException as e:
        if "Empty CSV file" in str(e) and _has_text(path):
            # pyarrow's answer to a lone header line without a line ending.
            raise DatasetError(
                422, "The file holds only a header line and no data rows; at least 2 rows are needed to train."
            ) from None
        raise _unparsable(e) from None
    names = peek.schema.names
    text_columns = {
        i
        for i, t in enumerate(peek.schema.types)
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t))
    }
    peek.close()
    _check_width(len(names), max_columns)
    _check_names([n.strip() for n in names], "header")
    if len(names) == 1:
        for sep in _OTHER_DELIMITERS:
            if sep in names[0]:
                raise DatasetError(
                    400,
                    f"Only one column was found, and its header {names[0][:80]!r} looks "
                    f"separated by {sep!r}. CSV files must be comma-separated: save the "
                    "file with ',' as the delimiter.",
                )
    if all(_is_number(n) for n in names):
        raise DatasetError(
            400,
            f"The first line ({','.join(names)[:80]!r}) looks like data, not a header. "
            "Add a header row that names each column.",
        )
    return names, text_columns


def _header_fields(path: Path) -> int:
    with path.open("rb") as f:
        line = f.readline(_MAX_BLOCK)
    return len(next(csv.reader([line.decode("utf-8", "replace")]), []))


def _check_width(columns: int, max_columns: int | None) -> None:
    if max_columns is not None and columns > max_columns:
        raise DatasetError(
            422,
            f"The table has {columns:,} columns, more than this server's limit of "
            f"{max_columns:,} (LSTM_DOCTOR_MAX_COLUMNS). Keep the columns you train on.",
        )


def _has_text(path: Path) -> bool:
    with path.open("rb") as f:
        return bool(f.read(_BLOCK).strip())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _RaggedRows:
    """pyarrow's invalid-row handler: skip ragged rows while noting the first, so the whole
    file is counted before we answer."""

    def __init__(self) -> None:
        self.count = 0
        self.first: Any = None  # pyarrow's InvalidRow

    def __call__(self, row) -> str:
        self.count += 1
        if self.first is None:
            self.first = row
        return "skip"

    def raise_if_any(self) -> None:
        if not self.count:
            return
        r = self.first
        # pyarrow numbers the header as row 1; we number data rows from 1.
        where = f"row {r.number - 1}" if r.number is not None else "a row"
        raise DatasetError(
            400,
            f"{self.count} row(s) have a different number of fields than the header "
            f"({r.expected_columns}): first {where} has {r.actual_columns} field(s): "
            f"{r.text[:80]!r}. Every row needs exactly one value per column "
            "(quote values that contain commas).",
        )


def _unparsable(e: pa.ArrowException) -> DatasetError:
    msg = str(e)
    if "Empty CSV file" in msg:
        return DatasetError(400, "The file has no header row (it is blank). Upload a CSV with a header row.")
    return DatasetError(
        400,
        f"The CSV could not be parsed: {msg[:200].rstrip('.')}. Check quoting and that it is "
        "comma-separated with a header row.",
    )


# --- Parquet -----------------------------------------------------------------------------


def _parquet_batches(path: Path, max_bytes: int, max_columns: int | None = None) -> _Batches:
    corrupt = "The Parquet file is corrupt or unreadable: {}."
    try:
        schema = pq.read_schema(path)
        # Text columns are read dictionary-encoded when stored so: their decoded size is then
        # counted from the dictionary before anything is decoded (a 415 KB file of one
        # 4000-character string repeated a million times is 4 GB decoded).
        text = [
            f.name
            for f in schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_binary(f.type)
        ]
        pf = pq.ParquetFile(path, read_dictionary=text)
        meta = pf.metadata
        names = pf.schema_arrow.names
        _check_width(len(names), max_columns)
        # Stored sizes understate memory (compression, run-length and dictionary encoding): count
        # the pages' uncompressed size, and every cell as a float64, which training materialises.
        uncompressed = sum(
            meta.row_group(i).column(j).total_uncompressed_size
            for i in range(meta.num_row_groups)
            for j in range(meta.num_columns)
        )
        expanded = max(uncompressed, meta.num_rows * len(names) * 8)
        row_bytes = max(uncompressed // max(meta.num_rows, 1), 1)
    # A name or value that is not UTF-8 surfaces as UnicodeDecodeError, not as an Arrow error.
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise DatasetError(400, corrupt.format(str(e)[:200].rstrip("."))) from None
    if expanded > max_bytes:
        raise DatasetError(
            413,
            f"The Parquet file expands to {expanded} bytes in memory, past the limit of "
            f"{max_bytes} bytes. Upload a smaller dataset.",
        )
    _check_names(names, "schema")
    batch_rows = int(min(_PARQUET_BATCH_ROWS, max(1024, _PARQUET_SLICE_BYTES // row_bytes)))

    def batches() -> Iterator[pa.RecordBatch]:
        decoded = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, use_threads=False):
                sizes = _decoded_row_sizes(batch)
                decoded += int(sizes.sum())
                if decoded > max_bytes:
                    raise DatasetError(
                        413,
                        f"The Parquet file's values decode to more than {max_bytes} bytes "
                        "(repeated long strings, dictionary-encoded), past the limit. Upload "
                        "a smaller dataset, or drop the text columns.",
                    )
                # Parquet does not check that a string column holds UTF-8; Arrow's compute
                # functions do, later and outside this reader. Full validation says it here.
                batch.validate(full=True)
                yield from _slices(batch, sizes)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
            raise DatasetError(400, corrupt.format(str(e)[:200].rstrip("."))) from None

    return names, batches(), lambda: None


def _decoded_row_sizes(batch: pa.RecordBatch) -> np.ndarray:
    """Bytes each row takes once decoded: dictionary strings at their real length, the rest at
    their in-memory width. O(rows), nothing decoded."""
    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for col in batch.columns:
        if pa.types.is_dictionary(col.type):
            lengths = pc.binary_length(col.dictionary).to_numpy(zero_copy_only=False)
            lengths = np.nan_to_num(lengths.astype(np.float64)).astype(np.int64)
            if len(lengths):
                indices = pc.fill_null(col.indices, 0).to_numpy(zero_copy_only=False)
                sizes += lengths[indices]
        elif batch.num_rows:
            sizes += col.nbytes // batch.num_rows
    return sizes


def _slices(batch: pa.RecordBatch, sizes: np.ndarray) -> Iterator[pa.RecordBatch]:
    """The batch in row slices of about _PARQUET_SLICE_BYTES decoded (zero-copy slices), so
    decoding one for its checks holds a bounded amount of memory."""
    if sizes.sum() <= _PARQUET_SLICE_BYTES:
        yield batch
        return
    piece = np.cumsum(sizes) // _PARQUET_SLICE_BYTES
    cuts = [0, *(np.flatnonzero(np.diff(piece)) + 1).tolist(), batch.num_rows]
    for start, end in zip(cuts[:-1], cuts[1:]):
        if end > start:
            yield batch.slice(start, end - start)


def _check_names(names: list[str], where: str) -> None:
    if not names:
        raise DatasetError(400, f"The {where} names no columns. Add a header row that names each column.")
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if not name:
            raise DatasetError(400, f"Column {i} has an empty name in the {where}. Give every column a name.")
        if name in seen:
            raise DatasetError(
                400,
                f"Column name {name!r} appears twice in the {where} (columns {seen[name]} "
                f"and {i}). Column names must be unique.",
            )
        seen[name] = i
