"""Streams a multipart upload into a local staging file (hashed as it is written).

Starlette's form parser would spool the whole body before we could look at its size; parsing
the stream ourselves lets us stop at the first byte past the limit (413) and hash as we write.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from core.blobs import BlobCache
from service.problems import Problem

MAX_NAME_BYTES = 1024
# Room for the form around the file (part headers, boundaries, the `name` field): a multipart body
# may exceed the upload limit by this much, the file itself by nothing.
FORM_OVERHEAD_BYTES = 64 * 1024


def max_body_bytes(max_file_bytes: int) -> int:
    """The largest multipart body that can carry a file of ``max_file_bytes``."""
    return max_file_bytes + FORM_OVERHEAD_BYTES


def too_large(max_file_bytes: int) -> Problem:
    return Problem(
        413,
        f"The upload is larger than the {max_file_bytes // (1024 * 1024)} MiB limit "
        "(LSTM_DOCTOR_MAX_UPLOAD_MB). Send a smaller file or ask the operator to raise the limit.",
    )


@dataclass
class Upload:
    path: Path
    filename: str
    name: str | None
    size: int
    sha256: str


class _TooLarge(Exception):
    pass


async def receive_upload(request: Request, files: BlobCache, max_bytes: int) -> Upload:
    """Returns the staged upload; raises Problem (and leaves nothing behind) when it is not acceptable."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise Problem(415, "Upload the dataset as multipart/form-data with the file in field 'file'.")
    # The body as a whole was bounded by BodyLimitMiddleware (max_body_bytes); here, the file.
    staged = files.staging_file()
    state: dict = {
        "part": None,
        "headers": {},
        "field": b"",
        "value": b"",
        "filename": None,
        "name": None,
        "size": 0,
        "file_seen": False,
    }
    digest = hashlib.sha256()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        field = disposition.get(b"name", b"").decode(errors="replace")
        state["part"] = field
        if field == "file":
            state["file_seen"] = True
            raw = disposition.get(b"filename", b"upload").decode(errors="replace")
            # Keep only the last path component: a filename is a label, never a path.
            state["filename"] = os.path.basename(raw.replace("\\", "/")) or "upload"
        elif field == "name":
            state["name"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if state["part"] == "file":
            state["size"] += len(chunk)
            if state["size"] > max_bytes:
                raise _TooLarge
            digest.update(chunk)
            staged.write(chunk)
        elif state["part"] == "name":
            state["name"] += chunk
            if len(state["name"]) > MAX_NAME_BYTES:
                raise Problem(422, f"Field 'name' is longer than {MAX_NAME_BYTES} bytes.")

    def on_part_end() -> None:
        state["part"], state["headers"] = None, {}

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except _TooLarge:
        _discard(staged)
        raise too_large(max_bytes) from None
    except MultipartParseError as exc:
        _discard(staged)
        raise Problem(400, f"The multipart body could not be parsed: {exc}.") from None
    except ClientDisconnect:
        _discard(staged)
        raise Problem(400, "The upload was interrupted before it ended; nothing was kept.") from None
    except BaseException:
        _discard(staged)
        raise
    staged.close()
    if not state["file_seen"]:
        Path(staged.name).unlink(missing_ok=True)
        raise Problem(
            422,
            "The form has no field 'file': send the dataset as -F file=@data.csv.",
            errors=[{"loc": ["body", "file"], "msg": "field required"}],
        )
    name = state["name"].decode(errors="replace").strip() if state["name"] else None
    return Upload(Path(staged.name), state["filename"], name or None, state["size"], digest.hexdigest())


def _discard(staged) -> None:
    staged.close()
    Path(staged.name).unlink(missing_ok=True)
