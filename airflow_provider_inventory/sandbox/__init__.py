"""A local stand-in for the Pack and Commerce Layer APIs, for tests, demos and benchmarks.

Standard library only; nothing in the provider's runtime code imports it::

    from airflow_provider_inventory.sandbox import Sandbox

    with Sandbox(seed=0) as sb:
        ...  # sb.url, sb.pack_connection(), sb.inject(...), sb.requests, ...

Commerce Layer resources served: ``packages``, ``stock_locations`` and, when asked for,
``shipments`` and ``stock_items`` (``Sandbox(shipments=..., stock_items=...)``); the Exports API
(``/api/exports``) with files on a second loopback origin (``sb.attachments_url``), see
``.exports``.

Run it from a shell with ``python -m airflow_provider_inventory.sandbox`` (or the
``inventory-sandbox`` script), which prints ``export ...`` lines for ``eval``.
"""

from __future__ import annotations

from .messages import LoggedRequest
from .server import Sandbox
from .timeutil import ANCHOR

__all__ = ["ANCHOR", "LoggedRequest", "Sandbox"]
