"""The process-wide registry: one object holding what every hook of a process shares.

Pacers (per API host, rate class and limits) and the token cache are shared by all hooks and
threads of a process (and, through :mod:`._http.hoststate`, by the processes of a host). They
live in one :class:`Registry` so that there is one place to configure them (the host settings),
bound them (least-recently-used pacers are evicted past ``max_pacers``) and replace them in
tests (:func:`use_registry`, :func:`reset_registry`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from airflow_provider_inventory._http.hoststate import HostSettings

T = TypeVar("T")

DEFAULT_MAX_PACERS = 64


class Registry:
    """Shared objects by (kind, key), created on first use.

    Args:
        host: where host-shared state lives; ``None``: read from the environment on first use
            (``hooks/_host.py`` installs Airflow's configuration with :meth:`configure_host`).
        max_objects: per kind, the least recently used objects beyond this are forgotten.
    """

    def __init__(
        self, host: HostSettings | None = None, *, max_objects: int = DEFAULT_MAX_PACERS
    ) -> None:
        self._host = host
        self._host_from_airflow = host is not None
        self._max_objects = max_objects
        self._lock = threading.RLock()
        self._objects: dict[str, OrderedDict[Hashable, object]] = {}

    @property
    def host(self) -> HostSettings:
        """The host settings (read from the environment the first time if never configured)."""
        with self._lock:
            if self._host is None:
                self._host = HostSettings.from_environment()
            return self._host

    @property
    def host_configured(self) -> bool:
        """Whether :meth:`configure_host` was called (or settings were given at construction)."""
        return self._host_from_airflow

    def configure_host(self, host: HostSettings) -> None:
        """Use ``host`` for every object created from now on (existing ones keep theirs)."""
        with self._lock:
            self._host = host
            self._host_from_airflow = True

    def shared(self, kind: str, key: Hashable, factory: Callable[[], T]) -> T:
        """The object of ``kind`` for ``key``, created by ``factory`` on first use."""
        with self._lock:
            objects = self._objects.setdefault(kind, OrderedDict())
            if key in objects:
                objects.move_to_end(key)
                return cast(T, objects[key])
            created = factory()
            objects[key] = created
            while len(objects) > self._max_objects:
                objects.popitem(last=False)
            return created

    def count(self, kind: str) -> int:
        """How many objects of ``kind`` are held."""
        with self._lock:
            return len(self._objects.get(kind, ()))

    def clear(self, kinds: tuple[str, ...] | None = None) -> None:
        """Forget every object (of ``kinds``, default all); each user keeps the one it holds."""
        with self._lock:
            for kind in list(self._objects) if kinds is None else kinds:
                self._objects.pop(kind, None)


_current = Registry()
_current_lock = threading.Lock()


def registry() -> Registry:
    """The registry every hook of this process uses."""
    return _current


def use_registry(replacement: Registry) -> Registry:
    """Make ``replacement`` the process's registry (tests); returns the one it replaces."""
    global _current
    with _current_lock:
        previous, _current = _current, replacement
    return previous


def reset_registry() -> Registry:
    """Start over with a fresh registry (host settings read again from the environment)."""
    fresh = Registry()
    use_registry(fresh)
    return fresh


__all__ = ["Registry", "registry", "reset_registry", "use_registry"]
