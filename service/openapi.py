"""The OpenAPI document the app serves: FastAPI's generated one, corrected to say what the app
really answers on errors (problem details, RFC 9457)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from service.problems import MEDIA_TYPE, ProblemDetails

_PROBLEM_CONTENT = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}


def _problem_response_doc(code: str) -> dict[str, Any]:
    return {"description": HTTPStatus(int(code)).phrase, "content": _PROBLEM_CONTENT}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Makes the generated OpenAPI document say what the app really answers on errors.

    FastAPI documents error models as ``application/json`` and validation errors in its own
    shape; here every 4xx/5xx becomes ``application/problem+json`` with ``ProblemDetails``, and
    the errors any operation can meet (401 and 503 under /v1, 413/415/422 with a body, 422 with
    parameters, 500) are listed. One pass over the document instead of a note on every route.
    """
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = _PROBLEM_CONTENT
            can_fail = {"500"}
            if path.startswith("/v1/"):
                can_fail |= {"401", "503"}  # 503 + Retry-After: Redis did not answer in time
            if operation.get("parameters") or operation.get("requestBody"):
                can_fail.add("422")
            if operation.get("requestBody"):
                can_fail |= {"400", "413", "415"}
            for code in sorted(can_fail):
                responses.setdefault(code, _problem_response_doc(code))
            if method == "get" and "application/json" in responses.get("200", {}).get("content", {}):
                responses.setdefault("304", {"description": "Not Modified: If-None-Match matched the ETag"})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["ProblemDetails"] = problem_schema
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    """Serves the corrected document (built once, on first request) at /openapi.json and /docs."""
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
