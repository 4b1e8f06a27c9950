"""What the sync and async clients share: building requests, reading answers, retry timing."""

from __future__ import annotations

import email.utils
import io
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx

from lstm_doctor_client.errors import LstmDoctorError

DEFAULT_URL = "http://127.0.0.1:8000"
# Worth another try: rate limits, and a server or its Redis briefly away.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT_S = 60.0


def base_url(url: str | None) -> str:
    return (url or os.environ.get("LSTM_DOCTOR_URL") or DEFAULT_URL).rstrip("/")


def auth_headers(api_key: str | None) -> dict[str, str]:
    key = api_key or os.environ.get("LSTM_DOCTOR_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def retry_delay(response: httpx.Response | None, attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): the server's Retry-After when it sent
    one (seconds or an HTTP date), else exponential backoff with jitter."""
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        header = header.strip()
        if header.isdigit():
            return min(float(header), MAX_RETRY_WAIT_S)
        try:
            when = email.utils.parsedate_to_datetime(header)
            return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_WAIT_S)
        except (TypeError, ValueError):
            pass
    return min(0.5 * 2**attempt, MAX_RETRY_WAIT_S) * (0.5 + random.random() / 2)


def raise_for_problem(response: httpx.Response) -> httpx.Response:
    if response.status_code < 400:
        return response
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text[:500]}
    raise LstmDoctorError(response.status_code, problem if isinstance(problem, dict) else {"detail": str(problem)})


def upload_file(data: Any, name: str | None) -> tuple[str, Any]:
    """(file name, bytes or a path to stream) for POST /v1/datasets, from a path, a DataFrame,
    arrays ``(X, y)`` / ``{"X": X, "y": y}``, or bytes."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        return name or path.name, path
    if isinstance(data, (bytes, bytearray)):
        return name or "data", bytes(data)
    if hasattr(data, "to_csv"):  # a pandas DataFrame: the index is not a column
        return name or "dataframe.csv", data.to_csv(index=False).encode()
    if isinstance(data, dict) or isinstance(data, tuple):
        import numpy as np

        X, y = (data["X"], data["y"]) if isinstance(data, dict) else data
        buffer = io.BytesIO()
        np.savez(buffer, X=np.asarray(X), y=np.asarray(y))
        return name or "arrays.npz", buffer.getvalue()
    raise TypeError("upload a path, a pandas DataFrame, arrays (X, y) or {'X': X, 'y': y}, or bytes")


def files_for(file_name: str, content: Any) -> dict:
    body = content.open("rb") if isinstance(content, Path) else content
    return {"file": (file_name, body)}


def job_config(
    dataset_id: str, config: dict[str, Any] | None, target: str | None, fields: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {**(config or {}), **fields, "dataset_id": dataset_id}
    if target is not None:
        body["data"] = {**body.get("data", {}), "target": target}
    return body


def prediction_request(rows: Any, X: Any, csv: str | bytes | None) -> dict[str, Any]:
    """httpx keyword arguments for a prediction body."""
    given = [part is not None for part in (rows, X, csv)]
    if sum(given) != 1:
        raise TypeError("pass exactly one of rows=, X= or csv=")
    if csv is not None:
        return {"content": csv, "headers": {"Content-Type": "text/csv"}}
    if rows is not None and hasattr(rows, "to_csv"):
        return {"content": rows.to_csv(index=False), "headers": {"Content-Type": "text/csv"}}
    if rows is not None:
        return {"json": {"rows": list(rows)}}
    import numpy as np

    return {"json": {"X": np.asarray(X, dtype=float).tolist()}}


def progress_of(job_config_: dict[str, Any], run: int, epoch: int) -> dict[str, Any]:
    runs, epochs = job_config_["training"]["repeats"], job_config_["training"]["epochs"]
    return {
        "run": run,
        "runs": runs,
        "epoch": epoch,
        "epochs": epochs,
        "fraction": round(((run - 1) * epochs + epoch) / (runs * epochs), 4),
    }
