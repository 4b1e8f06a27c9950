"""What the client raises: the server's problem details, readable."""

from __future__ import annotations

from typing import Any


class LstmDoctorError(Exception):
    """A 4xx/5xx answer. ``problem`` is its RFC 9457 body (``detail`` says what to change)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        super().__init__(f"{status}: {self.detail}")


class JobTimeout(TimeoutError):
    """wait() ran out of time; the job goes on on the server."""
