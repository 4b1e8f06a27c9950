"""The one exception the dataset library raises, carrying an RFC 9457 problem's fields.

Status codes, chosen by what the user has to change:
- 400: the file does not follow the format contract of docs/api.md (garbled or corrupt bytes, ragged
  rows, bad header, not UTF-8, missing/object/mis-shaped NPZ arrays, mismatched lengths).
- 413: the file, or what an archive expands to, is past the size limit.
- 415: not a format we read (binary junk, gzip, Excel, a lone .npy, ...).
- 422: a well-formed file whose values cannot be trained on (NaN/inf, text where numbers are
  needed, too few samples) or a job config that does not fit the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence

_TITLES = {
    400: "Invalid dataset",
    413: "Dataset too large",
    415: "Unsupported dataset format",
    422: "Dataset cannot be used",
}


class DatasetError(Exception):
    """A problem with an uploaded dataset or with a data config against it.

    `detail` is meant for the person who uploaded the file: what is wrong, where, and the fix.
    `errors` lists field-level problems as {"loc": [...], "msg": ...} (config mismatches)."""

    def __init__(self, status: int, detail: str, errors: Sequence[dict] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.title = _TITLES[status]
        self.detail = detail
        self.errors = list(errors)

    def __repr__(self) -> str:
        return f"DatasetError({self.status}, {self.detail!r})"


def config_error(field: str, msg: str) -> DatasetError:
    """A 422 for a job config field that cannot work with the dataset: "task", or a field of
    `data` ("target", "features", "window", ...)."""
    return config_errors([(field, msg)])


def config_errors(problems: Sequence[tuple[str, str]]) -> DatasetError:
    errors = [{"loc": _loc(field), "msg": msg} for field, msg in problems]
    detail = problems[0][1]
    if len(problems) > 1:
        detail += f" (and {len(problems) - 1} more problem(s), see errors)"
    return DatasetError(422, detail, errors)


def _loc(field: str) -> list[str]:
    return ["body", field] if field == "task" else ["body", "data", field]
