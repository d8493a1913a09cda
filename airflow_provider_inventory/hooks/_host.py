"""Airflow glue for host-shared state (``_http`` does not import Airflow).

The hooks call :func:`configure_host_state` before they get a pacer or a token. It installs, once
per process registry, where the host's shared state lives and how tokens are encrypted:

- the cache directory: ``INVENTORY_CACHE_DIR``, else Airflow's ``[inventory] cache_dir``
  (``AIRFLOW__INVENTORY__CACHE_DIR``), else ``~/.cache/airflow-provider-inventory``
  (``$XDG_CACHE_HOME`` respected); ``INVENTORY_HOST_SHARING=false`` turns sharing off;
- the token cipher: Airflow's Fernet key (``[core] fernet_key``), when one is configured.
  Without it access tokens are not shared between processes (never written in clear text).

:func:`fleet_for` builds the fleet store (see ``_http.fleet``) a connection's extra
``rate_limit_redis_conn_id`` names: an Airflow connection of type ``redis`` (host, port, login
as the ACL user, password; extras ``db``, ``ssl``, ``ssl_cert_reqs``, ``ssl_ca_certs``,
``ssl_keyfile``, ``ssl_certfile``, ``ssl_check_hostname``), read with the SDK's connection
lookup. The ``redis.Redis`` client is built here with short socket timeouts and no retries of
its own (``RedisHook`` sets no timeouts), once per process and connection.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_inventory._http.fleet import (
    DEFAULT_COOLDOWN,
    DEFAULT_SOCKET_TIMEOUT,
    EXTRA_HINT,
    Fleet,
)
from airflow_provider_inventory._http.hoststate import Cipher, HostSettings
from airflow_provider_inventory._http.registry import registry
from airflow_provider_inventory.exceptions import InventoryConfigError

log = logging.getLogger(__name__)

CONF_SECTION = "inventory"


def configure_host_state() -> None:
    """Install the host settings from Airflow's configuration (once per registry)."""
    shared = registry()
    if shared.host_configured:
        return
    shared.configure_host(
        HostSettings.from_environment(cache_dir=_configured_cache_dir(), cipher=_fernet())
    )


def _conf() -> Any:
    from airflow_provider_inventory._compat import conf

    return conf


def _configured_cache_dir() -> str | None:
    value = _conf().get(CONF_SECTION, "cache_dir", fallback=None)
    return str(value) if value else None


def _fernet() -> Cipher | None:
    """Airflow's Fernet (``[core] fernet_key``), or ``None`` when no key is configured."""
    if not _conf().get("core", "fernet_key", fallback=None):
        return None
    try:
        try:
            from airflow.sdk.crypto import get_fernet
        except ImportError:
            from airflow.models.crypto import get_fernet
        fernet = get_fernet()
    except Exception as error:  # a malformed key: say so, and keep tokens in the process
        log.warning("Access tokens are not shared on this host: %s", type(error).__name__)
        return None
    return fernet if getattr(fernet, "is_encrypted", False) else None


def fleet_for(
    redis_conn_id: str,
    *,
    conn_id: str,
    cooldown: float = DEFAULT_COOLDOWN,
    timeout: float = DEFAULT_SOCKET_TIMEOUT,
) -> Fleet:
    """The fleet store of the Airflow connection ``redis_conn_id`` (one per process).

    Redis is pinged once when the store is built: an outage is logged and cools down (the host
    budget takes over), refused credentials raise.

    Args:
        redis_conn_id: the ``redis`` connection (the extra ``rate_limit_redis_conn_id``).
        conn_id: the API connection that names it, for messages.
        cooldown: seconds between attempts while Redis fails.
        timeout: socket timeout (connect and each reply) in seconds.

    Raises:
        InventoryConfigError: the ``redis`` package is missing, the connection does not
            exist or is unusable, or Redis refused its credentials.
    """
    shared = registry()
    return shared.shared(
        "fleet",
        (redis_conn_id, cooldown, timeout),
        lambda: _build_fleet(redis_conn_id, conn_id=conn_id, cooldown=cooldown, timeout=timeout),
    )


def _build_fleet(redis_conn_id: str, *, conn_id: str, cooldown: float, timeout: float) -> Fleet:
    try:
        import redis  # noqa: F401  (the optional extra)
    except ImportError:
        raise InventoryConfigError(
            f"Connection '{conn_id}': extra field 'rate_limit_redis_conn_id' names the Redis "
            f"connection '{redis_conn_id}', but the 'redis' package is not installed. Install "
            f"it with: {EXTRA_HINT}"
        ) from None
    connection = _redis_connection(redis_conn_id, conn_id)
    if connection.password:
        from airflow_provider_inventory._compat import mask_secret

        mask_secret(connection.password, "password")
    host = connection.host or "localhost"
    port = int(connection.port or 6379)
    fleet = Fleet(
        lambda: _redis_client(connection, redis_conn_id, timeout),
        name=f"Redis connection '{redis_conn_id}' ({host}:{port})",
        cooldown=cooldown,
    )
    fleet.check()
    return fleet


def _redis_connection(redis_conn_id: str, conn_id: str) -> Any:
    from airflow_provider_inventory._compat import BaseHook

    try:
        return BaseHook.get_connection(redis_conn_id)
    except Exception as error:  # AirflowNotFoundException, by release a different class
        raise InventoryConfigError(
            f"Connection '{conn_id}': extra field 'rate_limit_redis_conn_id' names the Redis "
            f"connection '{redis_conn_id}', which could not be read ({type(error).__name__}). "
            f"Create it (type 'redis': host, port, password, extra 'db') or remove the field."
        ) from None


def _redis_client(connection: Any, redis_conn_id: str, timeout: float) -> Any:
    """A ``redis.Redis`` for the connection: short timeouts, no retries of its own."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    extra = connection.extra_dejson or {}
    options: dict[str, Any] = {}
    if _truthy(extra.get("ssl")):
        options["ssl"] = True
        for name in ("ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile"):
            if extra.get(name) not in (None, ""):
                options[name] = extra[name]
        if "ssl_check_hostname" in extra:
            options["ssl_check_hostname"] = _truthy(extra["ssl_check_hostname"])
    try:
        db = int(extra.get("db") or 0)
    except (TypeError, ValueError):
        raise InventoryConfigError(
            f"Redis connection '{redis_conn_id}': extra field 'db' must be a whole number, "
            f"got {extra.get('db')!r}."
        ) from None
    return redis.Redis(
        host=connection.host or "localhost",
        port=int(connection.port or 6379),
        db=db,
        username=connection.login or None,
        password=connection.password or None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        client_name="airflow-provider-inventory",
        **options,
    )


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")
