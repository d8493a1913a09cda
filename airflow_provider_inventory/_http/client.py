"""``ApiClient``: one pooled session per hook, safe defaults, clear errors.

The client knows HTTP and nothing of Airflow: hooks build it from a connection, paginators call
``get_json`` page by page. It guarantees:

- every request has a connect and a read timeout;
- retries follow :mod:`airflow_provider_inventory._http.retry`, including for a body that breaks
  off mid-transfer (urllib3 only sees failures before the headers; the client continues the same
  retry state for the body, so ``max_attempts`` counts every attempt);
- the ``Authorization`` header is only ever sent to the origin of the connection's base URL,
  and any URL on another origin is refused before a byte is sent;
- a 2xx body that is not valid JSON raises :class:`BadResponseError` with the status, the
  content type and the first 200 characters, never a bare ``JSONDecodeError``;
- known secrets are scrubbed from every message built from server text.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from airflow_provider_inventory._http.errors import (
    BadResponseError,
    InventoryApiError,
    PaginationError,
    TransportError,
    error_for_response,
)
from airflow_provider_inventory._http.pacing import RatePacer
from airflow_provider_inventory._http.paging import origin_of
from airflow_provider_inventory._http.redaction import Scrubber, redact_url
from airflow_provider_inventory._http.retry import build_retry
from airflow_provider_inventory._http.settings import HttpSettings, check_transport_security

log = logging.getLogger(__name__)

_SNIPPET = 200
AuthHeaders = Callable[[], Mapping[str, str]]


@dataclass
class JsonResponse:
    """A decoded response: the parsed body, the final URL and the response headers."""

    body: Any
    url: str
    status: int
    headers: Mapping[str, str]


@dataclass
class ClientStats:
    """Counters for progress logs: requests sent, retries made, seconds spent pacing."""

    requests: int = 0
    retries: int = 0
    paced_seconds: float = 0.0


class ApiClient:
    """HTTP access to one API origin.

    Args:
        base_url: the API's base URL (scheme, host, optional port and path prefix).
        settings: timeouts, retry policy and safety switches.
        conn_id: the Airflow connection id, for error messages.
        auth_headers: returns the headers that authenticate a request (called per request, so a
            refreshed token is picked up); only used for URLs on ``base_url``'s origin.
        default_headers: sent with every request (``Accept`` and the like).
        pacer: optional rate pacer consulted before each request.
        scrubber: known secrets to scrub from messages.
        pool_size: connections kept per host (raise it for parallel listings).

    Raises:
        InventoryConfigError: ``base_url`` is plain HTTP to a non-loopback host and the connection
            does not allow it.
    """

    def __init__(
        self,
        base_url: str,
        settings: HttpSettings,
        *,
        conn_id: str,
        auth_headers: AuthHeaders | None = None,
        default_headers: Mapping[str, str] | None = None,
        pacer: RatePacer | None = None,
        scrubber: Scrubber | None = None,
        pool_size: int = 10,
    ) -> None:
        check_transport_security(base_url, settings, conn_id, "host")
        self.base_url = base_url.rstrip("/") + "/"
        self.settings = settings
        self.conn_id = conn_id
        self.scrub = scrubber or Scrubber()
        self.pacer = pacer
        self.stats = ClientStats()
        self._auth_headers = auth_headers
        self._origin = origin_of(self.base_url)
        self._stats_lock = threading.Lock()
        self.session = requests.Session()
        self.session.headers.update(default_headers or {})
        self._adapter = _ResumableRetryAdapter(
            build_retry(settings, listener=self._count_retry),
            pool_connections=4,
            pool_maxsize=max(pool_size, 4),
        )
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) timeout in seconds."""
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL for a path relative to the base URL (or an absolute URL unchanged)."""
        return urljoin(
            self.base_url, path_or_url.lstrip("/") if "://" not in path_or_url else path_or_url
        )

    def is_home(self, url: str) -> bool:
        """Whether ``url`` is on the origin (scheme, host, port) of the base URL."""
        return origin_of(url) == self._origin

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> JsonResponse:
        """GET a JSON document from the API, authenticated.

        Args:
            path_or_url: a path relative to the base URL, or an absolute URL on its origin.
            params: query parameters (values are sent as given; lists repeat the parameter).

        Returns:
            The decoded response.

        Raises:
            PaginationError: the URL is on another origin (nothing is sent).
            InventoryApiError: a subclass naming what failed (see ``errors``).
        """
        url = self.url_for(path_or_url)
        if not self.is_home(url):
            raise PaginationError(
                f"Refusing to request {redact_url(url)}: it is not on the connection's origin, "
                f"and credentials are only sent there. Nothing was requested."
            )
        headers = dict(self._auth_headers()) if self._auth_headers else {}
        return self.request("GET", url, params=params, headers=headers)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        paced: bool = True,
    ) -> JsonResponse:
        """Send one request (with retries) and decode its JSON body.

        Use :meth:`get_json` for API reads; this lower level also serves token endpoints on
        another origin, which must not receive the API's ``Authorization`` header.
        """
        if self.pacer is not None and paced:
            waited = self.pacer.acquire()
            if waited:
                with self._stats_lock:
                    self.stats.paced_seconds += waited
        with self._stats_lock:
            self.stats.requests += 1
        resumed: Retry | None = None
        while True:
            with self._adapter.resuming(resumed):
                response = self._send(
                    method, url, params=params, headers=headers, json_body=json_body, data=data
                )
            try:
                response.content  # noqa: B018  (read the body here, where a cut-off is caught)
                break
            except requests.RequestException as error:
                response.close()
                resumed = self._retry_cut_off_body(method, response, error)
        # An unpaced request (a token endpoint on another origin) has limits of its own: its
        # rate-limit headers and 429s say nothing about the API's budget.
        pacer = self.pacer if paced else None
        if pacer is not None:
            pacer.observe(response.status_code, response.headers)
        return self._decode(method, response)

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
        data: Mapping[str, str] | None,
    ) -> requests.Response:
        """Send the request with urllib3's retries; return once the headers have arrived."""
        try:
            return self.session.request(
                method,
                url,
                params=params,
                headers=headers,
                json=json_body,
                data=data,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as error:
            raise TransportError(
                f"No usable response from {redact_url(url)} after "
                f"{self.settings.max_attempts} attempt(s): {_describe(error)}. Check the "
                f"connection's host, the network, or raise 'read_timeout'/'max_attempts'.",
                method=method,
                url=url,
            ) from None

    def _retry_cut_off_body(
        self, method: str, response: requests.Response, error: requests.RequestException
    ) -> Retry:
        """Count a body that broke off mid-transfer as a failed attempt, wait, and go on.

        urllib3 retries only until the headers arrive; ``requests`` reads the body afterwards.
        This continues the call's own retry state (same budget, backoff and log line), so
        ``max_attempts`` counts every attempt whatever failed.

        Returns:
            The retry state for the next attempt.

        Raises:
            BadResponseError: the body broke off and no attempt is left, or it cannot be
                decoded (not retried: the server would send the same bytes again).
        """
        cause = error.args[0] if error.args else error
        if not isinstance(cause, (ProtocolError, ReadTimeoutError)):
            encoding = response.headers.get("Content-Encoding", "none")
            raise self._unreadable_body(
                method,
                response,
                f"could not be decoded (Content-Encoding {encoding!r})",
                cause,
                "The server sent a body its Content-Encoding does not describe.",
            )
        state = getattr(response.raw, "retries", None) or self._adapter.policy
        try:
            following = state.increment(method, response.request.path_url, error=cause)
        except MaxRetryError:
            raise self._unreadable_body(
                method,
                response,
                f"broke off mid-transfer on the last of max_attempts="
                f"{self.settings.max_attempts} attempts",
                cause,
                "Check the network or any proxy between Airflow and the API, or raise "
                "'max_attempts'.",
            ) from None
        following.sleep()
        return following

    def _unreadable_body(
        self,
        method: str,
        response: requests.Response,
        problem: str,
        cause: BaseException,
        advice: str,
    ) -> BadResponseError:
        """The error for a response whose headers arrived but whose body could not be read."""
        return BadResponseError(
            f"HTTP {response.status_code} response body {problem} ({type(cause).__name__}; "
            f"Content-Type {response.headers.get('Content-Type') or 'missing'!r}, "
            f"Content-Length {response.headers.get('Content-Length', 'missing')}). {advice}",
            status=response.status_code,
            method=method,
            url=response.url,
        )

    def _decode(self, method: str, response: requests.Response) -> JsonResponse:
        url = response.url
        if response.status_code >= 400:
            raise error_for_response(response, method, url, scrub=self.scrub)
        if 300 <= response.status_code < 400:
            raise BadResponseError(
                f"Unexpected redirect (HTTP {response.status_code}) to "
                f"{redact_url(response.headers.get('Location', '?'))}; check the connection host.",
                status=response.status_code,
                method=method,
                url=url,
            )
        content_type = response.headers.get("Content-Type", "")
        try:
            if "json" not in content_type.lower():
                raise ValueError("not a JSON content type")
            body = json.loads(response.content)
        except ValueError:
            snippet = self.scrub(response.content[:_SNIPPET].decode("utf-8", "replace"))
            raise BadResponseError(
                f"HTTP {response.status_code} with a body that is not valid JSON "
                f"(Content-Type {content_type or 'missing'!r}, {len(response.content)} bytes); "
                f"first {_SNIPPET} characters: {snippet!r}",
                status=response.status_code,
                method=method,
                url=url,
            ) from None
        return JsonResponse(
            body=body, url=url, status=response.status_code, headers=response.headers
        )

    def _count_retry(self, status: int | None, wait: float) -> None:
        with self._stats_lock:
            self.stats.retries += 1

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


class _ResumableRetryAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose retry state can be continued for one call on the calling thread.

    ``max_retries`` is the policy for a fresh call; inside :meth:`resuming` it is the state a
    previous attempt of the same call left (the adapter is shared between threads, so the
    override is thread-local).
    """

    def __init__(self, policy: Retry, **kwargs: Any) -> None:
        self._resumed = threading.local()
        self.policy = policy
        super().__init__(max_retries=policy, **kwargs)

    @property
    def max_retries(self) -> Retry:
        """What urllib3 uses for the next send on this thread."""
        resumed: Retry | None = getattr(self._resumed, "retry", None)
        return self.policy if resumed is None else resumed

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self.policy = value

    @contextmanager
    def resuming(self, retry: Retry | None) -> Iterator[None]:
        """Within the block, sends on this thread continue from ``retry`` (``None``: fresh)."""
        self._resumed.retry = retry
        try:
            yield
        finally:
            self._resumed.retry = None


def _describe(error: requests.RequestException) -> str:
    """The kind of transport failure, without the URL (which may carry query secrets)."""
    reason = error.args[0] if error.args else None
    inner = getattr(reason, "reason", None)
    return type(inner).__name__ if isinstance(inner, Exception) else type(error).__name__



__all__ = ["ApiClient", "ClientStats", "InventoryApiError", "JsonResponse"]
