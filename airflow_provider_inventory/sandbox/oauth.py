"""Commerce Layer's ``POST /oauth/token`` (client credentials) and the tokens it issues."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .messages import JSON_TYPE, Request, Response, json_response
from .ratelimit import SlidingWindowLimiter
from .settings import Settings

DEFAULT_SCOPE = "market:all"
_SCOPE_ITEM = re.compile(r"^(market|stock_location):(id|code):\S+$")


def cl_error(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    source: dict[str, str] | None = None,
    content_type: str = JSON_TYPE,
    headers: dict[str, str] | None = None,
) -> Response:
    """A Commerce Layer error document ``{"errors": [{title, detail, code, status, ...}]}``."""
    error: dict[str, Any] = {"title": title, "detail": detail, "code": code, "status": str(status)}
    if source:
        error["source"] = source
    return json_response(status, {"errors": [error]}, content_type, headers)


@dataclass
class Token:
    """An issued access token; it expires ``lifetime`` seconds after ``issued``."""

    value: str
    scope: str
    lifetime: float
    issued: float  # time.monotonic()
    created_at: int  # unix seconds
    revoked: bool = False


class TokenStore:
    """Issued tokens, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self.issued = 0

    def issue(self, scope: str, lifetime: float) -> Token:
        token = Token(
            secrets.token_urlsafe(32), scope, lifetime, time.monotonic(), int(time.time())
        )
        with self._lock:
            self._tokens[token.value] = token
            self.issued += 1
        return token

    def status(self, value: str) -> str:
        """ "valid", "expired" (past its lifetime or force-expired) or "unknown"."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            return "unknown"
        if token.revoked or time.monotonic() - token.issued >= token.lifetime:
            return "expired"
        return "valid"

    def expire(self, value: str) -> None:
        """Make a token expired from now on (no effect on unknown tokens)."""
        with self._lock:
            token = self._tokens.get(value)
            if token is not None:
                token.revoked = True


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (request.header("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _parse_body(request: Request) -> dict[str, Any]:
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    text = request.body.decode("utf-8", "replace")
    if content_type == "application/json" or (not content_type and text.lstrip()[:1] == "{"):
        try:
            parsed = json.loads(text or "{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return dict(parse_qsl(text, keep_blank_values=True))


class OAuthAPI:
    """Answers ``/oauth/token``: JSON or form bodies, or HTTP Basic client authentication.

    Errors: 401 ``UNAUTHORIZED`` document for wrong credentials, 400
    ``{"error": "invalid_scope"}`` for a scope item not like ``market:id:xxx`` /
    ``stock_location:code:xxx``, 400 ``unsupported_grant_type`` for another grant,
    429 ``TOO_MANY_REQUESTS`` past ``token_rate_limit`` requests per minute.
    """

    def __init__(self, settings: Settings, tokens: TokenStore) -> None:
        self.settings = settings
        self.tokens = tokens
        self.limiter: SlidingWindowLimiter | None = None

    def set_rate_limit(self, per_minute: int | None) -> None:
        """Limit token requests per 60 s sliding window (None: unlimited)."""
        self.limiter = None if per_minute is None else SlidingWindowLimiter(per_minute)

    def handle(self, request: Request) -> Response:
        limiter = self.limiter
        limit_headers: dict[str, str] = {}
        if limiter is not None:
            decision = limiter.hit()
            limit_headers = decision.headers()
            if not decision.allowed:
                return cl_error(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Too many requests",
                    f"At most {limiter.average} token requests per minute are allowed.",
                    headers=limit_headers,
                )
        response = self._token(request)
        response.headers.update(limit_headers)
        return response

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return json_response(405, {"error": "method_not_allowed"})
        params = _parse_body(request)
        client_id = params.get("client_id")
        client_secret = params.get("client_secret")
        scheme, _, encoded = (request.header("authorization") or "").partition(" ")
        if scheme.lower() == "basic" and client_id is None:
            try:
                decoded = base64.b64decode(encoded.strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        grant_type = params.get("grant_type")
        if grant_type != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"The grant type {grant_type!r} is not supported.",
                },
            )
        if client_id != self.settings.client_id or client_secret != self.settings.client_secret:
            return cl_error(
                401,
                "UNAUTHORIZED",
                "Invalid credentials",
                "The client_id or client_secret you provided is not valid.",
            )
        scope = str(params.get("scope") or "").strip()
        if scope and not all(_SCOPE_ITEM.match(item) for item in scope.split()):
            return json_response(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": (
                        f"The requested scope {scope!r} is invalid, unknown, or malformed."
                    ),
                },
            )
        lifetime = self.settings.token_lifetime
        token = self.tokens.issue(scope or DEFAULT_SCOPE, lifetime)
        return json_response(
            200,
            {
                "access_token": token.value,
                "token_type": "bearer",
                "expires_in": int(lifetime) if float(lifetime).is_integer() else lifetime,
                "scope": token.scope,
                "created_at": token.created_at,
            },
            headers={"Cache-Control": "no-store"},
        )
