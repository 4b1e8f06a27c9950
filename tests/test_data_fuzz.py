"""Property: whatever bytes arrive, inspect_dataset answers with a result or a DatasetError
(a 4xx), never another exception, and quickly. Also for configs against random CSV text."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data import DatasetError, inspect_dataset, resolve_spec
from core.job_config import DataConfig
from tests.helpers import GOOD

LIMIT = 1024 * 1024
# No deadline: timings on a shared CI machine say nothing about the code (benchmarks/ measures speed).
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# CSV-ish: the characters that steer a CSV parser, plus numbers, words and junk.
_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", " ", "NA", "nan", "inf", '"', '""', '"a,b"', "x", "label", "1e309", "\t", ";", "é", "\\"]),
    st.text(max_size=6),
)
_number = st.one_of(st.integers(-5, 5), st.floats(-1e6, 1e6, allow_nan=False)).map(str)
_line = st.lists(_cell, min_size=0, max_size=5).map(",".join)
_free_text = st.tuples(st.lists(_line, min_size=0, max_size=12), st.sampled_from(["\n", "\r\n", "\r"]),
                       st.booleans()).map(lambda t: t[1].join(t[0]) + (t[1] if t[2] else ""))


@st.composite
def _table(draw) -> str:
    """Mostly well-formed tables, so that the paths past the structural checks get exercised."""
    names = draw(st.lists(st.sampled_from(["x", "y", "label", " t ", "é"]), min_size=1, max_size=4, unique=True))
    cells = st.one_of(_number, _number, _number, _cell)
    rows = draw(st.lists(st.lists(cells, min_size=len(names), max_size=len(names)), max_size=12))
    return "\n".join(",".join(r) for r in [names, *rows]) + "\n"


_csvish = st.one_of(_table(), _free_text)
_filename = st.sampled_from(["d.csv", "d.npz", "d.parquet", "d.txt", "d", "../x.csv", "a\\b.CSV"])


def _inspect(data: bytes, filename: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            info = inspect_dataset(path, filename, max_bytes=LIMIT)
        except DatasetError as e:
            assert e.status in (400, 413, 415, 422) and e.detail
        else:
            assert info["format"] in ("csv", "npz", "parquet")


@FUZZ
@given(st.binary(max_size=2048), _filename)
def test_random_bytes(data, filename):
    _inspect(data, filename)


@FUZZ
@given(_csvish.map(lambda s: s.encode("utf-8", "surrogatepass")), _filename)
def test_random_csv_text(data, filename):
    _inspect(data, filename)


def _mutations(name: str):
    original = (GOOD / name).read_bytes()
    edits = st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)), min_size=1, max_size=8)
    cut = st.integers(1, len(original))

    def apply(args):
        changes, end = args
        data = bytearray(original[:end])
        for at, value in changes:
            if at < len(data):
                data[at] = value
        return bytes(data)

    return st.tuples(edits, cut).map(apply)


@FUZZ
@given(st.one_of(*(_mutations(n) for n in ("windows.npz", "series.parquet", "prices.csv"))))
def test_damaged_valid_files(data):
    _inspect(data, "upload")


@FUZZ
@given(_csvish, st.sampled_from(["binary_classification", "multiclass_classification", "regression"]),
       st.integers(1, 4), st.integers(0, 3), st.sampled_from([0.0, 0.2, 0.5]))
def test_random_configs_against_random_csv(text, task, window, horizon, split):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            info = inspect_dataset(path, "d.csv", max_bytes=LIMIT)
            target = info["columns"][-1]
            resolve_spec(path, "csv", DataConfig(target=target, window=window, horizon=horizon,
                                                 validation_split=split), task)
        except DatasetError as e:
            assert e.status in (400, 413, 415, 422)
