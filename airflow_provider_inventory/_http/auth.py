"""Authentication as ``requests`` auth objects; ``ApiClient`` applies them to its own origin only.

- :class:`HeaderTokenAuth`: a static API token in one header (Pack: ``Authorization: Bearer
  <token>`` by default, header and scheme configurable).
- :class:`ClientCredentialsAuth`: OAuth2 ``client_credentials`` (Commerce Layer). Tokens come from
  the process's token cache (``tokens.shared_token_cache()``), keyed by (token URL, client id,
  scope, a hash of the secret), so every hook and thread of a connection shares one; the cache
  replaces a token a margin before it expires. A request refused with 401 ``INVALID_TOKEN`` makes
  the client call :meth:`ClientCredentialsAuth.renew`, which retires exactly the token that
  request carried (another thread may already have replaced it) before the one retry.

Both check what they put in a header before anything is sent: a token with whitespace or a line
break is an :class:`InventoryConfigError` naming the connection field, not a network failure.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from requests.auth import AuthBase

from airflow_provider_inventory._http.redaction import Scrubber
from airflow_provider_inventory._http.tokens import TokenCache, shared_token_cache
from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    InventoryConfigError,
    RequestRejectedError,
)

if TYPE_CHECKING:
    from airflow_provider_inventory._http.client import JsonResponse

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME = 7200.0
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


def unsendable(value: str) -> str | None:
    """Why ``value`` cannot go in a header as a token, or ``None`` when it can."""
    if not value:
        return "is empty"
    for position, char in enumerate(value):
        if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
            kind = "a line break" if char in "\r\n" else "whitespace or a control character"
            return f"contains {kind} at position {position + 1} of {len(value)}"
    return None


class HeaderTokenAuth(AuthBase):
    """A static token in one header: ``{header}: {scheme} {token}`` (just the token without scheme).

    Args:
        token: the API token.
        conn_id: the connection, for error messages.
        header: the header name.
        scheme: the word before the token (``Bearer``); empty sends the bare token.
        token_field: the connection field holding the token, for error messages.

    Raises:
        InventoryConfigError: the token, header name or scheme cannot be sent, naming the field.
    """

    def __init__(
        self,
        token: str,
        *,
        conn_id: str,
        header: str = "Authorization",
        scheme: str = "Bearer",
        token_field: str = "password (API token)",
    ) -> None:
        problem = unsendable(token)
        if problem is not None:
            raise _field_error(conn_id, token_field, problem)
        if not _HEADER_NAME.match(header):
            raise _field_error(conn_id, "extra field 'auth_header'", "is not a valid header name")
        if scheme and unsendable(scheme) is not None:
            raise _field_error(conn_id, "extra field 'auth_scheme'", unsendable(scheme) or "")
        self.header = header
        self.value = f"{scheme} {token}" if scheme else token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self.value
        return request


def _field_error(conn_id: str, field: str, problem: str) -> InventoryConfigError:
    return InventoryConfigError(
        f"Connection '{conn_id}': the {field} {problem}; it cannot be sent in an HTTP header. "
        f"Fix the field (a stray newline or space from copy-and-paste?). Nothing was sent."
    )


class ClientCredentialsAuth(AuthBase):
    """OAuth2 client credentials: ``Authorization: Bearer <access token>``, cached and renewed.

    Args:
        post_token: sends the token request body to the token URL and returns the decoded
            ``JsonResponse`` (the hook passes its token client's ``request``, paced and retried
            like every request).
        token_url: the token endpoint (part of the cache key).
        client_id: the OAuth2 client id (connection login).
        client_secret: the client secret (connection password).
        scope: the scope, or ``None`` for the credential's default.
        conn_id: the connection, for messages.
        scrubber: registers the credentials and every access token as secrets.
        service: the API's name for messages (``"Commerce Layer"``).
        cache: the token cache (default: the process's shared cache).
    """

    def __init__(
        self,
        post_token: Callable[[dict[str, str]], JsonResponse],
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None,
        conn_id: str,
        scrubber: Scrubber,
        service: str = "Commerce Layer",
        cache: TokenCache | None = None,
    ) -> None:
        self._post_token = post_token
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope
        self._conn_id = conn_id
        self._scrubber = scrubber
        self._service = service
        self._cache = cache or shared_token_cache()
        digest = hashlib.sha256(client_secret.encode()).hexdigest()
        self.key = (token_url, client_id, scope or "", digest)
        scrubber.add(client_id, "client_id")
        scrubber.add(client_secret, "client_secret")

    def token(self) -> str:
        """A valid access token from the cache, fetched when there is none fresh.

        Raises:
            AuthenticationError: the token endpoint refused the client id, secret or scope.
            InventoryApiError: the token endpoint failed or answered nonsense.
        """
        return self._cache.get(self.key, self._fetch)

    def fresh_token(self) -> str:
        """Fetch a new token now, bypassing the cache, then make it the cached one.

        For ``test_connection``: proves the credentials work now, whatever is cached.
        """
        fetched = self._fetch()
        cached = self._cache.get(self.key, lambda: fetched)
        if cached != fetched[0]:
            self._cache.invalidate(self.key, cached)
            self._cache.get(self.key, lambda: fetched)
        return fetched[0]

    def renew(self, request: requests.PreparedRequest) -> bool:
        """Retire the token ``request`` carried (a 401 ``INVALID_TOKEN``); always worth a retry."""
        sent = str(request.headers.get("Authorization", "")).partition(" ")[2]
        self._cache.invalidate(self.key, sent or None)
        return True

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def _fetch(self) -> tuple[str, float]:
        body = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret,
        }
        if self._scope:
            body["scope"] = self._scope
        try:
            response = self._post_token(body)
        except (AuthenticationError, RequestRejectedError) as error:
            raise self._refused(error) from None
        token, lifetime = self._parse(response)
        self._scrubber.add(token, "access_token")
        log.info(
            "Fetched a %s access token for connection '%s' (valid %.0f s).",
            self._service,
            self._conn_id,
            lifetime,
        )
        return token, lifetime

    def _parse(self, response: JsonResponse) -> tuple[str, float]:
        body: Any = response.body
        if not isinstance(body, dict) or not body.get("access_token"):
            raise self._nonsense(response.url, "the token response has no 'access_token'", body)
        token, lifetime = body["access_token"], body.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        problem = "is not a string" if not isinstance(token, str) else unsendable(token)
        if problem is not None:
            raise self._nonsense(response.url, f"the 'access_token' {problem}", {})
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise self._nonsense(response.url, f"'expires_in' is {lifetime!r}", {})
        return token, float(lifetime)

    def _nonsense(self, url: str, problem: str, body: object) -> BadResponseError:
        found = f" (found keys {sorted(body)[:10]})" if isinstance(body, dict) and body else ""
        return BadResponseError(
            f"Unexpected {self._service} token response: {problem}{found}.",
            method="POST",
            url=url,
        )

    def _refused(self, error: InventoryApiError) -> InventoryApiError:
        if error.code == "invalid_scope":
            hint = (
                f"The scope {self._scope!r} was refused: fix the connection's extra field "
                f"'scope' (e.g. 'market:id:xYZkjABcde' or 'stock_location:code:eu_warehouse') "
                f"or leave it empty."
            )
        else:
            hint = (
                "Check the connection's login (Client ID), password (Client secret) and extra "
                "field 'scope'."
            )
        return error.rephrased(
            f"Could not get a {self._service} access token ({error.message}). {hint}",
            AuthenticationError,
        )


__all__ = ["ClientCredentialsAuth", "HeaderTokenAuth", "unsendable"]
