"""Airflow glue for host-shared state (``_http`` does not import Airflow).

The hooks call :func:`configure_host_state` before they get a pacer or a token. It installs, once
per process registry, where the host's shared state lives and how tokens are encrypted:

- the cache directory: ``INVENTORY_CACHE_DIR``, else Airflow's ``[inventory] cache_dir``
  (``AIRFLOW__INVENTORY__CACHE_DIR``), else ``~/.cache/airflow-provider-inventory``
  (``$XDG_CACHE_HOME`` respected); ``INVENTORY_HOST_SHARING=false`` turns sharing off;
- the token cipher: Airflow's Fernet key (``[core] fernet_key``), when one is configured.
  Without it access tokens are not shared between processes (never written in clear text).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_inventory._http.hoststate import Cipher, HostSettings
from airflow_provider_inventory._http.registry import registry

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
