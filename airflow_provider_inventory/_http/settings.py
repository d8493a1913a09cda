"""Per-connection HTTP settings read from a connection's extra, validated with clear errors."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_inventory.exceptions import InventoryConfigError


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests in any ``interval`` seconds (a sliding window)."""

    limit: int
    interval: float


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry policy and safety switches shared by both hooks.

    Every field can be set in the connection's extra under the same name.

    Attributes:
        connect_timeout: seconds to open a connection.
        read_timeout: seconds any single socket read may wait.
        request_timeout: seconds one attempt may take in all (connect, headers and the whole
            body), however the server trickles its bytes; an attempt over it is retried.
        max_response_bytes: the largest body accepted, counted after decompression.
        max_attempts: attempts per request, the first included.
        backoff_factor, backoff_max: exponential backoff between attempts.
        max_retry_wait: the longest any single wait may be, whatever a server asks for.
        allow_insecure_http: allow plain ``http://`` to a non-loopback host.
        max_pages: an optional cap on the pages of one listing.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    request_timeout: float = 300.0
    max_response_bytes: int = 64 * 1024 * 1024
    max_attempts: int = 6
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    max_retry_wait: float = 120.0
    allow_insecure_http: bool = False
    max_pages: int | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], conn_id: str) -> HttpSettings:
        """Read the settings from a connection extra; raise :class:`InventoryConfigError` if invalid."""
        read = ExtraReader(extra, conn_id)
        return cls(
            connect_timeout=read.number("connect_timeout", cls.connect_timeout, minimum=0.001),
            read_timeout=read.number("read_timeout", cls.read_timeout, minimum=0.001),
            request_timeout=read.number("request_timeout", cls.request_timeout, minimum=0.001),
            max_response_bytes=read.integer(
                "max_response_bytes", cls.max_response_bytes, minimum=1024
            ),
            max_attempts=read.integer("max_attempts", cls.max_attempts, minimum=1),
            backoff_factor=read.number("backoff_factor", cls.backoff_factor, minimum=0),
            backoff_max=read.number("backoff_max", cls.backoff_max, minimum=0),
            max_retry_wait=read.number("max_retry_wait", cls.max_retry_wait, minimum=0),
            allow_insecure_http=read.boolean("allow_insecure_http", cls.allow_insecure_http),
            max_pages=read.optional_integer("max_pages", minimum=1),
        )


class ExtraReader:
    """Typed access to a connection extra; every error names the connection, the field and the fix."""

    def __init__(self, extra: Mapping[str, Any], conn_id: str) -> None:
        self.extra = extra
        self.conn_id = conn_id

    def fail(self, field: str, problem: str) -> InventoryConfigError:
        """Build the error for an invalid or missing ``field``."""
        return InventoryConfigError(
            f"Connection '{self.conn_id}': extra field '{field}' {problem}. "
            f"Fix it in the connection (Admin > Connections, or the "
            f"AIRFLOW_CONN_{self.conn_id.upper()} variable)."
        )

    def string(
        self, field: str, default: str | None = None, *, empty_means_default: bool = True
    ) -> str | None:
        """A string field, stripped; ``default`` when absent (or empty, unless
        ``empty_means_default`` is false: for fields where an empty string is a choice)."""
        value = self.extra.get(field)
        if value is None or (value == "" and empty_means_default):
            return default
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string, got {type(value).__name__}")
        return value.strip()

    def required_string(self, field: str) -> str:
        """A string field that must be present."""
        value = self.string(field)
        if not value:
            raise self.fail(field, "is required but missing")
        return value

    def number(self, field: str, default: float, *, minimum: float = 0) -> float:
        """A finite number >= ``minimum``; strings that parse as numbers are accepted."""
        value = self.extra.get(field)
        if value is None or value == "":
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(field, f"must be a number, got {value!r}") from None
        if isinstance(value, bool) or not math.isfinite(number) or number < minimum:
            raise self.fail(field, f"must be a finite number >= {minimum}, got {value!r}")
        return number

    def integer(self, field: str, default: int, *, minimum: int = 0) -> int:
        """A whole number >= ``minimum``."""
        found = self.optional_integer(field, minimum=minimum)
        return default if found is None else found

    def optional_integer(self, field: str, *, minimum: int = 0) -> int | None:
        """A whole number >= ``minimum``, or ``None`` when absent."""
        value = self.extra.get(field)
        if value is None or value == "":
            return None
        try:
            number = int(str(value))
        except ValueError:
            raise self.fail(field, f"must be a whole number, got {value!r}") from None
        if isinstance(value, bool) or number < minimum:
            raise self.fail(field, f"must be a whole number >= {minimum}, got {value!r}")
        return number

    def boolean(self, field: str, default: bool) -> bool:
        """A boolean; accepts true/false, yes/no, 1/0 in any case."""
        value = self.extra.get(field)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise self.fail(field, f"must be true or false, got {value!r}")

    def rate_limit(
        self, limit_field: str, interval_field: str, default_interval: float
    ) -> RateLimit | None:
        """A ``RateLimit`` from a count field and an interval field, or ``None`` if not set."""
        limit = self.optional_integer(limit_field, minimum=1)
        if limit is None:
            return None
        return RateLimit(limit, self.number(interval_field, default_interval, minimum=0.001))


def split_host_url(host: str, port: int | None) -> tuple[str, str, str]:
    """Split a connection's host field into (scheme, netloc, path) for building the API root.

    ``https://`` is assumed when the host names no scheme; the connection's ``port`` is added
    when the host names none; the path loses its trailing slash.

    Raises:
        InventoryConfigError: the host cannot be parsed (a bad port, a broken IPv6 literal).
    """
    text = host.strip()
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        has_port = parts.port is not None
    except ValueError as error:
        raise InventoryConfigError(
            f"The connection host {host!r} is not a valid URL ({error}); fix the connection's "
            f"host field."
        ) from None
    netloc = parts.netloc if port is None or has_port else f"{parts.netloc}:{port}"
    return parts.scheme, netloc, parts.path.rstrip("/")


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport_security(url: str, settings: HttpSettings, conn_id: str, field: str) -> None:
    """Refuse plain ``http://`` to anything but loopback unless the connection allows it.

    Raises:
        InventoryConfigError: naming the connection field and the two ways to fix it.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as error:
        raise InventoryConfigError(
            f"Connection '{conn_id}': {field} is not a valid URL ({error})."
        ) from None
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise InventoryConfigError(
            f"Connection '{conn_id}': {field} {url!r} must start with https:// "
            f"(or http:// for a local server)."
        )
    if is_loopback_host(hostname) or settings.allow_insecure_http:
        return
    raise InventoryConfigError(
        f"Connection '{conn_id}': {field} uses plain http:// for {hostname!r}, which would "
        f"send credentials unencrypted. Use https://, or set the extra field "
        f"'allow_insecure_http' to true if this host really is a trusted plain-HTTP endpoint."
    )
