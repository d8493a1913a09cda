"""Client-side rate pacing: never send faster than the server allows.

A :class:`RatePacer` holds one or more sliding windows ("at most N requests in any T seconds"),
like the server's own limiter, and blocks a sender until every window has room. Pacers are shared
per key (a connection and a rate-limit class) across all threads and hooks of one process, so
parallel workers and several tasks in one worker split one budget instead of each assuming it
has the whole of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from airflow_provider_inventory._http.settings import RateLimit

log = logging.getLogger(__name__)

# The server measures arrival time, we measure send time: keep a little slack on each window so
# jitter in transit never makes two requests look closer together to the server than to us.
WINDOW_MARGIN = 0.25


class RatePacer:
    """Blocks callers so that no window's limit is exceeded.

    Args:
        average: the long (average) window; replaced by the server's advertised
            ``X-Ratelimit-Limit`` / ``X-Ratelimit-Interval`` unless ``pinned``.
        burst: an optional short window (Commerce Layer: per 10 seconds).
        pinned: the limits were set explicitly on the connection; server headers do not change them.
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        average: RateLimit,
        burst: RateLimit | None = None,
        *,
        pinned: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._average = average
        self._burst = burst
        self._pinned = pinned
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._hold_until = 0.0
        self.waited = 0.0

    @property
    def windows(self) -> Sequence[RateLimit]:
        """The limits in force."""
        return [w for w in (self._average, self._burst) if w is not None]

    def acquire(self) -> float:
        """Wait until a request may be sent, record it, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._sent.append(now)
                    self.waited += waited
                    return waited
            self._sleep(wait)
            waited += wait

    def _wait_needed(self, now: float) -> float:
        horizon = max(w.interval for w in self.windows) + WINDOW_MARGIN
        while self._sent and self._sent[0] <= now - horizon:
            self._sent.popleft()
        wait = self._hold_until - now
        for window in self.windows:
            if len(self._sent) >= window.limit:
                # The request `limit` sends ago must have left this window.
                boundary = self._sent[-window.limit] + window.interval + WINDOW_MARGIN
                wait = max(wait, boundary - now)
        return wait

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """See every response (any status): adopt the server's advertised limit, pause when it
        says nothing is left, and hold every sender after a 429."""
        if status == 429:
            self.penalize(_positive(headers.get("X-Ratelimit-Interval")) or 1.0)
        limit = _positive(headers.get("X-Ratelimit-Limit"))
        interval = _positive(headers.get("X-Ratelimit-Interval"))
        remaining = headers.get("X-Ratelimit-Remaining")
        with self._lock:
            if limit and interval and not self._pinned:
                advertised = RateLimit(int(limit), interval)
                if advertised != self._average:
                    log.info(
                        "Server advertises %d requests per %.0f s; pacing to that.",
                        advertised.limit,
                        advertised.interval,
                    )
                    scale = advertised.limit / self._average.limit
                    self._average = advertised
                    if self._burst is not None:
                        self._burst = RateLimit(
                            max(1, int(self._burst.limit * scale)), self._burst.interval
                        )
            if remaining is not None and remaining.strip() == "0":
                # Others on the same IP may be using the budget: hold back one slot's worth.
                slot = self._average.interval / self._average.limit
                self._hold_until = max(self._hold_until, self._clock() + slot)

    def penalize(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (after a 429 despite pacing)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)


def _positive(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number and number > 0 else None


_registry: dict[tuple[str, ...], RatePacer] = {}
_registry_lock = threading.Lock()


def shared_pacer(key: tuple[str, ...], factory: Callable[[], RatePacer]) -> RatePacer:
    """The process-wide pacer for ``key``, created by ``factory`` on first use."""
    with _registry_lock:
        pacer = _registry.get(key)
        if pacer is None:
            pacer = _registry[key] = factory()
        return pacer


def pacer_for(
    host: str,
    rate_class: str,
    windows: Sequence[RateLimit],
    *,
    pinned: bool,
    max_wait: float,
) -> RatePacer:
    """The pacer shared by every sender to ``host`` in ``rate_class`` with these limits.

    This is the one entry point hooks use: the contract the request loop relies on is
    ``acquire() -> seconds waited`` before every attempt and ``observe(status, headers)`` after
    every response. ``max_wait`` caps any single wait the pacer imposes.
    """
    key = (host, rate_class, *(f"{w.limit}/{w.interval}" for w in windows), str(pinned))
    return shared_pacer(key, lambda: RatePacer(*windows, pinned=pinned))


def reset_shared_pacers() -> None:
    """Forget every shared pacer (tests)."""
    with _registry_lock:
        _registry.clear()
