"""Regenerates the committed dataset corpus: `python tests/corpus/make_corpus.py`.

The files are committed so the tests (and the HTTP tests reusing malformed/EXPECTED.json) never
depend on this script; it records how each binary file was made (zip timestamps differ per run).
"""
from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
BAD = HERE / "malformed"
GOOD = HERE / "good"

# Past the default upload limit (100 MiB) once inflated, ~100 KiB compressed.
_BOMB_BYTES = 105 * 1024 * 1024


def _npz(path: Path, **arrays) -> None:
    np.savez_compressed(path, **arrays)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def malformed() -> None:
    BAD.mkdir(exist_ok=True)
    text = {
        "empty.csv": b"",
        "blank_lines.csv": b"\n\n\n",
        "semicolons.csv": b"x;y;label\n1;2;0\n3;4;1\n5;6;0\n",
        "ragged.csv": b"x,y,label\n1,2,0\n3,4\n5,6,0\n7,8,1,9\n",
        "duplicate_header.csv": b"x,y,x\n1,2,0\n3,4,1\n",
        "empty_header.csv": b"x,,label\n1,2,0\n3,4,1\n",
        "latin1.csv": "x,caf\u00e9\n1,2\n3,4\n".encode("latin-1"),
        "utf16.csv": "x,label\n1,0\n2,1\n".encode("utf-16"),
        "no_header.csv": b"1,2,0\n3,4,1\n5,6,0\n",
        "header_only.csv": b"x,y,label\n",
        "one_row.csv": b"x,label\n1,0\n",
        "all_text.csv": b"name,city\nann,paris\nbob,rome\n",
        "unclosed_quote.csv": b'x,label\n1,0\n2,"1\n3,0\n4,1\n',
        "binary_junk.bin": bytes(range(256)) * 4,
        "nan_feature.csv": b"x,y,label\n1,2,0\n3,nan,1\n5,,0\n7,8,1\n9,10,0\n11,12,1\n",
        "inf_feature.csv": b"x,label\n1,0\n2,1\ninf,0\n4,1\n5,0\n6,1\n",
        "text_feature.csv": b"x,y,label\n1,2,0\n3,4,1\n5,n/a?,0\n7,8,1\n9,10,0\n11,12,1\n",
        "three_classes.csv": b"x,label\n1,a\n2,b\n3,c\n4,a\n5,b\n6,c\n",
        "one_class.csv": b"x,label\n1,7\n2,7\n3,7\n4,7\n5,7\n",
        "short_series.csv": b"x,label\n1,0\n2,1\n3,0\n4,1\n5,0\n",
        "text_target.csv": b"x,price\n1,cheap\n2,dear\n3,cheap\n4,dear\n",
        "three_rows.csv": b"x,label\n1,0\n2,1\n3,0\n",
    }
    for name, data in text.items():
        (BAD / name).write_bytes(data)

    (BAD / "csv_gzipped.csv.gz").write_bytes(gzip.compress(b"x,label\n1,0\n2,1\n", mtime=0))
    np.save(BAD / "lone_array.npy", np.zeros((4, 3)))
    with zipfile.ZipFile(BAD / "zip_of_csv.csv", "w") as zf:  # a zip wearing a .csv name
        zf.writestr("data.csv", "x,label\n1,0\n2,1\n")
    with zipfile.ZipFile(BAD / "zip_without_arrays.zip", "w") as zf:
        zf.writestr("data.csv", "x,label\n1,0\n2,1\n")

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 4, 2)).astype(np.float32)
    y = (np.arange(10) % 2).astype(np.float32)
    _npz(BAD / "mismatched_lengths.npz", X=X, y=y[:9])
    _npz(BAD / "wrong_rank.npz", X=X[:, :, :, np.newaxis], y=y)
    _npz(BAD / "missing_y.npz", X=X, labels=y)
    _npz(BAD / "lowercase_x.npz", x=X, y=y)
    _npz(BAD / "one_sample.npz", X=X[:1], y=y[:1])
    _npz(BAD / "text_x.npz", X=X.astype(str), y=y)
    nan_X = X.copy()
    nan_X[3, 1, 0] = np.nan
    nan_X[7, 2, 1] = np.inf
    _npz(BAD / "nan_in_x.npz", X=nan_X, y=y)
    _npz(BAD / "onehot_y.npz", X=X, y=np.eye(2, dtype=np.float32)[(np.arange(10) % 2)])
    # np.savez refuses to write object arrays without pickling, which is the point: craft it.
    with zipfile.ZipFile(BAD / "object_array.npz", "w") as zf:
        zf.writestr("X.npy", _npy_bytes(np.array([{"a": 1}] * 10, dtype=object)))
        zf.writestr("y.npy", _npy_bytes(y))
    with zipfile.ZipFile(BAD / "zip_bomb.npz", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        n = _BOMB_BYTES // (8 * 10 * 10)
        zf.writestr("X.npy", _npy_bytes(np.zeros((n, 10, 10))))
        zf.writestr("y.npy", _npy_bytes(np.zeros(n)))
    with zipfile.ZipFile(BAD / "zip_bomb_member.npz", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("X.npy", _npy_bytes(X))
        zf.writestr("y.npy", _npy_bytes(y))
        zf.writestr("padding.bin", bytes(_BOMB_BYTES))

    good_parquet = io.BytesIO()
    pq.write_table(pa.table({"x": np.arange(20.0), "label": np.arange(20) % 2}), good_parquet)
    (BAD / "truncated.parquet").write_bytes(good_parquet.getvalue()[:-40])
    pq.write_table(pa.table({"x": [1.0, float("nan"), 3.0, 4.0, 5.0], "label": [0, 1, 0, 1, 0]}),
                   BAD / "nan_feature.parquet")


def good() -> None:
    GOOD.mkdir(exist_ok=True)
    rows = ["x,label"] + [f"{i / 10:.1f},{i % 2}" for i in range(20)]
    (GOOD / "classic.csv").write_text("\n".join(rows) + "\n")
    rows = ["t, price ,volume,notes,signal"] + [
        f"2024-01-{i + 1:02d}, {100 + i * 0.5} ,{1000 + 37 * i % 97},{'calm' if i % 3 else 'busy'},"
        f"{['down', 'flat', 'up'][i % 3]}" for i in range(24)]
    (GOOD / "prices.csv").write_text("\r\n".join(rows) + "\r\n")  # Windows line endings, padded header
    pq.write_table(pa.table({"x": np.sin(np.arange(30) / 3), "y": np.cos(np.arange(30) / 3),
                             "label": np.array(["no", "yes"])[np.arange(30) % 2]}), GOOD / "series.parquet")
    rng = np.random.default_rng(1)
    np.savez(GOOD / "windows.npz", X=rng.normal(size=(12, 5, 3)), y=np.arange(12) % 3)
    np.savez(GOOD / "windows_2d.npz", X=rng.normal(size=(12, 5)).astype(np.float32), y=rng.normal(size=(12, 2)))


if __name__ == "__main__":
    malformed()
    good()
