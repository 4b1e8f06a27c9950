"""The first checks a /v1 request meets, before a byte of its body is read.

- Authentication: an unauthenticated client announcing a 90 MiB body gets its 401 at once, not
  after the server has received (and buffered) the body.
- Ids in paths: `/v1/jobs/{id}`, `/v1/datasets/{id}`, `/v1/diagnoses/{id}` (and everything under
  them) must look like ids we mint; anything else is a 404 before it is spelt into a Redis key.

Pure ASGI, so nothing is buffered and the routes' own checks (``deps.get_tenant``) stay as the
second line: they find the tenant this middleware resolved in the request state.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth import OPEN_TENANT, Keyring
from service.problems import Problem, problem_response

# new_id(): prefix, 12 hex digits of milliseconds, 12 random hex digits.
ID_PATTERNS = {
    "jobs": ("job", re.compile(r"job_[0-9a-f]{24}")),
    "datasets": ("dataset", re.compile(r"ds_[0-9a-f]{24}")),
    "diagnoses": ("diagnosis", re.compile(r"dx_[0-9a-f]{24}")),
}
_RESOURCE_PATH = re.compile(r"/v1/(jobs|datasets|diagnoses)/([^/]*)")


def unauthorized(has_credentials: bool) -> Problem:
    detail = "The API key is not known." if has_credentials else "Send your API key as 'Authorization: Bearer <key>'."
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def tenant_from_header(keyring: Keyring, authorization: str | None) -> str | None:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return keyring.tenant_for(key.strip())


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, keyring: Keyring) -> None:
        self.app = app
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/v1/") and path != "/v1":
            await self.app(scope, receive, send)
            return
        if self.keyring.open:
            tenant: str | None = OPEN_TENANT
        else:
            authorization = Headers(scope=scope).get("authorization")
            tenant = tenant_from_header(self.keyring, authorization)
            if tenant is None:
                await problem_response(unauthorized(authorization is not None))(scope, receive, send)
                return
        scope.setdefault("state", {})["tenant"] = tenant
        if match := _RESOURCE_PATH.match(path):
            noun, pattern = ID_PATTERNS[match.group(1)]
            resource_id = match.group(2)
            if not pattern.fullmatch(resource_id):
                shown = resource_id[:80]
                await problem_response(Problem(404, f"There is no {noun} {shown!r}."))(scope, receive, send)
                return
        await self.app(scope, receive, send)
