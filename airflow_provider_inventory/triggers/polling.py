"""Polling triggers for deferrable sensors, and the trigger plumbing every trigger shares.

:class:`PollingTrigger` backs the deferrable sensors. It checks a condition every
``poll_interval`` seconds in a worker thread (the hooks are blocking; the triggerer's event loop
never waits on them) and yields exactly one event: ``success``, ``timeout`` at ``end_time``,
or ``error``. Transient API failures (5xx, 429, transport errors that outlived the hook's own
retries) are retried at the next poll, up to ``max_consecutive_errors`` failed checks in a row.
Everything that decides the outcome is in its kwargs, so running it twice (a triggerer restart)
gives the same result.

The asset watchers' change detection (:mod:`airflow_provider_inventory.triggers.changes`) builds
on the plumbing here too: :class:`HookInThread`, the argument checks, ``classpath()``,
``is_transient()`` and ``describe_error()``.

Event payloads of :class:`PollingTrigger`::

    {"status": "success", "count": 3, "message": "...", "end_time": 1748736000.0}
    {"status": "timeout", "count": 1, "message": "...", "end_time": 1748736000.0}
    {"status": "error", "error_type": "AuthenticationError", "message": "..."}

Messages are built from the provider's error messages, which never contain a credential.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow_provider_inventory._compat import BaseTrigger, TriggerEvent
from airflow_provider_inventory.triggers._shared import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    ERROR,
    SUCCESS,
    TIMEOUT,
    Readiness,
    checked_count,
    checked_end_time,
    checked_interval,
    classpath,
    describe_error,
    is_transient,
    transient_errors,
)

if TYPE_CHECKING:
    from airflow_provider_inventory.hooks.base import InventoryHook

H = TypeVar("H", bound="InventoryHook")
T = TypeVar("T")


# ---------------------------------------------------------------------- hooks in threads


class HookInThread(Generic[H]):
    """One hook for a trigger run, used only from worker threads.

    The hook is built on first use inside the thread (looking up the connection may block) and
    thrown away after a failed call, so the next call builds a fresh one and picks up a connection
    that was fixed in the meantime. Calls never overlap: a trigger awaits each one.
    """

    def __init__(self, factory: Callable[[], H]) -> None:
        self._factory = factory
        self._hook: H | None = None

    async def call(self, function: Callable[[H], T]) -> T:
        """Run ``function(hook)`` in a worker thread and return its result (or raise its error)."""
        return await asyncio.to_thread(self._call, function)

    def _call(self, function: Callable[[H], T]) -> T:
        if self._hook is None:
            self._hook = self._factory()
        try:
            return function(self._hook)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the hook's pooled connections."""
        hook, self._hook = self._hook, None
        if hook is not None:
            hook.close()


# ---------------------------------------------------------------------- deferral triggers


class PollingTrigger(BaseTrigger, Generic[H]):
    """Polls a condition until it holds, the deadline passes, or checks keep failing.

    Subclasses say what to check (:meth:`check`, in a worker thread) with which hook
    (:meth:`build_hook`), and which kwargs describe the condition (:meth:`condition_kwargs`).

    Args:
        poll_interval: seconds between checks.
        end_time: deadline in seconds since the epoch; ``None`` waits forever. A check that is
            still running at the deadline is allowed to finish.
        max_consecutive_errors: failed checks in a row (after the hook's own retries) that end
            the wait with an ``error`` event; transient failures before that are retried at the
            next poll. Any other failure (authentication, bad argument, bad response) ends it at
            once.

    Raises:
        InventoryConfigError: an argument is invalid.
    """

    def __init__(
        self,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        end_time: float | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ) -> None:
        super().__init__()
        self.poll_interval = checked_interval("poll_interval", poll_interval)
        self.end_time = checked_end_time(end_time)
        self.max_consecutive_errors = checked_count(
            "max_consecutive_errors", max_consecutive_errors
        )

    @abstractmethod
    def condition_kwargs(self) -> dict[str, Any]:
        """The JSON-able kwargs that define the condition (connection id, filters, thresholds)."""

    @abstractmethod
    def build_hook(self) -> H:
        """A new hook for the trigger's connection (called in a worker thread)."""

    @abstractmethod
    def check(self, hook: H) -> Readiness:
        """Check the condition once (blocking; called in a worker thread)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """``(classpath, kwargs)``; the kwargs are plain JSON."""
        return classpath(type(self)), {
            **self.condition_kwargs(),
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
            "max_consecutive_errors": self.max_consecutive_errors,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check until the condition holds, the deadline passes or checks keep failing.

        Yields:
            Exactly one event: ``success``, ``timeout`` or ``error`` (see the module doc).
        """
        hook = HookInThread(self.build_hook)
        failures = 0
        last: Readiness | None = None
        try:
            while True:
                try:
                    last = await hook.call(self.check)
                except Exception as error:
                    failures += 1
                    if not is_transient(error) or failures >= self.max_consecutive_errors:
                        yield TriggerEvent(self._error_payload(error, failures))
                        return
                    self.log.warning(
                        "Check failed (%s); failure %d of %d tolerated in a row, retrying in %.0f s.",
                        describe_error(error),
                        failures,
                        self.max_consecutive_errors,
                        self.poll_interval,
                    )
                else:
                    failures = 0
                    if last.met:
                        yield TriggerEvent(self._payload(SUCCESS, last, last.detail))
                        return
                    self.log.info("Not yet: %s", last.detail)
                remaining = self._seconds_left()
                if remaining <= 0:
                    yield TriggerEvent(self._timeout_payload(last))
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))
        finally:
            hook.close()

    def _seconds_left(self) -> float:
        return math.inf if self.end_time is None else self.end_time - time.time()

    def _payload(self, status: str, readiness: Readiness | None, message: str) -> dict[str, Any]:
        return {
            "status": status,
            "count": readiness.count if readiness is not None else None,
            "message": message,
            "end_time": self.end_time,
        }

    def _timeout_payload(self, last: Readiness | None) -> dict[str, Any]:
        assert self.end_time is not None
        from airflow_provider_inventory.window import format_instant

        deadline = format_instant(datetime.fromtimestamp(self.end_time, tz=timezone.utc))
        state = last.detail if last is not None else "no check succeeded"
        return self._payload(
            TIMEOUT, last, f"Condition not met by the deadline {deadline}: {state}."
        )

    def _error_payload(self, error: Exception, failures: int) -> dict[str, Any]:
        if is_transient(error):
            message = (
                f"{failures} checks in a row failed (max_consecutive_errors="
                f"{self.max_consecutive_errors}); last error: {describe_error(error)}"
            )
        else:
            message = f"Check failed: {describe_error(error)}"
        return {"status": ERROR, "error_type": type(error).__name__, "message": message}


__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_ERRORS",
    "DEFAULT_POLL_INTERVAL",
    "ERROR",
    "SUCCESS",
    "TIMEOUT",
    "HookInThread",
    "PollingTrigger",
    "Readiness",
    "checked_count",
    "checked_end_time",
    "checked_interval",
    "classpath",
    "describe_error",
    "is_transient",
    "transient_errors",
]
