"""Schemathesis against the running app's OpenAPI document: generated requests, valid and not,
never get a 5xx, and every answer matches what the document says (status code, content type,
headers, body schema). Bounded so it stays a quick part of `make test`."""
from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from core.settings import Settings
from service.app import create_app
from tests.helpers import bearer

# The keyed app: what the fuzzer stores stays in a tenant of its own, and the document's bearer
# security is really enforced (open mode would accept a missing key).
AUTH = bearer("fuzz")
EXAMPLES_PER_OPERATION = 25
_FRAMING = {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade"}
# What the contract promises about every answer. Left out on purpose: positive_data_acceptance
# (a schema-valid body may still name a dataset that does not exist, or upload a PNG as a
# dataset: 4xx is right) and negative_data_rejection (a scalar query parameter given twice is
# read as its last value, as Starlette does everywhere, rather than refused).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, ignored_auth, missing_required_header, unsupported_method]


def _document() -> dict:
    """The document the app generates, built at collection time so each operation is its own test
    (the running app serves the same one: see the first test). No Redis is contacted to build it."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", log_level="WARNING", _env_file=None))
    return app.openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_running_app_serves_the_fuzzed_document(api, keyed_api):
    assert httpx.get(f"{api.url}/openapi.json").json() == DOCUMENT
    assert httpx.get(f"{keyed_api.url}/openapi.json").json() == DOCUMENT  # keys change nothing documented


@schema.parametrize()
@hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
                     suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, keyed_api, worker):
    # Framing headers belong to the transport, not to the API: a generated `content-length: *.u`
    # is refused by the HTTP server (uvicorn's plain 400) before the app sees the request.
    if case.headers:
        case.headers = {k: v for k, v in case.headers.items() if k.lower() not in _FRAMING}
    # With a worker online, /readyz answers 200: its 503 is documented but is a 5xx all the same.
    case.call_and_validate(base_url=keyed_api.url, headers=AUTH, checks=CHECKS, timeout=30)
