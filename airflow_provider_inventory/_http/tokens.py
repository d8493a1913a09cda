"""An in-memory cache of OAuth2 access tokens (e.g. from a ``client_credentials`` grant).

What it guarantees:

- **Per process, keyed by the caller.** One :class:`TokenCache` serves every thread and every
  hook that share it; the caller chooses the key (a tuple of strings that identifies the
  credential, e.g. token URL, client id, scope and a hash of the secret) and supplies the
  ``fetch`` function. The cache knows nothing about any API.
- **Refreshed a margin before expiry.** A token is replaced :func:`refresh_margin` seconds
  before its lifetime ends (``max(60 s, 10 %)`` of the lifetime, at most half of it), counted
  from when its fetch started, so a request never leaves with a token about to expire.
- **One fetch per key, even with many threads.** Callers that find no fresh token for a key
  wait on that key's lock while one of them fetches; the others then reuse its token. Other
  keys are not blocked.
- **Never persisted.** Tokens live in this object only: nothing is written to disk, to Airflow
  state, or to logs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # time.monotonic()


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry a token is replaced: ``max(60, 10 %)``, never more than half of it."""
    return min(max(60.0, 0.1 * lifetime), lifetime / 2)


class TokenCache:
    """Access tokens per caller-chosen key, shared by every thread using it (never persisted).

    A per-key lock makes concurrent callers wait for one token fetch instead of each fetching.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
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
            started = self._clock()
            value, lifetime = fetch()
            with self._lock:
                self._tokens[key] = _Token(value, started + lifetime - refresh_margin(lifetime))
            return value

    def invalidate(self, key: tuple[str, ...], value: str | None) -> None:
        """Forget ``value`` if it is still the cached token (another thread may have replaced it)."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.value == value:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._tokens.clear()

    def _fresh(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            return token.value if token is not None and self._clock() < token.refresh_at else None

    def _fetch_lock(self, key: tuple[str, ...]) -> threading.Lock:
        with self._lock:
            return self._fetch_locks.setdefault(key, threading.Lock())


_SHARED = TokenCache()


def shared_token_cache() -> TokenCache:
    """The token cache every hook of this process uses (one entry point, so it can be replaced)."""
    return _SHARED


__all__ = ["TokenCache", "refresh_margin", "shared_token_cache"]
