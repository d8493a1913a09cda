"""State shared by a fleet of hosts in Redis: one rate budget and one access token for all.

Host sharing (:mod:`._http.hoststate`) covers the processes of one host. Celery workers on
several machines, a pod per task (KubernetesExecutor) or a managed service behind one egress IP
share the API's per-IP budget without seeing each other's files. With a Redis connection they
draw from one budget and one token:

- :class:`Fleet` is one Redis server as seen by this process: a client with short socket
  timeouts, the budget script (``fleet.lua``, package data) and the failure policy. Any Redis
  failure (unreachable, slow, out of memory, a replica) raises :class:`FleetUnavailable` to the
  caller, which falls back to the host; it is logged once per outage at WARNING, and Redis is
  tried again after ``cooldown`` seconds (INFO when it is back). A refused password or ACL is
  an :class:`~airflow_provider_inventory.exceptions.InventoryConfigError` instead: waiting does
  not fix it.
- :class:`FleetBudget` is one rate class's budget: every window (average and burst), the even
  spacing and the 429 hold are checked and committed in one atomic script on the Redis server's
  clock, which returns the exact wait. Keys are namespaced by API host, scope, class and limits
  (``inventory:v1:{...}``) and expire, so nothing grows.
- :class:`FleetTokenStore` keeps one access token per credential in Redis, encrypted with the
  given cipher (Airflow's Fernet key), expiring when it must be refreshed; one process fetches
  it under a short lock while the others wait for it.

The ``redis`` package is imported only when a :class:`Fleet` connects (``redis`` extra).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

from airflow_provider_inventory._http.hoststate import Cipher
from airflow_provider_inventory._http.settings import RateLimit
from airflow_provider_inventory.exceptions import InventoryConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "inventory:v1"
DEFAULT_COOLDOWN = 30.0
#: Socket timeouts for Redis: a slow Redis must cost a request milliseconds, not seconds.
DEFAULT_SOCKET_TIMEOUT = 0.5
#: A process waking this much after its slot still sends at the slot's time (see fleet.lua).
SLOT_GRACE = 0.05
#: How long one process may hold the token lock while it fetches (then another may try).
TOKEN_LOCK_SECONDS = 15.0
TOKEN_POLL_SECONDS = 0.05
#: Redis error replies that mean a refused password or ACL (not an outage).
_AUTH_REPLIES = ("WRONGPASS", "NOAUTH", "NOPERM", "invalid password", "invalid username")

EXTRA_HINT = "pip install 'airflow-provider-inventory[redis]'"


class FleetUnavailable(Exception):
    """Redis cannot be used right now (down, slow, full, cooling down): use the host instead."""


def budget_script() -> str:
    """The Lua source of the fleet budget (package data ``_http/fleet.lua``)."""
    return resources.files(__package__).joinpath("fleet.lua").read_text(encoding="utf-8")


class Fleet:
    """One Redis server shared by the fleet, with its failure policy.

    Args:
        connect: builds the ``redis.Redis`` client (short socket timeouts, no retries of its
            own); called on first use and again after an outage.
        name: how messages name it (the Airflow connection and its address; never a password).
        cooldown: seconds between attempts while Redis is failing.
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        name: str,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.cooldown = cooldown
        self._connect = connect
        self._clock = clock
        self._lock = threading.Lock()
        self._client: Any = None
        self._script: Any = None
        self._retry_at = 0.0
        self._down = False
        self._pid = os.getpid()

    @property
    def available(self) -> bool:
        """Whether Redis is in use now (not cooling down after a failure)."""
        with self._lock:
            return not self._down

    def call(self, operation: Callable[[Any], T]) -> T:
        """Run ``operation(client)``; Redis failing raises :class:`FleetUnavailable`.

        Raises:
            FleetUnavailable: Redis failed now or is cooling down from a failure.
            InventoryConfigError: Redis refused the connection's password or user.
        """
        client = self._client_now()
        try:
            result = operation(client)
        except Exception as error:
            if not _is_redis_error(error):
                raise
            self._failed(error)
            raise FleetUnavailable(str(type(error).__name__)) from None
        self._succeeded()
        return result

    def run_script(self, keys: Sequence[str], args: Sequence[str | float]) -> Any:
        """Run the budget script (``EVALSHA``, loaded again if Redis lost it)."""

        def run(client: Any) -> Any:
            with self._lock:
                if self._script is None:
                    self._script = client.register_script(budget_script())
                script = self._script
            return script(keys=list(keys), args=list(args), client=client)

        return self.call(run)

    def check(self) -> None:
        """Ping Redis now: a refused password raises, an outage is logged and cools down."""
        with contextlib.suppress(FleetUnavailable):
            self.call(lambda client: client.ping())

    def _client_now(self) -> Any:
        with self._lock:
            if self._down and self._clock() < self._retry_at:
                raise FleetUnavailable("cooling down")
            if self._client is None or self._pid != os.getpid():
                self._client = self._connect()
                self._script = None
                self._pid = os.getpid()
            return self._client

    def _failed(self, error: Exception) -> None:
        if _is_auth_error(error):
            raise InventoryConfigError(
                f"{self.name} refused the credentials ({type(error).__name__}): fix the "
                f"password (and login, for an ACL user) of that Airflow connection."
            ) from None
        with self._lock:
            first = not self._down
            self._down = True
            self._retry_at = self._clock() + self.cooldown
        if first:
            log.warning(
                "%s failed (%s: %s): pacing on this host's budget and caching tokens on this "
                "host until it answers again (next try in %g s).",
                self.name,
                type(error).__name__,
                _short(error),
                self.cooldown,
            )

    def _succeeded(self) -> None:
        with self._lock:
            was_down, self._down = self._down, False
        if was_down:
            log.info("%s answers again: back on the fleet budget.", self.name)


def _is_redis_error(error: Exception) -> bool:
    """An error of the ``redis`` package, or of the socket under it."""
    return isinstance(error, OSError) or type(error).__module__.startswith("redis")


def _is_auth_error(error: Exception) -> bool:
    kind = type(error).__name__
    if kind in ("AuthenticationError", "AuthenticationWrongNumberOfArgsError", "NoPermissionError"):
        return True
    return kind == "ResponseError" and str(error).startswith(_AUTH_REPLIES)


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return text[:160]


def namespace(host: str, scope: str, kind: str, windows: Sequence[RateLimit]) -> str:
    """The key prefix of one budget: ``inventory:v1:{<host>|<scope>|<class>|<limits>}``.

    The braces are a Redis Cluster hash tag: every key of a budget lives in one slot.
    """
    limits = ",".join(f"{w.limit}/{w.interval:g}" for w in windows)
    return f"{KEY_PREFIX}:{{{host}|{scope}|{kind}|{limits}}}"


class FleetBudget:
    """One rate class's budget in Redis, shared by every process of every host using it.

    Args:
        fleet: the Redis server.
        prefix: the budget's key prefix (:func:`namespace`).
        margin: seconds added to every window (the server counts arrivals, we count sends).
    """

    def __init__(self, fleet: Fleet, prefix: str, *, margin: float) -> None:
        self.fleet = fleet
        self.prefix = prefix
        self._margin = margin
        self._member = uuid.uuid4().hex[:12]
        self._sends = 0
        self._lock = threading.Lock()

    def reserve(self, windows: Sequence[RateLimit], spacing: float) -> tuple[float, int] | None:
        """Take a send slot if one is free now.

        Args:
            windows: the windows in force, the average first.
            spacing: the seconds the fleet keeps between two sends.

        Returns:
            ``(wait, sends)``: ``wait <= 0`` means the send was committed; otherwise the seconds
            to wait before asking again. ``sends`` is the fleet's sends in the first window.
            ``None``: Redis cannot be used now (the caller paces on the host).

        Raises:
            InventoryConfigError: Redis refused the connection's credentials.
        """
        with self._lock:
            self._sends += 1
            member = f"{self._member}-{os.getpid()}-{self._sends}"
        keys = [f"{self.prefix}:hold", f"{self.prefix}:last"]
        # Keyed by position (average, burst), not by limit: adopting an advertised limit keeps
        # the sends already counted (the prefix names the configured limits).
        keys += [f"{self.prefix}:w{n}" for n in range(len(windows))]
        args: list[str | float] = [
            "acquire",
            f"{spacing:.6f}",
            f"{self._margin:g}",
            f"{SLOT_GRACE:g}",
            member,
        ]
        for window in windows:
            args += [str(window.limit), f"{window.interval:.6f}"]
        try:
            wait, sends = self.fleet.run_script(keys, args)
        except FleetUnavailable:
            return None
        return float(wait), int(sends)

    def hold(self, seconds: float) -> None:
        """Make every process of the fleet wait ``seconds`` from now (Redis's now); nothing
        when Redis cannot be used (the caller holds on the host)."""
        with contextlib.suppress(FleetUnavailable):
            self.fleet.run_script([f"{self.prefix}:hold"], ["hold", f"{max(seconds, 0.0):.6f}"])


class FleetTokenStore:
    """Access tokens shared by the fleet: encrypted in Redis, one fetch under a short lock.

    Args:
        fleet: the Redis server.
        cipher: encrypts the token (Airflow's Fernet key); tokens are never stored in clear.
        sleep, clock: injectable for tests.
    """

    def __init__(
        self,
        fleet: Fleet,
        cipher: Cipher,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fleet = fleet
        self._cipher = cipher
        self._sleep = sleep
        self._clock = clock

    @staticmethod
    def key_name(key: tuple[str, ...]) -> str:
        """The Redis key of a credential's token (a hash: it reveals nothing of the key)."""
        digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:40]
        return f"{KEY_PREFIX}:token:{digest}"

    def get(
        self, key: tuple[str, ...], fetch: Callable[[], tuple[str, float]]
    ) -> tuple[str, float]:
        """The fleet's token for ``key`` and the seconds it stays fresh; fetched (by one
        process of the fleet) when there is none.

        Args:
            fetch: returns ``(token, seconds it stays fresh)``; called under the fleet's lock.

        Raises:
            FleetUnavailable: Redis cannot be used and nothing was fetched (use the host).
        """
        name = self.key_name(key)
        deadline = self._clock() + TOKEN_LOCK_SECONDS
        owner = uuid.uuid4().hex
        while True:
            found = self._read(name)
            if found is not None:
                return found
            if self.fleet.call(
                lambda client: client.set(
                    f"{name}:lock", owner, nx=True, px=int(TOKEN_LOCK_SECONDS * 1000)
                )
            ):
                return self._fetch_and_share(name, owner, fetch)
            if self._clock() > deadline:
                log.warning(
                    "Waited %g s for another process of the fleet to fetch the access token "
                    "(%s); fetching one here.",
                    TOKEN_LOCK_SECONDS,
                    self.fleet.name,
                )
                raise FleetUnavailable("the token lock was held too long")
            self._sleep(TOKEN_POLL_SECONDS)

    def forget(self, key: tuple[str, ...], value: str | None) -> None:
        """Delete the fleet's token for ``key`` if it is still ``value``.

        Raises:
            FleetUnavailable: Redis cannot be used.
        """
        name = self.key_name(key)
        stored = self.fleet.call(lambda client: client.get(name))
        if stored is None or self._decrypt(stored) != value:
            return
        self.fleet.run_script([name], ["forget", stored])

    def _read(self, name: str) -> tuple[str, float] | None:
        def read(client: Any) -> tuple[Any, Any]:
            pipe = client.pipeline(transaction=False)
            pipe.get(name)
            pipe.pttl(name)
            stored, ttl = pipe.execute()
            return stored, ttl

        stored, ttl = self.fleet.call(read)
        if stored is None or not isinstance(ttl, int) or ttl <= 0:
            return None
        value = self._decrypt(stored)
        return (value, ttl / 1000) if value else None

    def _fetch_and_share(
        self, name: str, owner: str, fetch: Callable[[], tuple[str, float]]
    ) -> tuple[str, float]:
        try:
            # Another process may have shared one between our read and taking the lock.
            found = self._read(name)
            if found is not None:
                return found
            value, fresh_for = fetch()
            sealed = self._cipher.encrypt(value.encode())
            # Not shared when Redis fails now: this process uses it, the others fetch their own.
            with contextlib.suppress(FleetUnavailable):
                self.fleet.call(
                    lambda client: client.set(name, sealed, px=max(1, int(fresh_for * 1000)))
                )
            return value, fresh_for
        finally:
            with contextlib.suppress(FleetUnavailable):  # else the lock expires on its own
                self.fleet.run_script([f"{name}:lock"], ["forget", owner])

    def _decrypt(self, stored: bytes | str) -> str | None:
        try:
            data = stored.encode() if isinstance(stored, str) else stored
            return self._cipher.decrypt(data).decode()
        except Exception:  # another key, a rotated key: fetch a new one
            log.debug("Ignoring an unreadable fleet token.")
            return None


__all__ = [
    "EXTRA_HINT",
    "Fleet",
    "FleetBudget",
    "FleetTokenStore",
    "FleetUnavailable",
    "budget_script",
    "namespace",
]
