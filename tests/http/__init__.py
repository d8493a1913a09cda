"""Tests of the shared HTTP core, and the small scripted HTTP server they talk to.

The server runs on 127.0.0.1 with an ephemeral port. Each test scripts the replies it wants
(``server.script(Reply(503), Reply(200, {...}))``); once the script runs out, the server answers
``server.default``. Every request that reached it is recorded with its arrival time, so tests
count attempts and measure waits on the server side, where they really happened.

It can also misbehave the way hostile servers and broken proxies do: answer with raw bytes written
piece by piece with a pause between them (:func:`drip`: a response trickled a byte at a time), or
stream a body generated on the fly (:func:`gzip_bomb`: a few KB on the wire, a gigabyte inflated).
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_inventory._http.auth import HeaderTokenAuth
from airflow_provider_inventory._http.client import ApiClient, Pacer
from airflow_provider_inventory._http.redaction import Scrubber
from airflow_provider_inventory._http.settings import HttpSettings

#: Credentials the tests hand to clients; none of them may ever show up in a log or a message.
API_TOKEN = "tok-7f3a9c1e5b2d4f60"
CLIENT_SECRET = "sec-c0ffee-5ca1ab1e-0ddba11"

#: Settings that keep retries fast; tests override single fields.
FAST: dict[str, Any] = {
    "connect_timeout": 2.0,
    "read_timeout": 5.0,
    "max_attempts": 3,
    "backoff_factor": 0.01,
    "backoff_max": 0.05,
    "max_retry_wait": 2.0,
    "request_timeout": 10.0,
}

RETRY_LOGGER = "airflow_provider_inventory._http.loop"


@dataclass
class Reply:
    """One scripted answer.

    Args:
        status: the HTTP status.
        body: a dict or list is sent as JSON; str and bytes are sent as they are.
        headers: extra response headers.
        content_type: the ``Content-Type`` header, or ``None`` to send none.
        delay: seconds to wait before answering (to provoke read timeouts).
        stall: seconds to wait between the headers and the body (a read timeout mid-body).
        drop: close the connection without answering at all.
        cut_to: declare the whole body in ``Content-Length`` but send only this many bytes, then
            close the connection (a transfer cut off mid-body).
        raw: instead of all of the above, write these pieces as they are (status line, headers
            and body), ``pause`` seconds apart, then close the connection.
        pause: seconds between ``raw`` pieces.
    """

    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"
    delay: float = 0.0
    stall: float = 0.0
    drop: bool = False
    cut_to: int | None = None
    raw: Callable[[], Iterable[bytes]] | None = None
    pause: float = 0.0

    def payload(self) -> bytes:
        """The body as bytes."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Answer = Reply | Callable[["Seen"], Reply]
"""A reply, or a function of the request that builds one when the request arrives."""


@dataclass(frozen=True)
class Seen:
    """A request the server received: target (path and query), lower-case headers, body, time."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    time: float  # time.monotonic() on arrival


class ScriptedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 answering from a script; use as a context manager."""

    def __init__(self) -> None:
        self.default: Answer = Reply(200, {"ok": True})
        self.requests: list[Seen] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def count(self) -> int:
        """How many requests arrived."""
        with self._lock:
            return len(self.requests)

    def script(self, *answers: Answer) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._script.extend(answers)

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests, as measured on arrival."""
        times = [seen.time for seen in self.requests]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    def answer(self, seen: Seen) -> Reply:
        """Record ``seen`` and pick its reply."""
        with self._lock:
            self.requests.append(seen)
            answer = self._script.popleft() if self._script else self.default
        return answer if isinstance(answer, Reply) else answer(seen)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for keep-alive handler threads on close
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are part of the tests: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # idle keep-alive connections end on their own
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """No request logging on stderr."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(
            method=self.command,
            target=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            time=time.monotonic(),
        )
        reply = self.server.owner.answer(seen)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        try:
            if reply.raw is not None:
                self.close_connection = True
                self._write_raw(reply.raw(), reply.pause)
            else:
                self._write(reply)
        except OSError:  # the client gave up waiting
            self.close_connection = True

    def _write_raw(self, pieces: Iterable[bytes], pause: float) -> None:
        for piece in pieces:
            self.wfile.write(piece)
            self.wfile.flush()
            if pause:
                time.sleep(pause)

    def _write(self, reply: Reply) -> None:
        payload = reply.payload()
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if reply.cut_to is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
            payload = payload[: reply.cut_to]
        self.end_headers()
        if reply.stall:
            self.wfile.flush()
            time.sleep(reply.stall)
        self.wfile.write(payload)
        self.wfile.flush()


@contextmanager
def refused_port() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{holder.getsockname()[1]}"


def drip(status_line: bytes, headers: dict[str, str], body: bytes, *, headers_too: bool) -> Reply:
    """A response written one byte at a time, 0.05 s apart (the body only, or everything)."""
    head = status_line + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"

    def pieces() -> Iterator[bytes]:
        if headers_too:
            yield from (bytes([byte]) for byte in head)
        else:
            yield head
        yield from (bytes([byte]) for byte in body)

    return Reply(raw=pieces, pause=0.05)


def gzip_bomb(inflated_bytes: int, framing: str = "close") -> Reply:
    """A 200 ``application/json`` gzip body that inflates to ``inflated_bytes`` of spaces.

    Sent as concatenated gzip members of 16 MiB each (about 16 KB on the wire), generated as they
    are sent. ``framing``: ``"close"`` (the connection's close ends the body), ``"length"`` (a
    truthful ``Content-Length``) or ``"chunked"`` (one HTTP chunk per member).
    """
    member = gzip.compress(b" " * (16 * 1024 * 1024), compresslevel=9)
    count = max(1, inflated_bytes // (16 * 1024 * 1024))
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
    head += {
        "close": "",
        "length": f"Content-Length: {len(member) * count}\r\n",
        "chunked": "Transfer-Encoding: chunked\r\n",
    }[framing]
    head += "Connection: close\r\n\r\n"

    def pieces() -> Iterator[bytes]:
        yield head.encode()
        for _ in range(count):
            yield (
                f"{len(member):x}\r\n".encode() + member + b"\r\n"
                if framing == "chunked"
                else member
            )
        if framing == "chunked":
            yield b"0\r\n\r\n"

    return Reply(raw=pieces)


def make_client(
    base_url: str,
    *,
    scrubber: Scrubber | None = None,
    pacer: Pacer | None = None,
    token: str = API_TOKEN,
    **overrides: Any,
) -> ApiClient:
    """A client for ``base_url`` with fast retry settings (``overrides`` replace single fields)."""
    settings = HttpSettings(**{**FAST, **overrides})
    return ApiClient(
        base_url,
        settings,
        conn_id="inventory_test",
        auth=HeaderTokenAuth(token, conn_id="inventory_test"),
        default_headers={"Accept": "application/json"},
        scrubber=scrubber,
        pacer=pacer,
    )


ClientFactory = Callable[..., ApiClient]


def retry_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The INFO lines the retry policy logged, in order."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == RETRY_LOGGER and record.levelno == logging.INFO
    ]


def logged_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The waits (seconds) announced by each retry log line."""
    waits = []
    for message in retry_messages(caplog):
        found = re.search(r"waiting (\d+\.\d+) s", message)
        assert found, f"retry log line without a wait: {message!r}"
        waits.append(float(found.group(1)))
    return waits
