"""Scripted faults (``Sandbox.inject``) and scheduled actions (``Sandbox.schedule``).

A fault or schedule matches a request by path prefix (``match``); with ``match=None`` it
matches every API request (``/v1/...`` and ``/api/...``) but never ``/oauth/token``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Faults that replace the whole response; at most one of them applies to a request.
REPLACING_KINDS = frozenset({"status", "rate_limit", "malformed_json", "non_json"})
#: Accepted parameters per fault kind (see ``Sandbox.inject``).
FAULT_PARAMS: dict[str, frozenset[str]] = {
    "status": frozenset({"status", "headers", "body"}),
    "rate_limit": frozenset({"retry_after", "ratelimit_headers", "interval", "limit"}),
    "malformed_json": frozenset(),
    "truncated": frozenset({"short_read"}),
    "non_json": frozenset(),
    "repeat_next": frozenset(),
    "foreign_next": frozenset({"url"}),
    "delay": frozenset({"seconds"}),
    "expire_token": frozenset(),
}
DEFAULT_FOREIGN_URL = "http://127.0.0.2:9/x"
API_KINDS = ("pack", "commercelayer")


def _matches(match: str | None, path: str, api: str, only_api: str | None = None) -> bool:
    if match is not None:
        return path.startswith(match)
    if only_api is not None:
        return api == only_api
    return api in API_KINDS


@dataclass
class Fault:
    """One injected fault: skips ``skip`` matching requests, then applies ``times`` times."""

    kind: str
    params: dict[str, Any]
    times: int | None
    skip: int
    match: str | None

    def matches(self, path: str, api: str) -> bool:
        # expire_token only makes sense for Commerce Layer requests when match is not given
        only = "commercelayer" if self.kind == "expire_token" else None
        return _matches(self.match, path, api, only)


@dataclass
class FaultEffects:
    """The faults applying to one request, already consumed."""

    replace: Fault | None = None
    delay: float = 0.0
    truncated: Fault | None = None
    next_link: str | None = None  # "repeat" or a literal URL
    expire_token: bool = False
    applied: list[str] = field(default_factory=list)


class FaultInjector:
    """Thread-safe list of pending faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        after: int = 0,
        match: str | None = None,
        **params: Any,
    ) -> Fault:
        """Register a fault; see ``Sandbox.inject``. Raises ValueError on bad arguments."""
        allowed = FAULT_PARAMS.get(kind)
        if allowed is None:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_PARAMS)}")
        unknown = set(params) - allowed
        if unknown:
            raise ValueError(f"fault {kind!r} takes no parameter(s) {sorted(unknown)}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        if after < 0:
            raise ValueError("after must be >= 0")
        fault = Fault(kind, dict(params), times, after, match)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str, api: str) -> FaultEffects:
        """Advance every fault matching this request and return those that apply now."""
        effects = FaultEffects()
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(path, api):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.kind in REPLACING_KINDS:
                    if effects.replace is not None:
                        continue  # stays pending for a later request
                    effects.replace = fault
                elif fault.kind == "delay":
                    effects.delay += float(fault.params.get("seconds", 1.0))
                elif fault.kind == "truncated":
                    effects.truncated = fault
                elif fault.kind == "repeat_next":
                    effects.next_link = "repeat"
                elif fault.kind == "foreign_next":
                    effects.next_link = str(fault.params.get("url", DEFAULT_FOREIGN_URL))
                elif fault.kind == "expire_token":
                    effects.expire_token = True
                effects.applied.append(fault.kind)
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
        return effects


@dataclass
class _Scheduled:
    remaining: int
    action: Callable[[], object]
    match: str | None


class Scheduler:
    """Actions to run right after the Nth matching request has been answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Scheduled] = []

    def schedule(
        self, after_requests: int, action: Callable[[], object], match: str | None = None
    ) -> None:
        if after_requests < 1:
            raise ValueError("after_requests must be >= 1")
        with self._lock:
            self._entries.append(_Scheduled(after_requests, action, match))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def due(self, path: str, api: str) -> list[Callable[[], object]]:
        """Count this answered request; return the actions that are due now (run once)."""
        actions: list[Callable[[], object]] = []
        with self._lock:
            for entry in list(self._entries):
                if not _matches(entry.match, path, api):
                    continue
                entry.remaining -= 1
                if entry.remaining <= 0:
                    actions.append(entry.action)
                    self._entries.remove(entry)
        return actions
