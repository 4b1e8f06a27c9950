"""Reading the rows of a prediction request and checking them against what the model was trained
on, before any worker is bothered: a bad value is a 422 naming its column and row.

Tables come as JSON (``{"rows": [{"column": value, …}, …]}``) or as a CSV body with a header row;
NPZ-trained models take ``{"X": [...]}`` shaped like the training X. Rows are numbered from 1, as
in dataset errors; JSON `loc`s use 0-based indexes, as JSON pointers do.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.problems import Problem

MAX_ERRORS = 10


@dataclass
class PredictionInput:
    kind: str  # "table" | "arrays"
    values: list  # table: rows × features (floats, features in training order); arrays: samples as given
    samples: int  # predictions this input gives


def parse(body: bytes, content_type: str, preprocessing: dict, max_rows: int) -> PredictionInput:
    media = content_type.split(";", 1)[0].strip().lower()
    table = preprocessing["input"]["kind"] == "table"
    if media in ("text/csv", "application/csv"):
        if not table:
            raise Problem(
                415, 'This model was trained on an NPZ dataset: send {"X": [...]} as application/json, not CSV.'
            )
        return _table(_csv_rows(body), preprocessing, max_rows, source="csv")
    if media != "application/json":
        raise Problem(
            415,
            'Send application/json ({"rows": [...]} or {"X": [...]}) or text/csv with a header '
            f"row (the request said {content_type[:80]!r}).",
        )
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(
            422,
            f"The body is not valid JSON: {exc}.",
            title="Validation failed",
            errors=[{"loc": ["body"], "msg": "not valid JSON"}],
        ) from None
    expected = "rows" if table else "X"
    if not isinstance(document, dict) or set(document) != {expected}:
        got = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise Problem(
            422,
            f"Send an object with exactly one member {expected!r} (this model was trained on "
            f"{'a table' if table else 'NPZ arrays'}); got {got}.",
            title="Validation failed",
            errors=[{"loc": ["body", expected], "msg": "required"}],
        )
    if table:
        rows = document["rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise Problem(
                422,
                'rows must be a list of objects, one per row: {"column": value, …}.',
                title="Validation failed",
                errors=[{"loc": ["body", "rows"], "msg": "not a list of objects"}],
            )
        return _table(rows, preprocessing, max_rows, source="json")
    return _arrays(document["X"], preprocessing, max_rows)


def _csv_rows(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(400, f"The CSV is not UTF-8 text (byte {exc.start} cannot be decoded).") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise Problem(
            422,
            "The CSV body is empty: send a header row naming the columns, then the rows.",
            title="Validation failed",
            errors=[{"loc": ["body"], "msg": "empty"}],
        )
    names = [name.strip() for name in header]
    rows = []
    for number, fields in enumerate(reader, start=1):
        if not fields:
            continue  # blank line
        if len(fields) != len(names):
            raise Problem(
                422,
                f"Row {number} has {len(fields)} field(s) but the header names {len(names)} columns.",
                title="Validation failed",
                errors=[{"loc": ["body", number - 1], "msg": "ragged row"}],
            )
        rows.append(dict(zip(names, (field.strip() for field in fields))))
    return rows


def _table(rows: list[dict[str, Any]], preprocessing: dict, max_rows: int, source: str) -> PredictionInput:
    features: list[str] = preprocessing["input"]["features"]
    window = int(preprocessing["input"]["window"])
    if len(rows) > max_rows:
        raise Problem(
            413,
            f"{len(rows)} rows is more than the {max_rows} one request may hold "
            "(LSTM_DOCTOR_MAX_PREDICTION_ROWS); split them into several requests (overlapping by "
            f"{window - 1} rows, so no window is lost).",
        )
    if len(rows) < window:
        raise Problem(
            422,
            f"The model reads windows of {window} rows, and {len(rows)} row(s) make no complete "
            f"window; send at least {window}.",
            title="Validation failed",
            errors=[{"loc": ["body", "rows"], "msg": f"fewer than {window} rows"}],
        )
    errors: list[dict] = []
    details: list[str] = []
    values: list[list[float]] = []
    for i, row in enumerate(rows):
        out = []
        for name in features:
            number, problem = _number(row.get(name, _MISSING), source)
            if problem:
                errors.append({"loc": ["body", "rows", i, name], "msg": problem})
                details.append(f"row {i + 1}, column {name!r}: {problem}")
            out.append(number)
        values.append(out)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        more = " (and maybe more; fix these first)" if len(errors) >= MAX_ERRORS else ""
        raise Problem(
            422,
            f"Some values cannot be used — {'; '.join(details[:3])}{more}. The model needs a number "
            f"in each of its feature columns {features} in every row.",
            title="Validation failed",
            errors=errors,
        )
    return PredictionInput("table", values, len(rows) - window + 1)


_MISSING = object()


def _number(value: Any, source: str) -> tuple[float, str | None]:
    if value is _MISSING:
        return 0.0, "missing: every row needs every feature column"
    if source == "csv":
        if value == "":
            return 0.0, "empty"
        try:
            number = float(value)
        except ValueError:
            return 0.0, f"{value[:40]!r} is not a number"
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0, f"{json.dumps(value)[:40]} is not a number"
    else:
        number = float(value)
    if not math.isfinite(number):
        return 0.0, f"{value!r} is not a finite number"
    return number, None


def _arrays(X: Any, preprocessing: dict, max_rows: int) -> PredictionInput:
    timesteps, n_features = preprocessing["input"]["timesteps"], preprocessing["input"]["n_features"]
    want = f"(samples, {timesteps}, {n_features})" + (f" or (samples, {timesteps})" if n_features == 1 else "")
    if not isinstance(X, list) or not X:
        raise Problem(
            422,
            f"X must be a non-empty list of samples shaped {want}.",
            title="Validation failed",
            errors=[{"loc": ["body", "X"], "msg": "not a non-empty list"}],
        )
    if len(X) > max_rows:
        raise Problem(
            413,
            f"{len(X)} samples is more than the {max_rows} one request may hold "
            "(LSTM_DOCTOR_MAX_PREDICTION_ROWS); split them into several requests.",
        )
    try:
        array = np.asarray(X, dtype=np.float64)
    except (ValueError, TypeError):
        raise Problem(
            422,
            f"X is ragged or holds something that is not a number; it must be shaped {want}.",
            title="Validation failed",
            errors=[{"loc": ["body", "X"], "msg": "ragged or not numeric"}],
        ) from None
    if array.ndim == 2 and n_features == 1:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[1:] != (timesteps, n_features):
        raise Problem(
            422,
            f"X is shaped {tuple(array.shape)}, but the model was trained on samples shaped {want}.",
            title="Validation failed",
            errors=[{"loc": ["body", "X"], "msg": "wrong shape"}],
        )
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        sample, step, feature = (int(v) for v in bad[0])
        raise Problem(
            422,
            f"X has {len(bad)} value(s) that are not finite numbers, first at sample {sample}, "
            f"timestep {step}, feature {feature}.",
            title="Validation failed",
            errors=[{"loc": ["body", "X", sample, step, feature], "msg": "not a finite number"}],
        )
    return PredictionInput("arrays", array.tolist(), len(array))
