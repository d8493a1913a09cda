"""The wire under the request loop: an adapter that never retries, a deadline per attempt, and a
body read in chunks up to a cap.

- :class:`WatchedAdapter` is ``requests``' ``HTTPAdapter`` with ``max_retries=0`` (the loop in
  ``client`` decides every retry) whose connections report themselves to the attempt's
  :class:`Deadline`.
- :func:`deadline` bounds one attempt in wall-clock time: when it passes, the attempt's socket is
  shut down, so a read blocked on a server that trickles a byte at a time (headers or body)
  returns at once. ``read_timeout`` alone bounds each socket read, not the request.
- :func:`read_body` reads a body after decompression in chunks and stops at a cap, so a small
  gzip body that inflates to gigabytes costs at most the cap in memory.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

CHUNK_BYTES = 64 * 1024
_RECHECK = 0.05  # seconds: an attempt still connecting when its deadline passes is checked again
_PRUNE_ABOVE = 1024


class Deadline:
    """The wall-clock limit of one attempt; shuts the attempt's socket down when it passes.

    Attributes:
        seconds: the limit, as given.
        expired: whether the limit passed before :meth:`finish`.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._connection: HTTPConnection | None = None
        self._lock = threading.Lock()

    def attach(self, connection: HTTPConnection) -> None:
        """The connection the attempt sends on (called by the connection itself)."""
        with self._lock:
            self._connection = connection

    def expire(self) -> float | None:
        """Shut the attempt's socket down; return a recheck time if it has none yet."""
        with self._lock:
            if self._done:
                return None
            self.expired = True
            sock = self._connection.sock if self._connection is not None else None
            if sock is None:
                return time.monotonic() + _RECHECK
            with contextlib.suppress(OSError):
                # The plain-socket shutdown, also for TLS: it wakes a reader blocked in recv.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            return None

    def finish(self) -> None:
        """The attempt is over: never touch its socket again."""
        with self._lock:
            self._done = True
            self._connection = None

    @property
    def done(self) -> bool:
        """Whether :meth:`finish` was called."""
        return self._done


class _Watchdog:
    """One daemon thread that expires deadlines in time order (no thread per request)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline, at: float | None = None) -> None:
        """Expire ``deadline`` at ``at`` (default: its own time) unless it finishes first."""
        with self._wake:
            if len(self._heap) > _PRUNE_ABOVE:  # finished attempts wait for their time: drop them
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            when = deadline.at if at is None else at
            heapq.heappush(self._heap, (when, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="inventory-deadlines", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                _, _, deadline = heapq.heappop(self._heap)
            recheck = deadline.expire()
            if recheck is not None:
                self.watch(deadline, recheck)


_WATCHDOG = _Watchdog()
_current = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound the attempt sent inside the block (on this thread) to ``seconds`` in all."""
    limit = Deadline(seconds)
    _current.deadline = limit
    _WATCHDOG.watch(limit)
    try:
        yield limit
    finally:
        _current.deadline = None
        limit.finish()


def _attach_current(connection: HTTPConnection) -> None:
    limit: Deadline | None = getattr(_current, "deadline", None)
    if limit is not None:
        limit.attach(connection)


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """``HTTPAdapter`` without retries whose connections are bounded by the attempt's deadline.

    Direct and HTTP(S)-proxied connections are watched; a SOCKS proxy keeps urllib3's own
    connection classes (its attempts are bounded by ``read_timeout`` per read only).
    """

    def __init__(self, pool_size: int) -> None:
        super().__init__(max_retries=0, pool_connections=4, pool_maxsize=max(pool_size, 4))

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class BodyTooLarge(Exception):
    """The body grew past the cap while it was read (after decompression)."""


def read_body(response: requests.Response, limit: int, *, truncate: bool = False) -> bytes:
    """The body of a streamed response, decompressed, read in chunks of at most 64 KiB.

    Args:
        response: a response sent with ``stream=True``.
        limit: the most bytes accepted.
        truncate: return the first ``limit`` bytes instead of failing (for error bodies, of
            which only the start is ever shown).

    Raises:
        BodyTooLarge: the body is larger than ``limit`` (and ``truncate`` is false).
        requests.RequestException: the transfer failed (cut off, timed out, undecodable).
    """
    declared = response.headers.get("Content-Length", "")
    if (
        not truncate
        and declared.isdigit()
        and int(declared) > limit
        and "Content-Encoding" not in response.headers
    ):
        raise BodyTooLarge
    body = bytearray()
    for chunk in response.iter_content(min(CHUNK_BYTES, limit + 1)):
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise BodyTooLarge
    return bytes(body)


def write_body(response: requests.Response, sink: BinaryIO, limit: int) -> int:
    """Copy the body of a streamed response into ``sink`` in chunks of at most 64 KiB.

    The body is decompressed per its ``Content-Encoding`` only (a ``.gz`` file served as
    ``application/gzip`` stays compressed), so memory stays at one chunk however large it is.

    Returns:
        The bytes written.

    Raises:
        BodyTooLarge: more than ``limit`` bytes arrived.
        requests.RequestException: the transfer failed (cut off, timed out, undecodable).
    """
    written = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        written += len(chunk)
        if written > limit:
            raise BodyTooLarge
        sink.write(chunk)
    return written


__all__ = ["BodyTooLarge", "Deadline", "WatchedAdapter", "deadline", "read_body", "write_body"]
