"""Format detection and the CSV, Parquet and NPZ readers, beyond the committed corpus."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data import DatasetError, inspect_dataset, prepare_arrays, resolve_spec
from core.job_config import DataConfig
from tests.helpers import GOOD

LIMIT = 10 * 1024 * 1024


def _raises(path: Path, filename: str | None = None, *, max_bytes: int = LIMIT) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        inspect_dataset(path, filename or path.name, max_bytes=max_bytes)
    return caught.value


def test_padded_header_crlf_and_unused_text_columns(tmp_path):
    info = inspect_dataset(GOOD / "prices.csv", "prices.csv", max_bytes=LIMIT)
    assert info == {"format": "csv", "rows": 24, "columns": ["t", "price", "volume", "notes", "signal"],
                    "shape": None}
    spec = resolve_spec(GOOD / "prices.csv", "csv", DataConfig(target="signal"), "multiclass_classification")
    assert spec["features"] == ["price", "volume"] and spec["unused_columns"] == ["t", "notes"]
    assert spec["class_mapping"] == {"down": 0, "flat": 1, "up": 2}


def test_text_column_is_refused_only_when_used(tmp_path):
    path = GOOD / "prices.csv"
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "csv", DataConfig(target="signal", features=["price", "notes"]), "multiclass_classification")
    assert caught.value.status == 422
    assert "column 'notes' is not numeric: row 1 holds 'busy'" in caught.value.detail


def test_several_config_problems_are_all_listed(tmp_path):
    with pytest.raises(DatasetError) as caught:
        resolve_spec(GOOD / "prices.csv", "csv", DataConfig(target="sign", features=["prize", "notes"]), "regression")
    msgs = [e["msg"] for e in caught.value.errors]
    assert len(msgs) == 3 and "did you mean 'signal'" in msgs[0] and "did you mean 'price'" in msgs[1]
    assert "more problem" in caught.value.detail


def test_target_required_for_tables():
    with pytest.raises(DatasetError) as caught:
        resolve_spec(GOOD / "classic.csv", "csv", DataConfig(), "binary_classification")
    assert caught.value.errors == [{"loc": ["body", "data", "target"], "msg": caught.value.detail}]
    assert "'x', 'label'" in caught.value.detail


def test_regression_target_text_value_named_with_its_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2.5\n2,3.5\n3,?\n4,1\n")
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "csv", DataConfig(target="y"), "regression")
    assert "row 3 holds '?'" in caught.value.detail


def test_missing_text_label_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,a\n2,\n3,b\n4,a\n")
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "csv", DataConfig(target="y"), "binary_classification")
    assert "1 missing label(s), first at row 2" in caught.value.detail


def test_multiclass_refuses_continuous_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i / 3}\n" for i in range(10)))
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "csv", DataConfig(target="y"), "multiclass_classification")
    assert "Use regression" in caught.value.detail


def test_bad_value_far_into_a_big_file_is_found_with_its_row(tmp_path):
    path = tmp_path / "big.csv"
    rows = [f"{i},{i % 2}" for i in range(200_000)]
    rows[150_000] = "oops,1"
    path.write_text("x,label\n" + "\n".join(rows) + "\n")  # several 1 MiB blocks
    assert inspect_dataset(path, "big.csv", max_bytes=LIMIT)["rows"] == 200_000
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "csv", DataConfig(target="label", features=["x"]), "binary_classification")
    assert "row 150001 holds 'oops'" in caught.value.detail


def test_non_utf8_is_located(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"x,y\n1,2\n3,\xff4\n")
    assert "line 3 (byte 10)" in _raises(path).detail


def test_file_over_the_limit_is_413(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    assert _raises(path, max_bytes=5).status == 413


@pytest.mark.parametrize("filename", ["data.txt", "data", "C:\\Users\\me\\data.CSV", "../../etc/passwd"])
def test_filename_is_only_a_hint(tmp_path, filename):
    path = tmp_path / "upload.bin"
    path.write_text("x,y\n1,2\n3,4\n")
    assert inspect_dataset(path, filename, max_bytes=LIMIT)["format"] == "csv"


def test_extension_that_contradicts_content_is_refused(tmp_path):
    path = tmp_path / "d"
    path.write_text("x,y\n1,2\n3,4\n")
    err = _raises(path, "data.npz")
    assert err.status == 415 and "named like NPZ" in err.detail


def test_parquet_is_read_like_csv(tmp_path):
    info = inspect_dataset(GOOD / "series.parquet", "series.parquet", max_bytes=LIMIT)
    assert info == {"format": "parquet", "rows": 30, "columns": ["x", "y", "label"], "shape": None}
    prepared = prepare_arrays(GOOD / "series.parquet", "parquet", DataConfig(target="label", window=3),
                              "binary_classification")
    assert prepared.X_train.shape == (22, 3, 2) and prepared.spec["class_mapping"] == {"no": 0, "yes": 1}


def test_parquet_that_expands_past_the_limit_is_413(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": np.zeros(100_000), "label": np.zeros(100_000)}), path)
    assert _raises(path, max_bytes=path.stat().st_size + 1000).status == 413


def test_parquet_with_a_column_name_that_is_not_utf8_is_400(tmp_path):
    """Found by the fuzz test: pyarrow raises UnicodeDecodeError (not an ArrowException) on it."""
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"qzqzqz": [1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0]}), path, store_schema=False)
    raw = path.read_bytes()
    assert raw.count(b"qzqzqz") >= 1
    path.write_bytes(raw.replace(b"qzqzqz", b"\x80zqzqz"))
    error = _raises(path, "d.parquet")
    assert error.status == 400 and "corrupt or unreadable" in error.detail


def test_parquet_with_a_value_that_is_not_utf8_is_400(tmp_path):
    path = tmp_path / "d.parquet"
    table = pa.table({"label": ["qzqzqz", "b", "c"] * 5, "x": np.arange(15.0)})
    pq.write_table(table, path, compression="NONE", use_dictionary=False, store_schema=False)
    path.write_bytes(path.read_bytes().replace(b"qzqzqz", b"\x80zqzqz"))
    error = _raises(path, "d.parquet")
    assert error.status == 400 and "UTF8" in error.detail


def test_parquet_text_may_span_lines(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"notes": ["a\nb", "c", "d"], "x": [1, 2, 3]}), path)
    assert inspect_dataset(path, "d.parquet", max_bytes=LIMIT)["rows"] == 3


def test_parquet_non_numeric_types_are_text(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"when": pa.array(np.arange(4).astype("datetime64[s]")),
                             "x": [1, 2, 3, 4], "label": [True, False, True, False]}), path)
    spec = resolve_spec(path, "parquet", DataConfig(target="label"), "binary_classification")
    assert spec["features"] == ["x"] and spec["unused_columns"] == ["when"]
    assert spec["class_mapping"] == {"0": 0, "1": 1}


def test_npz_header_promising_huge_data_is_413_before_reading(tmp_path):
    # A tiny file whose X header claims 8 GB: refused from the header, nothing allocated.
    path = tmp_path / "lying.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key, shape in (("X", (10**7, 10, 10)), ("y", (10**7,))):
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
            zf.writestr(f"{key}.npy", header.getvalue() + b"\0" * 64)
    err = _raises(path)
    assert err.status == 413 and "past the limit" in err.detail


def test_npz_target_and_features_do_not_apply():
    with pytest.raises(DatasetError) as caught:
        resolve_spec(GOOD / "windows.npz", "npz", DataConfig(target="y", features=["a"]), "regression")
    assert [e["loc"] for e in caught.value.errors] == [["body", "data", "target"], ["body", "data", "features"]]


def test_npz_string_labels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(12.0).reshape(6, 2), y=np.array(["cat", "dog"] * 3))
    assert inspect_dataset(path, "d.npz", max_bytes=LIMIT)["shape"] == {"X": [6, 2, 1], "y": [6]}
    spec = resolve_spec(path, "npz", DataConfig(validation_split=0.5), "binary_classification")
    assert spec["class_mapping"] == {"cat": 0, "dog": 1}
    with pytest.raises(DatasetError) as caught:
        resolve_spec(path, "npz", DataConfig(), "regression")
    assert caught.value.errors[0]["loc"] == ["body", "task"]
