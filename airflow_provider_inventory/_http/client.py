"""``ApiClient``: one pooled session per API origin, and the one request loop every request of
both hooks goes through (API pages, single resources, counts, token POSTs).

The client knows HTTP and nothing of Airflow: hooks build it from a connection, paginators call
``get_json`` page by page. Each request is retried by :func:`~._http.loop.with_retries` (the
adapter never retries); each attempt:

1. builds the request and checks the URL it will really be sent to with urllib3's parser
   (:func:`~._http.urls.checked_url`): user-info or an authority two parsers read differently is
   a :class:`PaginationError`, nothing sent; only a URL on the base URL's origin gets the auth;
2. checks every header value (no line break, control character or outer whitespace);
3. waits for the pacer (``pacer.acquire()``), retries included;
4. sends it within a total deadline (``request_timeout``: connect, headers and the whole body,
   besides the per-read ``read_timeout``), redirects not followed;
5. lets the pacer see the response (``pacer.observe(status, headers)``), any status;
6. reads the body in chunks, decompressed, up to ``max_response_bytes``;
7. decodes strict JSON (``NaN``/``Infinity`` refused) into a :class:`JsonResponse`, or turns the
   response into its :class:`InventoryApiError`.

A 401 ``INVALID_TOKEN`` is retried once after the auth (if it can, see ``auth``) retired the
token that request carried. Every URL, header and message leaving the client is scrubbed of
known secrets by value (see ``redaction``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol
from urllib.parse import urljoin

import requests
from requests.auth import AuthBase

from airflow_provider_inventory._http.loop import (
    RETRYABLE_STATUSES,
    Retryable,
    server_wait,
    with_retries,
)
from airflow_provider_inventory._http.redaction import (
    Scrubber,
    redact_url,
    scrub,
    scrub_library_logs,
)
from airflow_provider_inventory._http.settings import HttpSettings, check_transport_security
from airflow_provider_inventory._http.transport import (
    BodyTooLarge,
    Deadline,
    WatchedAdapter,
    deadline,
    read_body,
    write_body,
)
from airflow_provider_inventory._http.urls import Origin, checked_url, origin_of, unsafe_reason
from airflow_provider_inventory.exceptions import (
    BadResponseError,
    InventoryApiError,
    InventoryConfigError,
    PaginationError,
    TokenExpiredError,
    TransportError,
    error_for_response,
)

log = logging.getLogger(__name__)

_SNIPPET = 200
_ERROR_BODY_BYTES = 64 * 1024  # only the start of an error body is ever shown

scrub_library_logs(
    "urllib3.connectionpool", "urllib3.connection", "urllib3.response", "urllib3.poolmanager"
)


class Pacer(Protocol):
    """What the loop needs of a rate pacer (see ``pacing.pacer_for``)."""

    def acquire(self) -> float:
        """Wait until a request may be sent; return the seconds waited."""
        ...

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """See a response (any status)."""
        ...


@dataclass
class JsonResponse:
    """A decoded response: the parsed body, the final URL and the response headers."""

    body: Any
    url: str
    status: int
    headers: Mapping[str, str]


@dataclass
class ClientStats:
    """Counters for progress logs: attempts sent, retries made, seconds spent pacing."""

    requests: int = 0
    retries: int = 0
    paced_seconds: float = 0.0


class _NoAuth(AuthBase):
    """Sends no credentials (and keeps ``requests`` from adding ``.netrc`` ones)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_NO_AUTH = _NoAuth()


@dataclass
class _Call:
    """One logical request, and the last prepared attempt of it."""

    method: str
    url: str
    params: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    json_body: Any
    data: Mapping[str, str] | None
    sent: requests.PreparedRequest | None = field(default=None)
    sink: BinaryIO | None = field(default=None)

    def describe(self) -> str:
        """``METHOD url`` for log lines, redacted."""
        url = self.sent.url if self.sent is not None and self.sent.url else self.url
        return f"{self.method} {redact_url(url)}"


class ApiClient:
    """HTTP access to one API origin, every request through one retry loop.

    Args:
        base_url: the API's base URL (scheme, host, optional port and path prefix).
        settings: timeouts, retry policy, size cap and safety switches.
        conn_id: the Airflow connection id, for error messages.
        auth: authenticates a request (a ``requests`` auth object, called per attempt so a
            refreshed token is picked up); only ever applied to URLs on ``base_url``'s origin.
            If it has ``renew(request) -> bool``, a 401 ``INVALID_TOKEN`` is retried once after it.
        default_headers: sent with every request (``Accept`` and the like).
        pacer: consulted before every attempt and shown every response.
        scrubber: the hook's secrets (any :class:`Scrubber`; text is scrubbed by value anyway).
        pool_size: connections kept per host (raise it for parallel listings).

    Raises:
        InventoryConfigError: ``base_url`` is not a safe URL, or is plain HTTP to a non-loopback
            host and the connection does not allow it.
    """

    def __init__(
        self,
        base_url: str,
        settings: HttpSettings,
        *,
        conn_id: str,
        auth: AuthBase | None = None,
        default_headers: Mapping[str, str] | None = None,
        pacer: Pacer | None = None,
        scrubber: Scrubber | None = None,
        pool_size: int = 10,
    ) -> None:
        check_transport_security(base_url, settings, conn_id, "host")
        self.base_url = base_url.rstrip("/") + "/"
        problem = unsafe_reason(self.base_url)
        if problem is not None:
            raise InventoryConfigError(
                f"Connection '{conn_id}': the host {redact_url(base_url)} cannot be used: "
                f"{problem}. Fix the connection's host field (credentials belong in the "
                f"login/password fields)."
            )
        self._origin: Origin = origin_of(self.base_url)
        self.settings = settings
        self.conn_id = conn_id
        self.auth = auth
        self.scrub = scrubber or Scrubber()
        self.pacer = pacer
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()
        self.session = requests.Session()
        self.session.headers.update(default_headers or {})
        adapter = WatchedAdapter(pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) timeout in seconds, for each connect and each socket read."""
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL for a path relative to the base URL (or an absolute URL unchanged).

        Raises:
            PaginationError: ``path_or_url`` cannot be resolved (a malformed URL).
        """
        relative = path_or_url.lstrip("/") if "://" not in path_or_url else path_or_url
        try:
            return urljoin(self.base_url, relative)
        except ValueError:
            raise PaginationError(
                f"Refusing the malformed URL {redact_url(path_or_url)}; nothing was requested."
            ) from None

    def is_home(self, url: str) -> bool:
        """Whether ``url`` is on the origin (scheme, host, port) of the base URL.

        Raises:
            PaginationError: the URL is unsafe to send (see ``urls.checked_url``).
        """
        return origin_of(url) == self._origin

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> JsonResponse:
        """GET a JSON document from the API, authenticated.

        Args:
            path_or_url: a path relative to the base URL, or an absolute URL on its origin.
            params: query parameters (values are sent as given; lists repeat the parameter).

        Returns:
            The decoded response.

        Raises:
            PaginationError: the URL is unsafe or on another origin (nothing is sent).
            InventoryApiError: a subclass naming what failed (see ``errors``).
        """
        url = self.url_for(path_or_url)
        if not self.is_home(url):
            raise PaginationError(
                f"Refusing to request {redact_url(url)}: it is not on the connection's origin, "
                f"and credentials are only sent there. Nothing was requested."
            )
        return self.request("GET", url, params=params)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> JsonResponse:
        """Send one request through the loop (retries, pacing, deadline, cap) and decode it.

        Use :meth:`get_json` for API reads. This lower level sends to any safe URL; the auth is
        only added on the base URL's origin.

        Raises:
            PaginationError: the URL is unsafe (nothing is sent).
            InventoryConfigError: a header value is not sendable (nothing is sent).
            InventoryApiError: a subclass naming what failed, after the retries.
        """
        call = _Call(method, url, params, headers, json_body, data)
        try:
            return self._with_retries(call)
        except TokenExpiredError:
            if not self._renew(call):
                raise
            log.info(
                "The access token was refused as expired (401 INVALID_TOKEN); retrying %s with "
                "a new one.",
                call.describe(),
            )
            return self._with_retries(call)

    def download(self, url: str, sink: BinaryIO, *, max_bytes: int) -> JsonResponse:
        """GET a file into ``sink`` through the loop (retries, pacing, deadline, cap).

        ``sink`` is rewound and truncated before each attempt, so a retried transfer never
        appends to a broken one. The body is stored as sent (decompressed only per its
        ``Content-Encoding``). The auth is only added on the base URL's origin: build the
        client without ``auth`` for a foreign origin (object storage) and none is ever sent.

        Args:
            url: an absolute URL.
            sink: a seekable binary file.
            max_bytes: the most bytes accepted.

        Returns:
            A :class:`JsonResponse` whose ``body`` is the number of bytes written.

        Raises:
            PaginationError: the URL is unsafe (nothing is sent).
            InventoryApiError: a subclass naming what failed, after the retries (a 403 is an
                :class:`~airflow_provider_inventory.exceptions.AuthenticationError`).
        """
        call = _Call("GET", url, None, None, None, None, sink=sink)
        return with_retries(
            lambda: self._attempt(call, max_bytes),
            settings=self.settings,
            describe=call.describe,
            on_retry=self._count_retry,
        )

    def _with_retries(self, call: _Call) -> JsonResponse:
        return with_retries(
            lambda: self._attempt(call),
            settings=self.settings,
            describe=call.describe,
            on_retry=self._count_retry,
        )

    def _renew(self, call: _Call) -> bool:
        """Let the auth retire the token ``call`` carried; whether a retry is worthwhile."""
        renew = getattr(self.auth, "renew", None)
        if call.sent is None or renew is None or "Authorization" not in call.sent.headers:
            return False
        return bool(renew(call.sent))

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, call: _Call, max_bytes: int | None = None) -> JsonResponse:
        prepared = self._prepare(call)  # may fetch a token: before the pacer stamps the send
        self._pace()
        with self._stats_lock:
            self.stats.requests += 1
        with deadline(self.settings.request_timeout) as limit:
            response = self._send(prepared, limit)
            try:
                if self.pacer is not None:
                    self.pacer.observe(response.status_code, response.headers)
                if call.sink is not None and response.status_code < 300:
                    return self._store(prepared, response, limit, call.sink, max_bytes)
                return self._handle(prepared, response, limit)
            finally:
                limit.finish()  # before the connection goes back to the pool for others
                response.close()

    def _pace(self) -> None:
        if self.pacer is None:
            return
        waited = self.pacer.acquire()
        if waited:
            with self._stats_lock:
                self.stats.paced_seconds += waited

    def _prepare(self, call: _Call) -> requests.PreparedRequest:
        """The request as it will be sent: URL checked, auth only for the home origin."""
        checked_url(call.url)  # as given: requests re-quotes a backslash before we see it
        request = requests.Request(
            call.method,
            call.url,
            params=dict(call.params) if call.params else None,
            headers=dict(call.headers) if call.headers else None,
            json=call.json_body,
            data=dict(call.data) if call.data else None,
            auth=_NO_AUTH,
        )
        try:
            prepared = self.session.prepare_request(request)
        except (requests.RequestException, ValueError):
            # The message would quote the URL or header unredacted.
            raise PaginationError(
                f"Refusing to request {redact_url(call.url)}: the URL or a header cannot be "
                f"sent as given. Nothing was requested."
            ) from None
        url = prepared.url or ""
        if origin_of(url) == self._origin and self.auth is not None:
            prepared = self.auth(prepared)
        call.sent = prepared
        self._check_headers(prepared)
        return prepared

    def _check_headers(self, prepared: requests.PreparedRequest) -> None:
        for name, value in prepared.headers.items():
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            if text != text.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
                raise InventoryConfigError(
                    f"Connection '{self.conn_id}': the {name!r} header would carry whitespace "
                    f"or a line break at its start or end, or a control character; check the "
                    f"connection field that sets it. Nothing was sent."
                )

    def _send(self, prepared: requests.PreparedRequest, limit: Deadline) -> requests.Response:
        """Send; return once the headers have arrived."""
        environment = self.session.merge_environment_settings(prepared.url, {}, True, None, None)
        try:
            return self.session.send(
                prepared, timeout=self.timeout, allow_redirects=False, **environment
            )
        except requests.RequestException as error:
            raise self._transport_failure(prepared, error, limit) from None

    def _transport_failure(
        self, prepared: requests.PreparedRequest, error: Exception, limit: Deadline
    ) -> Exception:
        """The :class:`Retryable` (or final error) for an attempt that got no response."""
        url = prepared.url or ""
        method = prepared.method or "GET"
        if limit.expired:
            return Retryable(self._too_slow(method, url), "request_timeout")
        kind = _describe(error)
        if isinstance(error, requests.exceptions.SSLError):
            return TransportError(
                f"TLS failure talking to {redact_url(url)}: {kind}. Check the connection's "
                f"host and the server's certificate.",
                method=method,
                url=url,
            )
        failure = TransportError(
            f"No usable response from {redact_url(url)} after {self.settings.max_attempts} "
            f"attempt(s): {kind}. Check the connection's host, the network, or raise "
            f"'read_timeout'/'max_attempts'.",
            method=method,
            url=url,
        )
        retryable = (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        )
        return Retryable(failure, kind) if isinstance(error, retryable) else failure

    def _too_slow(self, method: str, url: str) -> TransportError:
        seconds = self.settings.request_timeout
        return TransportError(
            f"No complete response from {redact_url(url)} within request_timeout={seconds:g} s "
            f"on each of {self.settings.max_attempts} attempt(s): the server sends too slowly. "
            f"Raise the connection's extra field 'request_timeout' if such slow answers are "
            f"expected.",
            method=method,
            url=url,
        )

    # ------------------------------------------------------------------ the response

    def _handle(
        self, prepared: requests.PreparedRequest, response: requests.Response, limit: Deadline
    ) -> JsonResponse:
        method = prepared.method or "GET"
        url = prepared.url or ""
        status = response.status_code
        if status >= 400:
            body = self._read(method, url, response, limit, _ERROR_BODY_BYTES, truncate=True)
            error = error_for_response(status, response.reason, body, method, url)
            if status in RETRYABLE_STATUSES:
                raise Retryable(error, str(status), server_wait(status, response.headers))
            raise error
        if 300 <= status < 400:
            raise BadResponseError(
                f"Unexpected redirect (HTTP {status}) to "
                f"{redact_url(response.headers.get('Location', '?'))}; redirects are not "
                f"followed. Check the connection host.",
                status=status,
                method=method,
                url=url,
            )
        body = self._read(method, url, response, limit, self.settings.max_response_bytes)
        if status == 204:  # No Content (a DELETE): nothing to decode
            return JsonResponse(body=None, url=url, status=status, headers=response.headers)
        return JsonResponse(
            body=self._decode(method, url, response, body),
            url=url,
            status=status,
            headers=response.headers,
        )

    def _store(
        self,
        prepared: requests.PreparedRequest,
        response: requests.Response,
        limit: Deadline,
        sink: BinaryIO,
        max_bytes: int | None,
    ) -> JsonResponse:
        """A 2xx body copied into ``sink``; the failures of :meth:`_read`."""
        method, url = prepared.method or "GET", prepared.url or ""
        cap = self.settings.max_response_bytes if max_bytes is None else max_bytes
        sink.seek(0)
        sink.truncate()
        written = self._read(method, url, response, limit, cap, sink=sink)
        return JsonResponse(
            body=written, url=url, status=response.status_code, headers=response.headers
        )

    def _read(
        self,
        method: str,
        url: str,
        response: requests.Response,
        limit: Deadline,
        cap: int,
        *,
        truncate: bool = False,
        sink: BinaryIO | None = None,
    ) -> Any:
        """The body, decompressed and capped (or, with ``sink``, its length once copied
        there); a failed transfer is a :class:`Retryable`."""
        try:
            if sink is not None:
                body: Any = write_body(response, sink, cap)
            else:
                body = read_body(response, cap, truncate=truncate)
        except BodyTooLarge:
            raise self._unreadable(
                method,
                url,
                response,
                f"is larger than {'the download limit' if sink else 'max_response_bytes'}="
                f"{cap} after decompression; stopped reading",
                "Raise the connection's extra field 'max_response_bytes' if such pages are "
                "expected, or ask for smaller pages.",
            ) from None
        except requests.exceptions.ContentDecodingError:
            encoding = response.headers.get("Content-Encoding", "none")
            raise self._unreadable(
                method,
                url,
                response,
                f"could not be decoded (Content-Encoding {encoding!r})",
                "The server sent a body its Content-Encoding does not describe.",
            ) from None
        except requests.RequestException as error:
            if limit.expired:
                raise Retryable(self._too_slow(method, url), "request_timeout") from None
            failure = self._unreadable(
                method,
                url,
                response,
                f"broke off mid-transfer on the last of max_attempts="
                f"{self.settings.max_attempts} attempts ({_describe(error)})",
                "Check the network or any proxy between Airflow and the API, or raise "
                "'max_attempts'.",
            )
            raise Retryable(failure, f"a body cut off ({_describe(error)})") from None
        if limit.expired:  # a body without a length ends quietly when the deadline cuts it
            raise Retryable(self._too_slow(method, url), "request_timeout")
        return body

    def _unreadable(
        self, method: str, url: str, response: requests.Response, problem: str, advice: str
    ) -> BadResponseError:
        """The error for a response whose headers arrived but whose body could not be read."""
        return BadResponseError(
            f"HTTP {response.status_code} response body {problem} (Content-Type "
            f"{response.headers.get('Content-Type') or 'missing'!r}, Content-Length "
            f"{response.headers.get('Content-Length', 'missing')}). {advice}",
            status=response.status_code,
            method=method,
            url=url,
        )

    def _decode(self, method: str, url: str, response: requests.Response, body: bytes) -> Any:
        """Strict JSON: a JSON content type, and no ``NaN``/``Infinity``."""
        content_type = response.headers.get("Content-Type", "")
        try:
            if "json" not in content_type.lower():
                raise ValueError("not a JSON content type")
            return json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            problem = str(error) if isinstance(error, _NotJson) else ""
            snippet = scrub(body[:_SNIPPET].decode("utf-8", "replace"))
            raise BadResponseError(
                f"HTTP {response.status_code} with a body that is not valid JSON{problem} "
                f"(Content-Type {content_type or 'missing'!r}, {len(body)} bytes); "
                f"first {_SNIPPET} characters: {snippet!r}",
                status=response.status_code,
                method=method,
                url=url,
            ) from None

    def _count_retry(self) -> None:
        with self._stats_lock:
            self.stats.retries += 1

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f": it contains {name}, which JSON does not allow")


def _describe(error: BaseException) -> str:
    """The kind of transport failure (``NewConnectionError``, ``ReadTimeoutError``...), never
    the message (which may quote the URL)."""
    reason: object = error.args[0] if error.args else None
    inner = getattr(reason, "reason", None)  # urllib3's MaxRetryError wraps the real cause
    if isinstance(inner, Exception):
        return type(inner).__name__
    if isinstance(reason, Exception):
        return type(reason).__name__
    return type(error).__name__


__all__ = ["ApiClient", "ClientStats", "InventoryApiError", "JsonResponse", "Pacer"]
