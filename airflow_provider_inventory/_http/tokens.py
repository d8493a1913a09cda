"""A cache of OAuth2 access tokens (e.g. from a ``client_credentials`` grant).

What it guarantees:

- **Keyed by the caller.** The caller chooses the key (a tuple of strings that identifies the
  credential, e.g. token URL, client id, scope and a hash of the secret) and supplies the
  ``fetch`` function. The cache knows nothing about any API.
- **Refreshed a margin before expiry.** A token is replaced :func:`refresh_margin` seconds
  before its lifetime ends (``max(60 s, 10 %)`` of the lifetime, at most half of it), counted
  from when its fetch started, so a request never leaves with a token about to expire.
- **One fetch per key, even with many threads and processes.** Callers that find no fresh token
  for a key wait on that key's lock while one of them fetches; the others then reuse its token.
  With a :class:`HostTokenStore` the lock is also an OS file lock and the token is kept on the
  host, so the task processes, the triggerer and the sensors of one host share one token.
- **One token for a fleet.** With a :class:`~._http.fleet.FleetTokenStore` (Redis) the token
  is shared by every process of every host using that Redis, encrypted with the same cipher and
  expiring when it must be refreshed; one process fetches it under a short lock. While Redis
  cannot be reached, the host store (or the process) takes over.
- **Never in clear text on disk.** A host-shared token is encrypted with the given cipher
  (Airflow's Fernet key, supplied by ``hooks/_host.py``) in a ``0600`` file of a ``0700``
  directory, named by a hash of its key; without a cipher tokens stay in the process. Nothing is
  ever logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_inventory._http.fleet import Fleet, FleetTokenStore, FleetUnavailable
from airflow_provider_inventory._http.hoststate import (
    Cipher,
    LockedFile,
    Slot,
    file_name,
    info_once,
)
from airflow_provider_inventory._http.registry import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # time.monotonic()


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry a token is replaced: ``max(60, 10 %)``, never more than half of it."""
    return min(max(60.0, 0.1 * lifetime), lifetime / 2)


class HostTokenStore:
    """Tokens shared by the processes of a host: one encrypted file per key, under a file lock.

    Args:
        directory: an owner-only directory (see ``hoststate.HostSettings.state_dir``).
        cipher: encrypts the file content (``cryptography.fernet.Fernet`` or alike).
        wall_clock: seconds since the epoch (a token's expiry is shared between processes).
    """

    def __init__(
        self, directory: Path, cipher: Cipher, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self._cipher = cipher
        self._wall_clock = wall_clock
        self._files: dict[tuple[str, ...], LockedFile] = {}
        self._lock = threading.Lock()

    @contextmanager
    def entry(self, key: tuple[str, ...]) -> Iterator[HostTokenEntry | None]:
        """Hold ``key``'s file lock for the block (other processes wait for it); ``None`` when
        the file cannot be used (e.g. a symbolic link: warned once, the token stays in the
        process)."""
        with self._lock:
            file = self._files.get(key)
            if file is None:
                file = self._files[key] = LockedFile(self.directory / file_name(key, ".token"))
        if not file.usable():
            yield None
            return
        with file.locked() as slot:
            yield HostTokenEntry(slot, self._cipher, self._wall_clock)

    def clear(self) -> None:
        """Delete every token file of this directory."""
        with self._lock:
            files, self._files = list(self._files.values()), {}
        for file in files:
            file.close()
        for path in self.directory.glob("*.token"):
            path.unlink(missing_ok=True)


class HostTokenEntry:
    """One key's token file while its lock is held."""

    def __init__(self, slot: Slot, cipher: Cipher, wall_clock: Callable[[], float]) -> None:
        self._slot = slot
        self._cipher = cipher
        self._wall_clock = wall_clock

    def read(self) -> tuple[str, float] | None:
        """``(token, seconds until it must be refreshed)``, or ``None`` if none is usable."""
        if not self._slot.data:
            return None
        try:
            doc = json.loads(self._cipher.decrypt(self._slot.data))
            value, refresh_at = doc["token"], float(doc["refresh_at"])
        except Exception:  # another key, a rotated key, a damaged file: fetch a new one
            log.debug("Ignoring an unreadable shared token file.")
            return None
        if not isinstance(value, str) or not value:
            return None
        left = refresh_at - self._wall_clock()
        return (value, left) if left > 0 else None

    def write(self, value: str, fresh_for: float) -> None:
        """Store ``value``, to be refreshed ``fresh_for`` seconds from now."""
        doc = {"token": value, "refresh_at": self._wall_clock() + fresh_for}
        self._slot.write(self._cipher.encrypt(json.dumps(doc).encode()))

    def forget(self, value: str | None) -> None:
        """Empty the file if it still holds ``value``."""
        shared = self.read()
        if shared is not None and shared[0] == value:
            self._slot.write(b"")


class TokenCache:
    """Access tokens per caller-chosen key, shared by every thread (and, with a host store,
    every process of the host) using it.

    Args:
        clock: a monotonic clock (injectable for tests).
        host: where to share tokens with the other processes of the host, or ``None``.
        fleet: where to share tokens with every host (Redis), or ``None``; the host store
            takes over while it cannot be reached.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        host: HostTokenStore | None = None,
        fleet: FleetTokenStore | None = None,
    ) -> None:
        self._clock = clock
        self.host = host
        self.fleet = fleet
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._fetch_locks: dict[tuple[str, ...], threading.Lock] = {}

    def get(self, key: tuple[str, ...], fetch: Callable[[], tuple[str, float]]) -> str:
        """A valid token for ``key``; ``fetch()`` returns ``(token, lifetime_seconds)`` if needed."""
        token = self._fresh(key)
        if token is not None:
            return token
        with self._fetch_lock(key):
            token = self._fresh(key)
            if token is not None:
                return token
            if self.fleet is not None:
                token = self._from_fleet(key, fetch)
                if token is not None:
                    return token
            if self.host is None:
                return self._fetch(key, fetch, None)
            with self.host.entry(key) as entry:
                if entry is None:
                    return self._fetch(key, fetch, None)
                shared = entry.read()
                if shared is not None:
                    value, fresh_for = shared
                    self._remember(key, value, self._clock() + fresh_for)
                    return value
                return self._fetch(key, fetch, entry)

    def _from_fleet(
        self, key: tuple[str, ...], fetch: Callable[[], tuple[str, float]]
    ) -> str | None:
        """The fleet's token (fetched by this process when the fleet has none), or ``None`` when
        Redis cannot be used and nothing was fetched."""
        assert self.fleet is not None

        def fetch_fresh_for() -> tuple[str, float]:
            started = self._clock()
            value, lifetime = fetch()
            return value, lifetime - refresh_margin(lifetime) - (self._clock() - started)

        try:
            value, fresh_for = self.fleet.get(key, fetch_fresh_for)
        except FleetUnavailable:
            return None
        self._remember(key, value, self._clock() + fresh_for)
        return value

    def _fetch(
        self,
        key: tuple[str, ...],
        fetch: Callable[[], tuple[str, float]],
        entry: HostTokenEntry | None,
    ) -> str:
        started = self._clock()
        value, lifetime = fetch()
        fresh_for = lifetime - refresh_margin(lifetime)
        self._remember(key, value, started + fresh_for)
        if entry is not None:
            entry.write(value, fresh_for - (self._clock() - started))
        return value

    def _remember(self, key: tuple[str, ...], value: str, refresh_at: float) -> None:
        with self._lock:
            self._tokens[key] = _Token(value, refresh_at)

    def invalidate(self, key: tuple[str, ...], value: str | None) -> None:
        """Forget ``value`` if it is still the cached token (another thread or process may have
        replaced it already)."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.value == value:
                del self._tokens[key]
        if self.fleet is not None:
            with contextlib.suppress(FleetUnavailable):
                self.fleet.forget(key, value)
        if self.host is not None:
            with self.host.entry(key) as entry:
                if entry is not None:
                    entry.forget(value)

    def clear(self) -> None:
        """Forget every token (in this process, and this cache's host files)."""
        with self._lock:
            self._tokens.clear()
        if self.host is not None:
            self.host.clear()

    def _fresh(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            return token.value if token is not None and self._clock() < token.refresh_at else None

    def _fetch_lock(self, key: tuple[str, ...]) -> threading.Lock:
        with self._lock:
            return self._fetch_locks.setdefault(key, threading.Lock())


def _build_shared_cache(fleet: Fleet | None = None) -> TokenCache:
    host = registry().host
    directory = host.state_dir("tokens") if host.cipher is not None else None
    if host.cache_dir is not None and host.cipher is None:
        info_once(
            "tokens-not-shared",
            "Access tokens are cached per process, not shared on this host: no Fernet key is "
            "configured ([core] fernet_key), and tokens are never stored in clear text.",
        )
    if fleet is not None and host.cipher is None:
        info_once(
            "tokens-not-fleet-shared",
            "Access tokens are not shared through %s: no Fernet key is configured "
            "([core] fernet_key), and tokens are never stored in clear text.",
            fleet.name,
        )
    fleet_store = FleetTokenStore(fleet, host.cipher) if fleet is not None and host.cipher else None
    if directory is None or host.cipher is None:
        return TokenCache(fleet=fleet_store)
    return TokenCache(host=HostTokenStore(directory, host.cipher), fleet=fleet_store)


def shared_token_cache(fleet: Fleet | None = None) -> TokenCache:
    """The token cache every hook of this process uses (host-shared when the host allows it;
    fleet-shared through ``fleet``, a Redis, when given and a cipher is configured)."""
    key = () if fleet is None else (fleet.name,)
    return registry().shared("tokens", key, lambda: _build_shared_cache(fleet))


__all__ = ["HostTokenStore", "TokenCache", "refresh_margin", "shared_token_cache"]
