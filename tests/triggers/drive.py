"""Drive triggers with asyncio, as the triggerer does, against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from airflow.triggers.base import BaseTrigger

from airflow_provider_inventory.sandbox import Sandbox

#: A guard against hanging tests, never an assertion about speed.
GUARD = 20.0


async def events_until_done(trigger: BaseTrigger) -> list[dict[str, Any]]:
    """Every event payload a deferral trigger yields before its generator ends."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.wait_for(collect(), GUARD)


def run_to_end(trigger: BaseTrigger) -> list[dict[str, Any]]:
    """:func:`events_until_done` in a fresh event loop."""
    return asyncio.run(events_until_done(trigger))


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (yielding to the loop) until ``condition()`` holds; fail after :data:`GUARD`."""
    deadline = time.monotonic() + GUARD
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


class MemoryStateStore:
    """Stands in for the asset state store the triggerer hands to an asset watcher."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self.values.get(key, default))

    async def aset(self, key: str, value: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = copy.deepcopy(value)


class Watcher:
    """Runs an event trigger in the background of the running loop and collects its events.

    ``async with Watcher(trigger, sandbox) as watcher: ...``; leaving the block cancels the
    trigger, as the triggerer does when it stops.
    """

    def __init__(self, trigger: BaseTrigger, sandbox: Sandbox, api: str) -> None:
        self.trigger = trigger
        self.sandbox = sandbox
        self.api = api
        self.events: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async for event in self.trigger.run():
            self.events.append(event.payload)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _api_requests(self) -> int:
        return sum(1 for request in self.sandbox.requests if request.api == self.api)

    async def polls(self, count: int = 3) -> None:
        """Wait until the trigger sent ``count`` more API requests (a poll is at least one).

        Three requests after a change guarantee that a whole poll saw it and that its event, if
        any, was collected (the request in flight during the change may not see it, and the
        next poll's event is collected before the poll after it starts). Fails if the trigger
        died.
        """
        target = self._api_requests() + count
        await until(
            lambda: (
                self._api_requests() >= target or (self._task is not None and self._task.done())
            ),
            f"{count} more {self.api} requests",
        )
        if self._task is not None and self._task.done():
            self._task.result()  # re-raise what ended it
            raise AssertionError("the trigger stopped")

    async def event_count(self, count: int) -> None:
        """Wait until ``count`` events were collected."""
        await until(lambda: len(self.events) >= count, f"{count} event(s)")
