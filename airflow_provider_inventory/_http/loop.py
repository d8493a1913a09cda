"""Retry decisions and waits, in one place: what is retried, how long to wait, one log line each.

What is retried (:class:`Retryable`): connection errors, timeouts (a single read over
``read_timeout`` or a whole attempt over ``request_timeout``), a body cut off mid-transfer, and
the statuses 408, 429, 500, 502, 503 and 504. Nothing else: a 4xx, a redirect, a body that is
not JSON or too large gives its error at once.

How long it waits before attempt n+1 (:func:`planned_wait`): the server's ``Retry-After``
(seconds or an HTTP date) when it sent a readable one; on a 429 without it,
``X-Ratelimit-Interval`` (Commerce Layer's hint); otherwise exponential backoff with "equal
jitter" (half of ``backoff_factor * 2**(n-1)``, capped by ``backoff_max``, plus a random part
up to the other half). Every wait is capped by ``max_retry_wait``; a garbled header is ignored
(logged at DEBUG). ``max_attempts`` counts every attempt, the first included.

The loop itself is :func:`with_retries` (tenacity); ``client.ApiClient`` runs every request
through it, one attempt at a time.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import timezone
from typing import TypeVar

import tenacity

from airflow_provider_inventory._http.redaction import scrub
from airflow_provider_inventory._http.settings import HttpSettings
from airflow_provider_inventory.exceptions import InventoryApiError

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Retryable(Exception):
    """An attempt failed in a way another attempt may fix.

    Args:
        error: what to raise if no attempt is left.
        reason: a short name for the log line (``"503"``, ``"ReadTimeoutError"``...).
        hint: the wait the server asked for, in seconds, if it asked.
    """

    def __init__(self, error: InventoryApiError, reason: str, hint: float | None = None) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.hint = hint


def server_wait(status: int, headers: Mapping[str, str]) -> float | None:
    """The wait a response asks for: ``Retry-After``, or on a 429 ``X-Ratelimit-Interval``.

    Returns:
        Seconds (not capped here), or ``None`` when the response names no readable wait.
    """
    wait = _header_seconds(headers, "Retry-After", _retry_after_seconds)
    if wait is None and status == 429:
        wait = _header_seconds(headers, "X-Ratelimit-Interval", _seconds)
    return wait


def _header_seconds(
    headers: Mapping[str, str], name: str, parse: Callable[[str], float | None]
) -> float | None:
    """``parse`` of header ``name``; an unreadable value is logged at DEBUG and ignored."""
    value = headers.get(name)
    if value is None:
        return None
    seconds = parse(value)
    if seconds is None:
        log.debug("Ignoring unreadable %s header %s.", name, _shown(value))
    return seconds


def _retry_after_seconds(value: str) -> float | None:
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - time.time(), 0.0)


def _seconds(value: str) -> float | None:
    """A finite, non-negative number of seconds, or ``None``."""
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _shown(value: str) -> str:
    return repr(scrub(value[:100]))


def backoff_wait(retry: int, settings: HttpSettings) -> float:
    """Exponential backoff with equal jitter before retry number ``retry`` (from 1)."""
    ceiling = min(settings.backoff_max, settings.backoff_factor * 2 ** (retry - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def planned_wait(failure: Retryable, retry: int, settings: HttpSettings) -> float:
    """The wait before retry number ``retry``: the server's hint or backoff, capped."""
    wait = failure.hint if failure.hint is not None else backoff_wait(retry, settings)
    return min(wait, settings.max_retry_wait)


def with_retries(
    attempt: Callable[[], T],
    *,
    settings: HttpSettings,
    describe: Callable[[], str],
    on_retry: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt`` until it returns, raises a non-:class:`Retryable`, or attempts run out.

    Args:
        attempt: one attempt; raises :class:`Retryable` when another attempt may help.
        settings: ``max_attempts``, backoff and the wait cap.
        describe: the request for the log line (``"GET https://..."``, already redacted).
        on_retry: called once per retry (for counters).
        sleep: how to wait (tests).

    Raises:
        InventoryApiError: the last attempt's error when every attempt failed.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if not isinstance(failure, Retryable):  # tenacity only waits after a Retryable
            return 0.0
        return planned_wait(failure, state.attempt_number, settings)

    def announce(state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        log.info(
            "Retrying %s after %s (attempt %d of %d), waiting %.2f s",
            describe(),
            failure.reason if isinstance(failure, Retryable) else "an error",
            state.attempt_number,
            settings.max_attempts,
            seconds,
        )
        on_retry()

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.max_attempts),
        retry=tenacity.retry_if_exception_type(Retryable),
        wait=wait,
        before_sleep=announce,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except Retryable as failure:
        raise failure.error from None


__all__ = [
    "RETRYABLE_STATUSES",
    "Retryable",
    "backoff_wait",
    "planned_wait",
    "server_wait",
    "with_retries",
]
