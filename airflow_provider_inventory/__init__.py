"""Apache Airflow provider for inventory data: Pack serial numbers (and the other documented Pack
list resources) and Commerce Layer resources.

This module is imported by Airflow's provider discovery on every process start: it must stay
free of Airflow, requests and network imports.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (hatch dynamic version)

DOCUMENTATION_URL = (
    "https://github.com/airflow-provider-inventory/airflow-provider-inventory#readme"
)
"""The README on the source repository (also the package's ``Documentation`` Project-URL)."""

PACK_DEFAULT_CONN_ID = "pack_default"
"""The connection id the Pack hook, operators, sensors and triggers use by default."""
COMMERCELAYER_DEFAULT_CONN_ID = "commercelayer_default"
"""The connection id the Commerce Layer hook, operators, sensors and triggers use by default."""

_NUMBER = {"type": ["number", "null"], "minimum": 0}
_INTEGER = {"type": ["integer", "null"], "minimum": 1}
_BOOLEAN = {"type": ["boolean", "null"]}
_STRING = {"type": ["string", "null"]}
_REQUIRED_STRING = {"type": "string", "minLength": 1}


def _field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": dict(schema)}


def _http_fields() -> dict[str, Any]:
    """Extra fields both connection types accept (see ``_http.settings.HttpSettings``)."""
    return {
        "connect_timeout": _field(
            "Connect timeout (s)", "Seconds to wait for a TCP/TLS connection. Default 10.", _NUMBER
        ),
        "read_timeout": _field(
            "Read timeout (s)", "Seconds to wait for a response. Default 60.", _NUMBER
        ),
        "max_attempts": _field(
            "Max attempts",
            "Tries per request, first one included, for connection errors, timeouts, 408, 429 and 5xx. Default 6.",
            _INTEGER,
        ),
        "backoff_factor": _field(
            "Backoff factor (s)",
            "Base of the exponential backoff between retries (with jitter). Default 0.5.",
            _NUMBER,
        ),
        "backoff_max": _field("Max backoff (s)", "Cap on one backoff wait. Default 30.", _NUMBER),
        "max_retry_wait": _field(
            "Max Retry-After wait (s)",
            "Cap on a wait the server asks for (Retry-After, X-Ratelimit-Interval). Default 120.",
            _NUMBER,
        ),
        "max_pages": _field(
            "Max pages", "Optional cap on the pages of one listing (a safety net).", _INTEGER
        ),
        "allow_insecure_http": _field(
            "Allow plain HTTP",
            "Allow http:// to a host that is not loopback. Credentials would travel unencrypted.",
            _BOOLEAN,
        ),
    }


def _rate_fields(default: str) -> dict[str, Any]:
    return {
        "rate_limit_average": _field(
            "Rate limit (requests per interval)",
            f"Requests allowed per 'rate_limit_interval' seconds. {default} Setting it pins the limit: server headers no longer change it.",
            _INTEGER,
        ),
        "rate_limit_interval": _field(
            "Rate limit interval (s)", "Window of 'rate_limit_average'. Default 60.", _NUMBER
        ),
        "rate_limit_burst": _field(
            "Burst limit (requests)",
            "Requests allowed per 'rate_limit_burst_interval' seconds.",
            _INTEGER,
        ),
        "rate_limit_burst_interval": _field(
            "Burst interval (s)", "Window of 'rate_limit_burst'. Default 10.", _NUMBER
        ),
    }


def _fleet_fields() -> dict[str, Any]:
    """The fleet budget in Redis (see ``_http.fleet`` and docs/fleet-budget.md)."""
    return {
        "rate_limit_redis_conn_id": _field(
            "Fleet budget: Redis connection id",
            "An Airflow connection of type 'redis' (e.g. the CeleryExecutor's broker). Every process on every host using it shares one rate budget and one access token. Needs the 'redis' extra: pip install 'airflow-provider-inventory[redis]'.",
            _STRING,
        ),
        "rate_limit_scope": _field(
            "Fleet budget: scope",
            "Part of the budget's Redis key beside the API host (default: one budget per API host, i.e. per organization). Hosts behind different egress IPs: one scope per IP.",
            _STRING,
        ),
        "rate_limit_redis_cooldown": _field(
            "Fleet budget: retry after (s)",
            "While Redis fails, pace on the host budget and try Redis again after this many seconds. Default 30.",
            _NUMBER,
        ),
        "rate_limit_redis_timeout": _field(
            "Fleet budget: Redis timeout (s)",
            "Socket timeout for Redis (connect and each reply); slower counts as an outage. Default 0.5.",
            _NUMBER,
        ),
    }


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-inventory",
        "name": "Inventory (Pack, Commerce Layer)",
        "description": "Serial numbers, products, stocks and fulfillments from Pack, and "
        "packages (any JSON:API list resource) from "
        "Commerce Layer: hooks, operators, sensors and triggers.",
        "versions": [__version__],
        # Airflow 3.1+ takes the UI's provider link from the Documentation Project-URL (the same
        # README) and overwrites this key; it says it for tools that read the provider info.
        "documentation-url": DOCUMENTATION_URL,
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_inventory.hooks.pack.PackHook",
                "hook-name": "Pack",
                "connection-type": "pack",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "API base URL", "password": "API token"},
                    "placeholders": {
                        "host": "https://api.pack.cloud",
                        "password": "Pack API token",
                        "organization_id": "your Pack organization id (required)",
                    },
                },
                "conn-fields": {
                    "organization_id": _field(
                        "Organization ID (required)",
                        "Required: the Pack organization whose records to list (every "
                        "/organizations/{organization_id}/... endpoint needs it).",
                        _REQUIRED_STRING,
                    ),
                    "auth_scheme": _field(
                        "Auth scheme",
                        "Scheme before the token in the Authorization header. Default 'Bearer'; empty string sends the bare token.",
                        _STRING,
                    ),
                    "auth_header": _field(
                        "Auth header",
                        "Header that carries the token. Default 'Authorization'.",
                        _STRING,
                    ),
                    "page_size_param": _field(
                        "Page size parameter",
                        "Query parameter for the page size. Default 'per_page'.",
                        _STRING,
                    ),
                    **_http_fields(),
                    **_rate_fields("Default: no client-side pacing (429 is still honoured)."),
                    **_fleet_fields(),
                },
            },
            {
                "hook-class-name": "airflow_provider_inventory.hooks.commercelayer.CommerceLayerHook",
                "hook-name": "Commerce Layer",
                "connection-type": "commercelayer",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Base endpoint (or slug)",
                        "login": "Client ID",
                        "password": "Client secret",
                    },
                    "placeholders": {
                        "host": "https://yourdomain.commercelayer.io",
                        "login": "integration client id",
                    },
                },
                "conn-fields": {
                    "scope": _field(
                        "Scope",
                        "OAuth2 scope, e.g. 'market:id:xYZkjABcde' or 'stock_location:code:eu_warehouse'.",
                        _STRING,
                    ),
                    "auth_url": _field(
                        "Token URL",
                        "OAuth2 token endpoint. Default https://auth.commercelayer.io/oauth/token.",
                        _STRING,
                    ),
                    **_http_fields(),
                    **_rate_fields(
                        "Default: the documented read limits (200/min, 50 per 10 s; 1000/250 for cacheable resources), adjusted to the server's X-Ratelimit headers."
                    ),
                    **_fleet_fields(),
                },
            },
        ],
        "hooks": [
            {
                "integration-name": "Pack",
                "python-modules": ["airflow_provider_inventory.hooks.pack"],
            },
            {
                "integration-name": "Commerce Layer",
                "python-modules": ["airflow_provider_inventory.hooks.commercelayer"],
            },
        ],
        "operators": [
            {
                "integration-name": "Pack",
                "python-modules": ["airflow_provider_inventory.operators.pack"],
            },
            {
                "integration-name": "Commerce Layer",
                "python-modules": ["airflow_provider_inventory.operators.commercelayer"],
            },
        ],
        "sensors": [
            {
                "integration-name": "Pack",
                "python-modules": ["airflow_provider_inventory.sensors.pack"],
            },
            {
                "integration-name": "Commerce Layer",
                "python-modules": ["airflow_provider_inventory.sensors.commercelayer"],
            },
        ],
        "triggers": [
            {
                "integration-name": "Pack",
                "python-modules": ["airflow_provider_inventory.triggers.pack"],
            },
            {
                "integration-name": "Commerce Layer",
                "python-modules": ["airflow_provider_inventory.triggers.commercelayer"],
            },
        ],
        "asset-uris": [
            {
                "schemes": ["pack"],
                "handler": "airflow_provider_inventory.assets.normalize_pack_uri",
                "to_openlineage_converter": "airflow_provider_inventory.assets.convert_asset_to_openlineage",
                "factory": "airflow_provider_inventory.assets.create_pack_asset",
            },
            {
                "schemes": ["commercelayer"],
                "handler": "airflow_provider_inventory.assets.normalize_commercelayer_uri",
                "to_openlineage_converter": "airflow_provider_inventory.assets.convert_asset_to_openlineage",
                "factory": "airflow_provider_inventory.assets.create_commercelayer_asset",
            },
        ],
        "integrations": [
            {
                "integration-name": "Pack",
                "external-doc-url": "https://api.pack.cloud",
                "tags": ["service"],
            },
            {
                "integration-name": "Commerce Layer",
                "external-doc-url": "https://docs.commercelayer.io/core",
                "tags": ["service"],
            },
        ],
    }
