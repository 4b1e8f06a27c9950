"""Which format an upload is in, told by its first bytes; the extension may only agree.

Policy: content decides. A known extension that names a *different* format than the content is
rejected (415) rather than silently read as the other format, because it is nearly always a
mistake (a zipped CSV renamed, the wrong file picked) and the user should know. Unknown or
missing extensions (.txt, .dat, none) are read by content. `filename` is only ever parsed as a
name, never opened.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from core.data.errors import DatasetError

_EXTENSIONS = {".csv": "csv", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet"}

# Magic numbers of things people upload by mistake, with the fix to tell them.
_UNSUPPORTED = (
    (b"\x93NUMPY", "a single NumPy .npy array; save X and y together with np.savez('data.npz', X=X, y=y)"),
    (b"\x1f\x8b", "gzip-compressed; upload the uncompressed CSV, NPZ or Parquet file"),
    (b"BZh", "bzip2-compressed; upload the uncompressed file"),
    (b"\xfd7zXZ\x00", "xz-compressed; upload the uncompressed file"),
    (b"(\xb5/\xfd", "zstd-compressed; upload the uncompressed file"),
    (b"\xd0\xcf\x11\xe0", "a legacy Microsoft Office document (e.g. .xls); export the sheet as CSV"),
    (b"%PDF", "a PDF document; upload the data as CSV, NPZ or Parquet"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def extension_format(filename: str) -> str | None:
    """The format a filename claims, if its extension is one we know."""
    # Backslashes too: Windows clients send "C:\\data\\x.csv"; only the last part matters.
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    return _EXTENSIONS.get(suffix)


def detect_format(path: Path, filename: str) -> str:
    with path.open("rb") as f:
        head = f.read(8)
    if not head:
        raise DatasetError(
            400, "The file is empty. Upload a CSV with a header row, an NPZ with X and y, or a Parquet file."
        )
    by_content = _content_format(head)
    claimed = extension_format(filename)
    if claimed is not None and claimed != by_content:
        raise DatasetError(
            415,
            f"The file is named like {claimed.upper()} ({filename!r}) but its content is "
            f"{_describe(by_content)}. Rename it to match its content, or upload the intended file.",
        )
    return by_content


def _content_format(head: bytes) -> str:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"  # a zip; the NPZ reader says so when it holds no arrays
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, what in _UNSUPPORTED:
        if head.startswith(magic):
            raise DatasetError(415, f"Unsupported format: the file is {what}.")
    if head.startswith(_UTF16_BOMS):
        raise DatasetError(400, "The file is UTF-16 text; save it as UTF-8 (comma-separated) and upload again.")
    # Anything else is taken for CSV text; the CSV reader rejects binary junk and bad encodings
    # with the position of the first offending byte.
    return "csv"


def _describe(fmt: str) -> str:
    return {
        "csv": "not NPZ or Parquet (it does not start with a zip or Parquet header)",
        "npz": "a zip archive (NPZ)",
        "parquet": "Parquet",
    }[fmt]
