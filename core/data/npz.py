"""Safe reading of NPZ uploads: arrays `X` and `y`, never pickles, never past the size limit.

We read the zip ourselves instead of `np.load` so that each array's header (dtype, shape) is
checked before a byte of its data is inflated: object dtypes are refused without unpickling,
and a shape whose data would pass `max_bytes` is a 413 before any allocation. The data is then
read with `allow_pickle=False` and exactly as many bytes as the header promises, so a member
that inflates further than its zip entry claims (a zip bomb) cannot make us read more.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.errors import DatasetError

_HOW_TO_SAVE = "Save it with np.savez('data.npz', X=X, y=y)"
_NUMERIC_KINDS = "biuf"  # bool, int, uint, float
_LABEL_KINDS = _NUMERIC_KINDS + "U"
# What a malformed zip or .npy can raise from the zipfile/zlib/numpy readers.
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    zlib.error,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    OverflowError,
)


@dataclass
class NpzArrays:
    X: np.ndarray  # (samples, timesteps, features); a 2-D upload gets a features axis of 1
    y: np.ndarray  # (samples,) or (samples, outputs); numbers, or str labels


def read_npz(path: Path, *, max_bytes: int) -> NpzArrays:
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(zf, max_bytes)
            X_info, X_dtype = _header(zf, members["X"], "X", (2, 3), _NUMERIC_KINDS)
            y_info, y_dtype = _header(zf, members["y"], "y", (1, 2), _LABEL_KINDS)
            _check_shapes(X_info, y_info, X_dtype, y_dtype, max_bytes)
            X = _read(zf, members["X"])
            y = _read(zf, members["y"])
    except _CORRUPT as e:
        raise DatasetError(
            400, f"The NPZ file is corrupt or unreadable ({type(e).__name__}: {str(e)[:160]}). {_HOW_TO_SAVE}."
        ) from None
    if X.ndim == 2:
        X = X[:, :, np.newaxis]
    _check_finite(X, "X")
    if y.dtype.kind in _NUMERIC_KINDS:
        _check_finite(y, "y")
    if len(X) < 2:
        raise DatasetError(422, f"The NPZ holds {len(X)} sample(s); at least 2 are needed to train.")
    return NpzArrays(X, y)


def _members(zf: zipfile.ZipFile, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    arrays = {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy")}
    names = [i.filename for i in infos]
    if not arrays:
        if "[Content_Types].xml" in names:
            raise DatasetError(415, "The file is an Office document (e.g. .xlsx), not NPZ. Export the sheet as CSV.")
        raise DatasetError(
            415,
            f"The zip archive holds no .npy arrays (found {_listing(names)}), so it is not "
            "an NPZ. Upload a CSV as it is (not zipped), or save arrays with np.savez('data.npz', X=X, y=y).",
        )
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        hint = " (names are case-sensitive)" if any(k.swapcase() in arrays for k in missing) else ""
        raise DatasetError(
            400,
            f"The NPZ has no array named {' or '.join(map(repr, missing))}{hint}; it holds "
            f"{_listing(list(arrays))}. {_HOW_TO_SAVE}.",
        )
    declared = sum(i.file_size for i in infos)
    if declared > max_bytes:
        raise DatasetError(
            413, f"The NPZ expands to {declared} bytes, past the limit of {max_bytes} bytes. Upload a smaller dataset."
        )
    for key in ("X", "y"):
        if arrays[key].flag_bits & 0x1:
            raise DatasetError(400, f"Array {key!r} is encrypted in the zip. Upload an unencrypted NPZ.")
    return arrays


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "") if names else "nothing"


def _header(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, ranks: tuple[int, ...], kinds: str
) -> tuple[tuple[int, ...], np.dtype]:
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DatasetError(
                400, f"Array {key!r} uses .npy format version {version}, which we do not read. {_HOW_TO_SAVE}."
            )
    if dtype.hasobject:
        raise DatasetError(
            400,
            f"Array {key!r} holds Python objects (a pickled object array), which are never "
            f"loaded. Save numbers instead, e.g. {key}.astype('float32').",
        )
    if dtype.kind not in kinds:
        what = "numbers" if kinds == _NUMERIC_KINDS else "numbers or string labels"
        raise DatasetError(422, f"Array {key!r} has dtype {dtype}; it must hold {what}.")
    if len(shape) not in ranks:
        expected = (
            "(samples, timesteps, features) or (samples, timesteps)"
            if key == "X"
            else "(samples,) or (samples, outputs)"
        )
        raise DatasetError(
            400, f"Array {key!r} has shape {shape} ({len(shape)} dimensions); it must be shaped {expected}."
        )
    if 0 in shape[1:]:
        raise DatasetError(400, f"Array {key!r} has shape {shape}: every dimension after the first must be at least 1.")
    return shape, dtype


def _check_shapes(
    X_shape: tuple[int, ...], y_shape: tuple[int, ...], X_dtype: np.dtype, y_dtype: np.dtype, max_bytes: int
) -> None:
    if X_shape[0] != y_shape[0]:
        raise DatasetError(
            400,
            f"X has {X_shape[0]} samples but y has {y_shape[0]}; they must have the same "
            "length (one target per sample).",
        )
    expanded = (
        int(np.prod(X_shape, dtype=object)) * X_dtype.itemsize + int(np.prod(y_shape, dtype=object)) * y_dtype.itemsize
    )
    if expanded > max_bytes:
        raise DatasetError(
            413,
            f"The arrays X {X_shape} and y {y_shape} take {expanded} bytes, past the limit "
            f"of {max_bytes} bytes. Upload a smaller dataset.",
        )


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _check_finite(a: np.ndarray, key: str) -> None:
    if a.dtype.kind != "f":
        return
    bad = ~np.isfinite(a)
    count = int(np.count_nonzero(bad))
    if count:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(
            422,
            f"Array {key!r} has {count} NaN or infinite value(s), first at {key}{list(first)} "
            f"= {a[first]}. Fill or drop them before uploading.",
        )
