"""What both hooks share: reading the Airflow connection, owning one ``ApiClient``, and handing
Airflow's secrets masker to the HTTP core (which does not import Airflow)."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory._compat import BaseHook, install_legacy_connection_form
from airflow_provider_inventory._http.client import ApiClient
from airflow_provider_inventory._http.fleet import DEFAULT_COOLDOWN, DEFAULT_SOCKET_TIMEOUT, Fleet
from airflow_provider_inventory._http.redaction import Scrubber
from airflow_provider_inventory._http.settings import ExtraReader, HttpSettings
from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    InventoryApiError,
    InventoryConfigError,
    NotFoundError,
    TransportError,
)
from airflow_provider_inventory.hooks._host import fleet_for

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from typing_extensions import Self


class InventoryHook(BaseHook):
    """Base for the Pack and Commerce Layer hooks.

    Subclasses implement ``_build_client()``. The client (and its pooled session) is created on
    first use and closed by :meth:`close` or by leaving a ``with`` block.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        install_legacy_connection_form(cls)  # the connection form on Airflow 3.0/3.1

    def __init__(self, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self._client: ApiClient | None = None
        self._client_lock = threading.Lock()

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection (looked up once per hook)."""
        return self.get_connection(self.conn_id)

    @cached_property
    def extra(self) -> ExtraReader:
        """Typed, validating access to the connection's extra."""
        return ExtraReader(self.connection.extra_dejson or {}, self.conn_id)

    @cached_property
    def scrubber(self) -> Scrubber:
        """Registers this hook's secrets for redaction by value, and with Airflow's masker."""
        return Scrubber(mask=mask_in_airflow_logs)

    @cached_property
    def http_settings(self) -> HttpSettings:
        """Timeouts, retries and safety switches from the connection's extra."""
        return HttpSettings.from_extra(self.connection.extra_dejson or {}, self.conn_id)

    @cached_property
    def fleet(self) -> Fleet | None:
        """The Redis the connection's extra ``rate_limit_redis_conn_id`` names, shared by the
        fleet for the rate budget and the access token; ``None`` without it.

        Raises:
            InventoryConfigError: the ``redis`` package is missing, the Redis connection cannot
                be read, or Redis refused its credentials.
        """
        redis_conn_id = self.extra.string("rate_limit_redis_conn_id")
        if not redis_conn_id:
            return None
        cooldown = self.extra.number("rate_limit_redis_cooldown", DEFAULT_COOLDOWN, minimum=0.1)
        timeout = self.extra.number(
            "rate_limit_redis_timeout", DEFAULT_SOCKET_TIMEOUT, minimum=0.01
        )
        return fleet_for(redis_conn_id, conn_id=self.conn_id, cooldown=cooldown, timeout=timeout)

    @cached_property
    def rate_limit_scope(self) -> str:
        """The extra ``rate_limit_scope``: part of the fleet budget's key beside the API host
        (default empty: one budget per API host, i.e. per organization)."""
        return self.extra.string("rate_limit_scope") or ""

    @property
    def client(self) -> ApiClient:
        """The hook's HTTP client, built on first use (once, even if threads race for it)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> ApiClient:
        raise NotImplementedError

    def close(self) -> None:
        """Release pooled connections."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_password(self, what: str) -> str:
        """The connection's password field, or a clear error naming it as ``what``."""
        password = self.connection.password
        if not password:
            raise InventoryConfigError(
                f"Connection '{self.conn_id}' has no {what}: set the connection's password field "
                f"(shown as '{what}' in the UI)."
            )
        return password


def mask_in_airflow_logs(value: str, name: str | None = None) -> None:
    """Register ``value`` with Airflow's secrets masker so it is replaced in every log line.

    Imported on first use: the masker pulls in the logging stack, which a DAG file parse should
    not pay for.
    """
    from airflow_provider_inventory._compat import mask_secret

    mask_secret(value, name)


def describe_failure(error: Exception) -> str:
    """A one-line, secret-free explanation of a failed ``test_connection`` for the UI."""
    if isinstance(error, AuthenticationError):
        return f"Authentication failed: {error}"
    if isinstance(error, NotFoundError):
        return f"Not found: {error}"
    if isinstance(error, TransportError):
        return f"Host unreachable: {error}"
    if isinstance(error, InventoryConfigError | InventoryApiError):
        return str(error)
    return f"{type(error).__name__}: {error}"
