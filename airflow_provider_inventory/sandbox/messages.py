"""Plain request/response values passed between the HTTP layer and the API handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

JSON_TYPE = "application/json"
JSONAPI_TYPE = "application/vnd.api+json"


@dataclass
class Request:
    """One parsed HTTP request.

    ``query`` maps each parameter name to its values in order (as ``parse_qs`` does, but
    keeping blank values); ``query_items`` keeps the original order of all pairs.
    Header names in ``headers`` are lower-case.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    query_items: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    base_url: str
    raw_target: str  # path and query string exactly as requested

    def param(self, name: str) -> str | None:
        """The last value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def url(self) -> str:
        """The absolute URL of this request."""
        return self.base_url + self.raw_target


@dataclass
class Response:
    """A response to send.

    ``short_read`` declares the whole body in Content-Length but sends only its first half
    and then closes the connection (a transfer cut off mid-body).
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    short_read: bool = False


@dataclass
class Context:
    """Per-request instructions from injected faults to the API handlers.

    ``next_link`` replaces the ``next`` link of a list page: "repeat" means the URL just
    requested (written in the API's link style), any other string is used verbatim.
    ``expire_token`` makes the Commerce Layer token of this request expire now.
    """

    next_link: str | None = None
    expire_token: bool = False


@dataclass(frozen=True)
class LoggedRequest:
    """One API request the sandbox answered (see ``Sandbox.requests``).

    ``api`` is "pack" (``/v1/...``), "commercelayer" (``/api/...``), "oauth"
    (``/oauth/token``) or "other"; ``authorized`` is True when an Authorization header
    came (valid or not); ``time`` is the wall-clock time (``time.time()``) it arrived.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    authorized: bool
    api: str
    time: float


def json_response(
    status: int, document: Any, content_type: str = JSON_TYPE, headers: dict[str, str] | None = None
) -> Response:
    """A response whose body is ``document`` as compact JSON."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": content_type, **(headers or {})})


def encode_query(items: list[tuple[str, str]]) -> str:
    """URL-encode query pairs, leaving ``[`` and ``]`` readable as the APIs write them."""
    return urlencode(items, safe="[]")
