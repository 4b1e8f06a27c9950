"""docs/api.md, the contract shipped with the code, and the OpenAPI document the app serves name
the same endpoints: every endpoint the page names is served (or listed under "Not served yet",
and then really not served), and every /v1 endpoint served is on the page."""
from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings
from service.app import create_app

API_DOC = Path(__file__).parent.parent / "docs" / "api.md"
ENDPOINT = re.compile(r"`(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^`?\s]*)")
PENDING_HEADING = "## Not served yet"
METHODS = {"get", "head", "post", "put", "patch", "delete"}


def normalized(path: str) -> str:
    """Parameter names and suffixes differ between prose and routes ({id}.png vs {filename})."""
    return "/".join("{}" if "{" in segment else segment for segment in path.split("/"))


def named(text: str) -> set[tuple[str, str]]:
    return {(method, normalized(path)) for method, path in ENDPOINT.findall(text)}


def served() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(endpoints in the OpenAPI document, endpoints the app routes outside it: /docs, /openapi.json)."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", log_level="WARNING", _env_file=None))
    documented = {(method.upper(), normalized(path)) for path, item in app.openapi()["paths"].items()
                  for method in item if method in METHODS}
    routed = {(method, normalized(route.path)) for route in app.routes
              for method in getattr(route, "methods", None) or ()}
    return documented, routed


def test_the_page_and_the_openapi_document_name_the_same_endpoints():
    text = API_DOC.read_text()
    contract, pending_part = text.split(PENDING_HEADING, 1) if PENDING_HEADING in text else (text, "")
    pending = named(pending_part)
    documented, routed = served()
    assert named(contract), "no endpoints found in docs/api.md"

    not_served = sorted(e for e in named(contract) - pending if e not in documented and e not in routed)
    assert not_served == [], "named in docs/api.md but not served (serve them or list them under 'Not served yet')"
    served_but_pending = sorted(pending & (documented | routed))
    assert served_but_pending == [], "served now: take them out of 'Not served yet' in docs/api.md"
    undocumented = sorted(e for e in documented - named(contract) if e[1].startswith("/v1/"))
    assert undocumented == [], "served but not in docs/api.md: write them into the contract"


def test_the_endpoint_pattern_reads_the_forms_the_page_uses():
    assert named("`GET /v1/jobs/{id}/plots/{metric}.png` and `GET /v1/jobs/{id}/model?run=N`") == {
        ("GET", "/v1/jobs/{}/plots/{}"), ("GET", "/v1/jobs/{}/model")}
