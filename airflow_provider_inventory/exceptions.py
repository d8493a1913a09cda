"""Public exception classes: catch :class:`InventoryApiError` for any API failure, and
:class:`InventoryConfigError` for an invalid argument or connection field.

Every API error carries the HTTP ``status``, the API's error ``code``, ``title`` and ``detail`` when
the server sent them, and the request ``method`` and ``url`` with secrets removed, so a task log
says exactly which call failed and why without ever printing a credential. The message, title,
detail and URL are scrubbed of every known secret value when the error is built (see
``_http.redaction``), so ``str()``, ``repr()``, ``args`` and the pickled form are all clean.

This module stays cheap to import (no Airflow, no requests): DAG files may catch these.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_inventory._http.redaction import redact_url, scrub

_SNIPPET = 200


class InventoryConfigError(ValueError):
    """A connection field or an argument is invalid; the message names the field and the fix."""


class XComLimitExceededError(InventoryConfigError):
    """More records than ``max_xcom_records``: they belong in a file (``output_path``)."""


class ChangeSetError(Exception):
    """A change set (``changes=True``) was refused; nothing was published and the previous
    snapshot was kept."""


class MassDeletionError(ChangeSetError):
    """The listing lacks more of the previous snapshot than ``max_deleted_fraction`` allows."""


class SnapshotError(ChangeSetError):
    """A stored snapshot cannot be used: another scope's, a newer format, or damaged."""


class InventoryApiError(Exception):
    """A request to Pack or Commerce Layer failed.

    Attributes:
        status: HTTP status code, or ``None`` when no response came (transport errors).
        code: the API's machine-readable error code (``INVALID_TOKEN``, ``RECORD_NOT_FOUND``...).
        title: the API's short error title.
        detail: the API's longer explanation.
        method: the HTTP method of the failed request.
        url: the request URL with credentials and secret query parameters removed.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.message = scrub(message)
        self.status = status
        self.code = code
        self.title = scrub(title) if title else title
        self.detail = scrub(detail) if detail else detail
        self.method = method
        self.url = redact_url(url) if url else url
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" [{self.method} {self.url}]" if self.method and self.url else ""
        return f"{self.message}{where}"

    def rephrased(
        self, message: str, as_type: type[InventoryApiError] | None = None
    ) -> InventoryApiError:
        """A copy with another message (same status, code, title, detail, method and URL).

        Args:
            message: the new message (usually the old one plus a hint at the fix).
            as_type: the class of the copy; default: this error's class.
        """
        return (as_type or type(self))(
            message,
            status=self.status,
            code=self.code,
            title=self.title,
            detail=self.detail,
            method=self.method,
            url=self.url,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor: teach pickle (process pools, Airflow's exception serialisation)
        # how to rebuild the instance.
        return (
            _rebuild,
            (type(self), self.message, self.__dict__.copy()),
        )


def _rebuild(
    cls: type[InventoryApiError], message: str, state: dict[str, Any]
) -> InventoryApiError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    error.args = (error._render(),)
    return error


class AuthenticationError(InventoryApiError):
    """401/403: wrong or missing credentials, or not allowed. Retrying will not help."""


class TokenExpiredError(AuthenticationError):
    """401 with ``INVALID_TOKEN``: the access token expired; fetch a new one and retry once."""


class NotFoundError(InventoryApiError):
    """404: the resource, record or organization does not exist."""


class RateLimitedError(InventoryApiError):
    """429 that persisted through every retry."""


class ServerError(InventoryApiError):
    """5xx (or 408 Request Timeout, also retried) that persisted through every retry."""


class RequestRejectedError(InventoryApiError):
    """Another 4xx (400, 405, 406, 409, 415, 422, ...): the request itself is wrong; not retried."""


class TransportError(InventoryApiError):
    """No usable response: connection refused, DNS failure or timeout, after every retry."""


class BadResponseError(InventoryApiError):
    """The server answered 2xx with a body that is not JSON, is truncated, or has an unexpected shape."""


class ExportError(InventoryApiError):
    """A Commerce Layer export failed, was interrupted twice, got stuck, or its file disagrees
    with its ``records_count``; the message names the export id."""


class PaginationError(InventoryApiError):
    """A listing cannot continue safely: a repeated link, a link to another origin, or too many pages."""


def error_for_response(
    status: int, reason: str | None, body: bytes, method: str, url: str
) -> InventoryApiError:
    """Build the matching :class:`InventoryApiError` subclass for an error response.

    Args:
        status: the HTTP status (>= 400).
        reason: the reason phrase, used when the body says nothing.
        body: the (possibly truncated) response body.
        method: the request method.
        url: the request URL (it is redacted before it is stored).

    Returns:
        The exception to raise (not raised here); server text in it is scrubbed of known secrets.
    """
    code, title, detail = _parse_error_body(body)
    summary = " - ".join(part for part in (title, detail) if part) or reason or "error"
    message = f"HTTP {status}{f' {code}' if code else ''}: {summary}"
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "method": method,
        "url": url,
    }
    if status == 401 and code == "INVALID_TOKEN":
        return TokenExpiredError(message, **kwargs)
    if status in (401, 403):
        return AuthenticationError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 429:
        return RateLimitedError(message, **kwargs)
    if status >= 500 or status == 408:
        return ServerError(message, **kwargs)
    return RequestRejectedError(message, **kwargs)


def _parse_error_body(content: bytes) -> tuple[str | None, str | None, str | None]:
    """Return (code, title, detail) from a JSON:API ``errors`` array, an ``error`` object or text."""
    if not content.strip():
        return None, None, None  # the caller falls back to the reason phrase
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        text = content.decode("utf-8", "replace").strip()
        return None, None, text[:_SNIPPET] or None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return _str(first.get("code")), _str(first.get("title")), _str(first.get("detail"))
        error = body.get("error")
        if isinstance(error, dict):
            return (
                _str(error.get("code") or error.get("type")),
                _str(error.get("title")),
                _str(error.get("message") or error.get("detail")),
            )
        if isinstance(error, str):
            return error, None, _str(body.get("error_description") or body.get("message"))
        if "message" in body:
            return _str(body.get("code")), None, _str(body.get("message"))
    return None, None, json.dumps(body)[:_SNIPPET]


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


__all__ = [
    "AuthenticationError",
    "BadResponseError",
    "ChangeSetError",
    "ExportError",
    "InventoryApiError",
    "InventoryConfigError",
    "MassDeletionError",
    "NotFoundError",
    "PaginationError",
    "RateLimitedError",
    "RequestRejectedError",
    "ServerError",
    "SnapshotError",
    "TokenExpiredError",
    "TransportError",
    "XComLimitExceededError",
]
