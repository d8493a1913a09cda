"""Sliding-window rate limits in the style of the Commerce Layer API.

Each limited class keeps the arrival times of its requests. A request is rejected when the
requests in the last ``interval`` seconds (60) already reach the average limit, or those in
the last ``burst_interval`` seconds (10) reach the burst limit. Rejected requests are
recorded too, so a client that keeps hammering stays blocked, as with the real API. Every
response carries ``X-Ratelimit-Limit``, ``X-Ratelimit-Interval`` and ``X-Ratelimit-Remaining``
(what is left of the average window for everyone, as Commerce Layer counts per client IP).

Tests scale the windows down (e.g. 40 per 4 s and 10 per 1 s) so that convergence under a
shared limit takes seconds, not minutes: ``RateLimits`` takes ``(average, burst)`` or
``(average, burst, interval, burst_interval)`` per class.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

#: Resource -> rate-limit class; anything not listed is "uncacheable".
CACHEABLE_RESOURCES = frozenset(
    {
        "skus",
        "prices",
        "stock_items",
        "stock_locations",
        "markets",
        "price_lists",
        "inventory_models",
    }
)
RATE_LIMIT_CLASSES = ("uncacheable", "cacheable")


def resource_class(resource: str) -> str:
    """The rate-limit class of a Commerce Layer resource name."""
    return "cacheable" if resource in CACHEABLE_RESOURCES else "uncacheable"


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against a limiter, with the values for the headers."""

    allowed: bool
    limit: int
    interval: float
    remaining: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Interval": f"{self.interval:g}",
            "X-Ratelimit-Remaining": str(self.remaining),
        }


class SlidingWindowLimiter:
    """``average`` requests per ``interval`` seconds and ``burst`` per ``burst_interval``."""

    def __init__(
        self,
        average: int,
        burst: int | None = None,
        *,
        interval: float = 60,
        burst_interval: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if average < 1 or (burst is not None and burst < 1):
            raise ValueError("rate limits must be >= 1")
        self.average = average
        self.burst = burst
        self.interval = interval
        self.burst_interval = burst_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._times: list[float] = []

    def hit(self) -> Decision:
        """Record one request now and say whether it is within the limits."""
        with self._lock:
            now = self._clock()
            expired = bisect_right(self._times, now - self.interval)
            if expired:
                del self._times[:expired]
            in_window = len(self._times)
            allowed = in_window < self.average
            if self.burst is not None:
                in_burst = in_window - bisect_left(self._times, now - self.burst_interval)
                allowed = allowed and in_burst < self.burst
            self._times.append(now)
            remaining = max(0, self.average - len(self._times))
            return Decision(allowed, self.average, self.interval, remaining)


class RateLimits:
    """The per-class API limiters configured by ``rate_limits``.

    ``rate_limits`` is None (no limits) or a dict mapping "uncacheable" and/or "cacheable"
    to ``(average_per_minute, burst_per_10s)`` or ``(average, burst, interval_s,
    burst_interval_s)``; a class left out is unlimited.
    """

    def __init__(self, rate_limits: dict[str, tuple[int, ...]] | None = None) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[str, SlidingWindowLimiter] = {}
        self.configure(rate_limits)

    def configure(self, rate_limits: dict[str, tuple[int, ...]] | None) -> None:
        """Replace the limits (and forget all counted requests)."""
        limiters: dict[str, SlidingWindowLimiter] = {}
        for name, limits in (rate_limits or {}).items():
            if name not in RATE_LIMIT_CLASSES:
                raise ValueError(
                    f"unknown rate-limit class {name!r}; expected one of {RATE_LIMIT_CLASSES}"
                )
            if len(limits) not in (2, 4):
                raise ValueError(
                    f"rate limits for {name!r} must be (average, burst) or (average, burst, "
                    f"interval, burst_interval), got {limits!r}"
                )
            average, burst, *windows = limits
            interval, burst_interval = windows or (60, 10)
            limiters[name] = SlidingWindowLimiter(
                int(average), int(burst), interval=interval, burst_interval=burst_interval
            )
        with self._lock:
            self._limiters = limiters

    def limiter(self, class_name: str) -> SlidingWindowLimiter | None:
        with self._lock:
            return self._limiters.get(class_name)
