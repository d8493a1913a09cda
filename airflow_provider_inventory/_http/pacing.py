"""Client-side rate pacing: send evenly at the average rate, adapt to what the server says.

How a :class:`RatePacer` decides when the next request may leave:

- **Evenly at the average rate.** Requests are spaced ``interval / limit`` apart (at 98 % of the
  average, so jitter in transit never makes two sends look closer to the server than to us).
  Spacing evenly means any burst limit of at least the average's share of its window (90/min
  with 16 per 10 s, 30/min with 5 per 10 s) is never tripped, known or not. The known windows
  ("at most N in any T seconds") stay as ceilings on top, with a small margin.
- **Adaptive, like TCP.** The pacer sends at ``factor`` x the average, and reads every
  response's ``X-Ratelimit-Remaining`` (the budget left in the window for everyone behind the
  same IP) against its own sends in that window:

  - others spend the budget too: never above our share of 85 % of the limit (our sends in the
    window over all it holds, times 85 % of the average). Checked on every response, from the
    first one (the first request probes): pacers that start together on separate hosts see
    each other within a request or two and share the average instead of each sending at all of
    it, which would trip the burst window (never advertised) and cost every host a 429 and the
    server's interval. The 15 % margin absorbs the sends before the shares are known and the
    growth between two checks;
  - the budget left is low (under 7 %) and others spend it: cut by 5 % (once per window);
  - a 429 despite all that: halve (or cut to our share when others spend), and, when we are
    alone on the budget, cap the recovery just below the rate that got it;
  - otherwise grow: about +0.15 per window near the limit, half the spare budget per window when
    much is left, times the square root of our share of what was spent (N pacers together grow
    like sqrt(N) ones, not N; a small share grows faster for its size than a large one, so the
    shares even out, as with TCP's additive increase), never above the advertised limit.

  Pacers with no shared state (different hosts) thus settle under one shared limit.
- **Bounded.** Every wait, including a hold a header asks for (``Retry-After`` on a 429), is
  capped by ``max_wait``. An advertised limit slower than one request per ``max_wait`` (``1``
  per ``999999`` s) is refused with :class:`RateLimitedError` rather than slept on; a configured
  one refuses only a wait longer than ``max_wait`` that it actually needs (the first request of
  the token endpoint's 30 a minute goes with ``max_wait=1``). Garbage rate headers (``0.5``,
  negative, NaN, text, an absurd interval) are ignored with a DEBUG log.
- **Shared.** :func:`pacer_for` returns one pacer per (API host, rate class, limits) from the
  process registry. Unless host sharing is off, its state lives in a file under the host cache
  directory, updated under an OS file lock, so every process of the host (tasks, triggerer,
  sensors) draws from one budget; threads of one process also coordinate through a
  ``threading.Lock`` first. With a fleet store (Redis, :mod:`._http.fleet`) every process of
  every host draws from one budget there: a :class:`SharedBudget` decides each wait on the
  Redis server's clock while it answers, and the host state takes over while it does not.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_inventory._http.fleet import Fleet, FleetBudget, namespace
from airflow_provider_inventory._http.hoststate import LockedFile, file_name
from airflow_provider_inventory._http.registry import registry
from airflow_provider_inventory._http.settings import RateLimit
from airflow_provider_inventory.exceptions import RateLimitedError

log = logging.getLogger(__name__)

# The server measures arrival time, we measure send time: keep a little slack on each window so
# jitter in transit never makes two requests look closer together to the server than to us.
WINDOW_MARGIN = 0.25
#: Share of the average rate the even spacing aims at.
EVEN_SHARE = 0.98
DEFAULT_MAX_WAIT = 120.0
#: An interval longer than this (about 4 months) is nonsense, not a limit.
MAX_SANE_INTERVAL = 1e7
MIN_FACTOR = 0.05
DECREASE_ON_429 = 0.5
DECREASE_ON_LOW_REMAINING = 0.95
#: After a 429, recovery stops at this share of the factor that got it (then creeps up slowly).
CEILING_AFTER_429 = 0.95
INCREASE_PER_WINDOW = 0.15
#: Far from the limit, the increase per window is this share of the spare budget (if larger).
SPARE_GAIN = 0.5
CEILING_INCREASE_PER_WINDOW = 0.02
#: "Low" remaining budget: below this share of the limit (and at least LOW_WATER_MIN requests).
LOW_WATER = 0.07
LOW_WATER_MIN = 2
#: At most one cut for a low remaining budget per this share of the window.
REMAINING_CUT_SPACING = 1.0
#: Pacers sharing a budget they cannot see each other through (separate hosts) together aim at
#: this share of the limit: each at most its share of the budget spent, times this.
CROWD_LOAD = 0.85
#: While others spend the budget too, growth is weighted by our share to this power (0.5: the
#: square root), between 1 (N pacers grow like one, shares never even out) and 0 (they even out
#: fastest, but N pacers grow like N).
CROWD_GROWTH_EXPONENT = 0.5
#: A pacer whose sends are at least this share of the spent budget is alone on it.
ALONE_SHARE = 0.95
#: Spending by others below this share of the spent budget (or a single request) is noise.
OTHERS_TOLERANCE = 0.05


@dataclass
class PacerState:
    """What a pacer remembers (shared by the processes of a host when host sharing is on).

    Times are ``time.monotonic()`` seconds, which is one clock for the whole host on Linux and
    macOS; :meth:`from_bytes` drops anything a reboot or a foreign file could make nonsensical.
    """

    sent: list[float] = field(default_factory=list)
    hold_until: float = 0.0
    factor: float = 1.0
    ceiling: float = 1.0
    decreased_at: float = -math.inf
    advertised: RateLimit | None = None
    refused: RateLimit | None = None
    share: float = 1.0

    def to_bytes(self) -> bytes:
        """The state in a compact binary form (a fixed header, then the send times)."""
        advertised = self.advertised or _NO_LIMIT
        refused = self.refused or _NO_LIMIT
        header = _HEADER.pack(
            _MAGIC,
            self.hold_until,
            self.factor,
            self.ceiling,
            self.decreased_at if math.isfinite(self.decreased_at) else math.nan,
            self.share,
            advertised.limit,
            advertised.interval,
            refused.limit,
            refused.interval,
        )
        return header + array("d", self.sent).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, now: float, max_wait: float) -> PacerState:
        """Parse ``data``; anything unreadable, out of range or in the future is dropped."""
        size = _HEADER.size
        if len(data) < size or (len(data) - size) % 8 or data[: len(_MAGIC)] != _MAGIC:
            return cls()
        _, hold, factor, ceiling, decreased, share, *limits = _HEADER.unpack_from(data)
        sent = array("d", data[size:]).tolist()
        # Written in send order by this module: a sum that is not finite, or a last send in the
        # future (a reboot reset the clock; a foreign file), discards the lot.
        if sent and (not math.isfinite(math.fsum(sent)) or sent[-1] > now + 1.0):
            sent = []
        return cls(
            sent=sent,
            hold_until=min(_finite(hold, 0.0), now + max_wait),
            factor=_clamp(factor, MIN_FACTOR, 1.0, default=1.0),
            ceiling=_clamp(ceiling, MIN_FACTOR, 1.0, default=1.0),
            decreased_at=decreased if math.isfinite(decreased) and decreased <= now else -math.inf,
            share=_clamp(share, MIN_FACTOR, 1.0, default=1.0),
            advertised=_limit_from(limits[0], limits[1]),
            refused=_limit_from(limits[2], limits[3]),
        )


_MAGIC = b"INVPACE1"
_HEADER = struct.Struct("<8s5ddddd")
_NO_LIMIT = RateLimit(0, math.nan)


class StateStore(Protocol):
    """Where a pacer's state lives: ``with store.transaction(now, max_wait) as state`` holds the
    store's lock for the block and keeps what the block changed."""

    def transaction(self, now: Callable[[], float], max_wait: float) -> Any:
        """A context manager yielding the :class:`PacerState`."""
        ...


class SharedBudget(Protocol):
    """A send budget shared beyond one host (the fleet's, in Redis: ``_http.fleet.FleetBudget``)."""

    def reserve(self, windows: Sequence[RateLimit], spacing: float) -> tuple[float, int] | None:
        """Commit a send if nothing is in the way: ``(wait, sends in the first window)``, with
        ``wait <= 0`` when committed; ``None`` when the budget cannot be used now."""
        ...

    def hold(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (best effort)."""
        ...


class MemoryStore:
    """State in this process only (host sharing off, or no usable cache directory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = PacerState()

    @contextmanager
    def transaction(self, now: Callable[[], float], max_wait: float) -> Iterator[PacerState]:
        with self._lock:
            yield self._state


class FileStore:
    """State in a file shared by the processes of the host, changed under an OS file lock (in
    the process when the file cannot be used, e.g. a symbolic link: nothing is followed)."""

    def __init__(self, file: LockedFile) -> None:
        self.file = file
        self._fallback = MemoryStore()

    @contextmanager
    def transaction(self, now: Callable[[], float], max_wait: float) -> Iterator[PacerState]:
        if not self.file.usable():  # e.g. a symbolic link put in its place: warned once
            with self._fallback.transaction(now, max_wait) as state:
                yield state
            return
        with self.file.locked() as slot:
            state = PacerState.from_bytes(slot.data, now(), max_wait)
            yield state
            slot.write(state.to_bytes())


class RatePacer:
    """Spaces requests evenly under the limits and adapts to the server's signals.

    Args:
        average: the long (average) window; replaced by the server's advertised
            ``X-Ratelimit-Limit`` / ``X-Ratelimit-Interval`` unless ``pinned``.
        burst: an optional short window (Commerce Layer: per 10 seconds), a ceiling only.
        pinned: the limits were set explicitly on the connection; server headers do not change
            them (the adaptive factor still reacts to 429s and the remaining budget).
        max_wait: the longest single wait; limits slower than one request per ``max_wait`` are
            refused (``acquire`` raises :class:`RateLimitedError`).
        store: where the state lives (default: in this process).
        shared: a budget shared beyond the store (the fleet's, see :mod:`._http.fleet`): while
            it answers, it decides every wait on its own clock; when it cannot be reached,
            the store's state does.
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        average: RateLimit,
        burst: RateLimit | None = None,
        *,
        pinned: bool = False,
        max_wait: float = DEFAULT_MAX_WAIT,
        store: StateStore | None = None,
        shared: SharedBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._configured = average
        self._burst = burst
        self._pinned = pinned
        self._max_wait = max_wait
        self._store: StateStore = store or MemoryStore()
        self._shared = shared
        self._shared_sends: tuple[float, int] | None = None
        self._clock = clock
        self._sleep = sleep
        self._waited_lock = threading.Lock()
        self._announced: RateLimit | None = None
        self.waited = 0.0

    # ------------------------------------------------------------------ the contract

    def acquire(self) -> float:
        """Wait until a request may be sent, record it, and return the seconds waited.

        With a shared budget (the fleet's, in Redis) the budget decides the wait on its own
        clock; while it cannot be reached, the local (host or process) state decides.

        Raises:
            RateLimitedError: the limits in force allow less than one request per ``max_wait``
                and a wait longer than ``max_wait`` is needed now (the first request of a slow
                limit needs none and is sent).
        """
        waited = 0.0
        slot: float | None = None  # when the last sleep should have ended
        while True:
            with self._transaction() as state:
                now = self._clock()
                self._refuse_if_refused(state)
                wait = self._shared_wait(state, now)
                if wait is None:
                    wait = self._wait_needed(state, now)
                if wait <= 0:
                    self._record_send(state, now if slot is None else min(now, slot))
                    break
                self._refuse_if_too_slow(state, wait)
            slot = now + wait
            self._sleep(wait)
            waited += wait
        with self._waited_lock:
            self.waited += waited
        return waited

    def _shared_wait(self, state: PacerState, now: float) -> float | None:
        """The shared budget's wait (``<= 0``: the send is committed there), or ``None`` when
        there is no shared budget or it cannot be reached (pace on the local state)."""
        if self._shared is None:
            return None
        windows = self._windows(state)
        self._trim(state, now, windows)
        if state.hold_until > now:  # a hold this process saw (its own 429) counts too
            return state.hold_until - now
        reserved = self._shared.reserve(windows, min(self._spacing(state), self._max_wait))
        if reserved is None:
            return None
        wait, sends = reserved
        self._shared_sends = (now, sends)
        return wait

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """See a response (any status): adopt an advertised limit, adapt the rate, hold on 429."""
        signals = RateSignals.parse(headers)
        with self._transaction() as state:
            now = self._clock()
            if signals.advertised is not None and not self._pinned:
                self._adopt(state, signals.advertised)
            if status == 429:
                # Others known to spend the budget too: fall back to our share of it at once.
                cut = min(DECREASE_ON_429, state.share)
                # Alone, a 429 means our own rate is too high: remember it as a ceiling. Shared,
                # it says nothing about what our share may grow back to.
                self._decrease(state, now, cut, ceiling=state.share >= ALONE_SHARE)
                hold = signals.retry_after
                if hold is None:
                    hold = self._spacing(state)
                state.hold_until = max(state.hold_until, now + min(hold, self._max_wait))
                if self._shared is not None:
                    self._shared.hold(min(hold, self._max_wait))
            elif signals.remaining is not None:
                self._follow_remaining(state, now, signals)
            elif status < 400:
                self._increase(state)

    # ------------------------------------------------------------------ the rest of the face

    @property
    def windows(self) -> Sequence[RateLimit]:
        """The limits in force (the advertised average replaces the configured one)."""
        with self._transaction() as state:
            return self._windows(state)

    @property
    def factor(self) -> float:
        """The adaptive share of the average rate currently used (1.0: the full average)."""
        with self._transaction() as state:
            return state.factor

    def penalize(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (capped by ``max_wait``)."""
        with self._transaction() as state:
            hold = min(max(seconds, 0.0), self._max_wait)
            state.hold_until = max(state.hold_until, self._clock() + hold)
        if self._shared is not None:
            self._shared.hold(hold)

    # ------------------------------------------------------------------ rules

    def _transaction(self) -> Any:
        return self._store.transaction(self._clock, self._max_wait)

    def _windows(self, state: PacerState) -> list[RateLimit]:
        adopted = state.advertised if not self._pinned else None
        average = adopted if adopted is not None else self._configured
        windows = [average]
        if self._burst is not None:
            scale = average.limit / self._configured.limit
            windows.append(RateLimit(max(1, int(self._burst.limit * scale)), self._burst.interval))
        return windows

    def _spacing(self, state: PacerState) -> float:
        average = self._windows(state)[0]
        return average.interval / (average.limit * EVEN_SHARE * state.factor)

    def _trim(self, state: PacerState, now: float, windows: Sequence[RateLimit]) -> None:
        """Forget the sends no window can see any more."""
        horizon = max(w.interval for w in windows) + WINDOW_MARGIN
        keep = max(w.limit for w in windows)
        cut = bisect_right(state.sent, now - horizon)
        del state.sent[: max(cut, len(state.sent) - keep)]

    def _wait_needed(self, state: PacerState, now: float) -> float:
        windows = self._windows(state)
        self._trim(state, now, windows)
        wait = state.hold_until - now
        if state.sent:
            spacing = min(self._spacing(state), self._max_wait)
            wait = max(wait, state.sent[-1] + spacing - now)
        for window in windows:
            if len(state.sent) >= window.limit:
                # The request `limit` sends ago must have left this window.
                boundary = state.sent[-window.limit] + window.interval + WINDOW_MARGIN
                wait = max(wait, min(boundary - now, window.interval + WINDOW_MARGIN))
        return wait

    def _record_send(self, state: PacerState, at: float) -> None:
        """Record a send at ``at``: the slot it waited for, so that oversleeping (a loaded
        machine wakes late) does not slow the cadence; never before the last send."""
        state.sent.append(max(at, state.sent[-1]) if state.sent else at)

    def _refuse_if_refused(self, state: PacerState) -> None:
        """An advertised limit slower than ``max_wait`` allows: refused before anything is sent."""
        if state.refused is not None:
            raise self._too_slow_error(state.refused)

    def _refuse_if_too_slow(self, state: PacerState, wait: float) -> None:
        """Refuse a wait longer than ``max_wait`` that a limit slower than one request per
        ``max_wait`` imposes (shorter waits, and sends that need none, go ahead)."""
        if wait <= self._max_wait:
            return
        slow = next(
            (w for w in self._windows(state) if w.interval / w.limit > self._max_wait), None
        )
        if slow is not None:
            raise self._too_slow_error(slow)

    def _too_slow_error(self, slow: RateLimit) -> RateLimitedError:
        return RateLimitedError(
            f"The rate limit in force ({slow.limit} request(s) per {slow.interval:g} s) would "
            f"mean waiting {slow.interval / slow.limit:.0f} s between requests, more than "
            f"max_retry_wait={self._max_wait:g} s allows. Nothing was sent. If the limit is real, "
            f"raise the connection's extra field 'max_retry_wait'; otherwise pin the limits with "
            f"'rate_limit_average' / 'rate_limit_interval'."
        )

    def _adopt(self, state: PacerState, advertised: RateLimit) -> None:
        if advertised.interval / advertised.limit > self._max_wait:
            state.refused = advertised
            return
        state.refused = None
        if advertised == state.advertised:
            return
        state.advertised = advertised
        if advertised != self._announced:
            self._announced = advertised
            log.info(
                "Server advertises %d requests per %g s; pacing to that.",
                advertised.limit,
                advertised.interval,
            )

    def _follow_remaining(self, state: PacerState, now: float, signals: RateSignals) -> None:
        """Keep to our share when others spend the budget too; slow down when it is nearly
        spent; speed up while it is not."""
        assert signals.remaining is not None
        average = self._windows(state)[0]
        limit = signals.limit or average.limit
        interval = signals.interval or average.interval
        own = self._own_sends(state, now, interval)
        spent = limit - signals.remaining
        others = spent - own
        state.share = _clamp(own / spent if spent > 0 else 1.0, MIN_FACTOR, 1.0, default=1.0)
        others_spend = others > max(1, OTHERS_TOLERANCE * spent)
        if others_spend and own and self._keep_to_share(state, now):
            return
        low = signals.remaining < max(LOW_WATER_MIN, LOW_WATER * limit)
        if not low:
            # Far from the limit, claim a share of the spare budget at once (a proportional
            # step); near it, the slow additive one.
            spare = (signals.remaining - LOW_WATER * limit) / limit
            step = max(INCREASE_PER_WINDOW, SPARE_GAIN * spare)
            weight = state.share**CROWD_GROWTH_EXPONENT if others_spend else state.share
            self._increase(state, share=weight, step=step)
            return
        if not others_spend:
            return  # our own sending explains it: the even spacing already keeps us under
        if now - state.decreased_at < interval * REMAINING_CUT_SPACING:
            return  # the window still holds the sends from before the last cut
        self._decrease(state, now, DECREASE_ON_LOW_REMAINING, ceiling=False)

    def _keep_to_share(self, state: PacerState, now: float) -> bool:
        """Cut to our share of :data:`CROWD_LOAD` x the average if above it; ``True`` if cut.

        Our share (our sends in the window over all it holds) times the target gives rates
        that add up to the target whatever each pacer's share, so pacers that cannot see each
        other still stay under one limit together. Unlike the other cuts it is not spaced: the
        rule only ever lowers the rate to what the latest response says fits.
        """
        fit = max(MIN_FACTOR, CROWD_LOAD * state.share / EVEN_SHARE)
        if state.factor <= fit:
            return False
        state.factor = fit
        state.decreased_at = now
        log.debug("Pacing at %.0f%% of the average rate (our share of it).", 100 * fit)
        return True

    def _own_sends(self, state: PacerState, now: float, interval: float) -> int:
        """Our sends in the last ``interval``: the fleet's, when a shared budget answered
        within it (the fleet is one sender), else this state's."""
        if self._shared_sends is not None and now - self._shared_sends[0] < interval:
            return self._shared_sends[1]
        return len(state.sent) - bisect_right(state.sent, now - interval)

    def _decrease(self, state: PacerState, now: float, by: float, *, ceiling: bool) -> bool:
        """Multiply the factor by ``by`` unless it was just lowered (one cut per two sends)."""
        if now - state.decreased_at < 2 * self._spacing(state):
            return False
        if ceiling:
            state.ceiling = max(MIN_FACTOR, state.factor * CEILING_AFTER_429)
        state.factor = max(MIN_FACTOR, state.factor * by)
        state.decreased_at = now
        log.debug("Pacing at %.0f%% of the average rate.", 100 * state.factor)
        return True

    def _increase(
        self, state: PacerState, share: float = 1.0, step: float = INCREASE_PER_WINDOW
    ) -> None:
        """Additive increase: about +INCREASE_PER_WINDOW per average window of healthy replies,
        times this pacer's ``share`` of the budget spent, so that N pacers together grow the
        total like one would (and do not overshoot N times as fast)."""
        average = self._windows(state)[0]
        per_window = max(1.0, average.limit * state.factor)
        share = min(max(share, MIN_FACTOR), 1.0)
        state.ceiling = min(1.0, state.ceiling + CEILING_INCREASE_PER_WINDOW * share / per_window)
        state.factor = min(state.ceiling, state.factor + step * share / per_window)


@dataclass(frozen=True)
class RateSignals:
    """The rate-limit headers of one response, each ``None`` when missing or nonsense."""

    limit: int | None
    interval: float | None
    remaining: int | None
    retry_after: float | None

    @property
    def advertised(self) -> RateLimit | None:
        """The advertised average window, when both halves are usable."""
        if self.limit is None or self.interval is None:
            return None
        return RateLimit(self.limit, self.interval)

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateSignals:
        """Read ``X-Ratelimit-Limit`` / ``-Interval`` / ``-Remaining`` and ``Retry-After``."""
        limit = _header_number(headers, "X-Ratelimit-Limit", whole=True, minimum=1)
        interval = _header_number(headers, "X-Ratelimit-Interval", whole=False, minimum=1e-3)
        remaining = _header_number(headers, "X-Ratelimit-Remaining", whole=True, minimum=0)
        retry_after = _header_number(headers, "Retry-After", whole=False, minimum=0)
        return cls(
            limit=int(limit) if limit is not None else None,
            interval=interval,
            remaining=int(remaining) if remaining is not None else None,
            retry_after=retry_after,
        )


def _header_number(
    headers: Mapping[str, str], name: str, *, whole: bool, minimum: float
) -> float | None:
    """A header as a number, or ``None`` (logged at DEBUG) when it is not a sensible one."""
    text = headers.get(name)
    if text is None:
        return None
    try:
        number = float(str(text).strip())
    except ValueError:
        number = math.nan
    sane = (
        math.isfinite(number)
        and number >= minimum
        and (not whole or number.is_integer())
        and number <= (MAX_SANE_INTERVAL if not whole else 1e9)
    )
    if not sane:
        log.debug("Ignoring the %s header %r: not a usable rate-limit value.", name, text[:40])
        return None
    return number


def _finite(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


def _clamp(value: float | None, low: float, high: float, *, default: float) -> float:
    if value is None or not math.isfinite(value):
        return default
    return min(max(value, low), high)


def _limit_from(count: float, interval: float) -> RateLimit | None:
    if not (math.isfinite(count) and math.isfinite(interval)) or count < 1 or interval <= 0:
        return None
    return RateLimit(int(count), interval)


# ---------------------------------------------------------------------- sharing


def pacer_for(
    host: str,
    rate_class: str,
    windows: Sequence[RateLimit],
    *,
    pinned: bool,
    max_wait: float,
    host_sharing: bool = True,
    fleet: Fleet | None = None,
    scope: str = "",
) -> RatePacer:
    """The pacer shared by every sender to ``host`` in ``rate_class`` with these limits.

    This is the one entry point hooks use: the contract the request loop relies on is
    ``acquire() -> seconds waited`` before every attempt and ``observe(status, headers)`` after
    every response. Pacers are keyed by their limits too, so a limit edited on a connection
    takes effect. With host sharing on (the default; see :mod:`._http.hoststate`) the state is
    shared by every process of the host; ``host_sharing=False`` (a connection's choice) keeps it
    in the process.

    Args:
        host: the API origin (the budget is per API host).
        rate_class: the server's rate-limit class (``"uncacheable"``, ``"pack"``...).
        windows: the average window first, then an optional burst window.
        pinned: set on the connection: advertised limits do not replace them.
        max_wait: caps any single wait (see :class:`RatePacer`).
        host_sharing: ``False`` to keep this pacer's state in the process.
        fleet: a Redis shared by the fleet: every process of every host using it draws from
            one budget there (see :mod:`._http.fleet`); the host (or process) state takes over
            while Redis cannot be reached.
        scope: part of the fleet budget's key beside the host (several egress IPs: one
            budget per IP).
    """
    if not windows:
        raise ValueError("pacer_for needs at least one rate-limit window")
    # The budget (and its host file) is per API host, class and limits; how a caller waits
    # (pinned, max_wait) makes its own pacer object over that same budget.
    budget = (host, rate_class, *(f"{w.limit}/{w.interval:g}" for w in windows))
    key = (*budget, f"pinned={pinned}", f"max_wait={max_wait:g}")
    if fleet is not None:
        key = (*key, fleet.name, scope)
    shared = registry()
    directory = shared.host.state_dir("pacers") if host_sharing else None
    kind = "pacer" if directory is not None else "pacer-local"

    def build() -> RatePacer:
        store: StateStore = (
            FileStore(LockedFile(directory / file_name(budget, ".state")))
            if directory is not None
            else MemoryStore()
        )
        shared_budget = (
            FleetBudget(fleet, namespace(host, scope, rate_class, windows), margin=WINDOW_MARGIN)
            if fleet is not None
            else None
        )
        average, *rest = windows
        return RatePacer(
            average,
            rest[0] if rest else None,
            pinned=pinned,
            max_wait=max_wait,
            store=store,
            shared=shared_budget,
        )

    return shared.shared(kind, key, build)


def reset_shared_pacers() -> None:
    """Forget every shared pacer of this process (tests); host files are left alone."""
    registry().clear(("pacer", "pacer-local"))


__all__ = [
    "FileStore",
    "MemoryStore",
    "PacerState",
    "RatePacer",
    "RateSignals",
    "SharedBudget",
    "pacer_for",
    "reset_shared_pacers",
]
