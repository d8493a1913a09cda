"""The retry policy: urllib3's ``Retry`` with logging, jitter and a rate-limit-aware wait.

urllib3 does the retrying inside the connection pool; this subclass only decides how long to wait
and says so in the task log. What is retried: connection errors, timeouts, 408, 429, 500, 502,
503 and 504 (and, by ``ApiClient`` with the same retry state, a body cut off mid-transfer).
How long it waits: ``Retry-After`` (seconds or an HTTP date) when the server sent one; on a 429
without it, ``X-Ratelimit-Interval`` (Commerce Layer's hint); otherwise exponential backoff with
jitter. Every wait is capped.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from urllib3.exceptions import InvalidHeader
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._http.settings import HttpSettings

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

RetryListener = Callable[[int | None, float], None]
"""Called before each retry wait with the status (``None`` for a transport error) and the wait."""


class LoggedRetry(Retry):
    """``Retry`` that logs each retry at INFO and waits with jitter, honouring server hints."""

    listener: RetryListener | None = None
    max_wait: float = 120.0

    def new(self, **kw: Any) -> LoggedRetry:
        retry = super().new(**kw)
        retry.listener = self.listener
        retry.max_wait = self.max_wait
        return retry

    def get_backoff_time(self) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random; capped."""
        attempts = len(self.history)
        if attempts == 0:
            return 0.0
        ceiling = min(self.backoff_max, self.backoff_factor * 2 ** (attempts - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """``Retry-After`` if present and readable; for a 429 without it, ``X-Ratelimit-Interval``."""
        try:
            hinted = super().get_retry_after(response)
        except InvalidHeader:
            # urllib3 raises on a Retry-After it cannot parse, which would end the request as a
            # transport error; a garbled hint is no reason to give up, so use our own wait.
            hinted = None
        if hinted is None and response.status == 429:
            interval = response.headers.get("X-Ratelimit-Interval")
            try:
                hinted = max(float(interval), 0.0) if interval else None
            except ValueError:
                hinted = None
        return hinted

    def planned_wait(self, response: BaseHTTPResponse | None) -> float:
        """The seconds the next retry waits, never more than ``max_wait``."""
        wait = None
        if response is not None:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        return min(wait, self.max_wait)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = self.planned_wait(response)
        last = self.history[-1] if self.history else None
        status = response.status if response is not None else None
        reason = str(status) if status is not None else _error_name(last.error if last else None)
        log.info(
            "Retrying %s %s after %s (retry %d of %s), waiting %.2f s",
            last.method if last else "request",
            redact_url(last.url) if last and last.url else "",
            reason,
            len(self.history),
            self._retry_budget(),
            wait,
        )
        if self.listener is not None:
            self.listener(status, wait)
        if wait > 0:
            time.sleep(wait)

    def _retry_budget(self) -> str:
        total = self.total
        if isinstance(total, int) and not isinstance(total, bool):
            return str(total + len(self.history))
        return "?"


def _error_name(error: Exception | None) -> str:
    return type(error).__name__ if error is not None else "an error"


def build_retry(settings: HttpSettings, listener: RetryListener | None = None) -> LoggedRetry:
    """The retry policy for ``settings``: ``max_attempts`` tries in all, waits capped."""
    retry = LoggedRetry(
        total=settings.max_attempts - 1,
        connect=None,
        read=None,
        status=None,
        redirect=0,
        allowed_methods=None,  # GET listings and the idempotent token POST alike
        status_forcelist=RETRYABLE_STATUSES,
        backoff_factor=settings.backoff_factor,
        backoff_max=settings.backoff_max,
        raise_on_status=False,  # hand the last error response back so it becomes a clear error
        raise_on_redirect=False,
        respect_retry_after_header=True,
    )
    retry.listener = listener
    retry.max_wait = settings.max_retry_wait
    return retry
