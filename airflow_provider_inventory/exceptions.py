"""Public exception classes; catch :class:`InventoryApiError` for any API failure."""

from airflow_provider_inventory._http.errors import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    InventoryConfigError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TokenExpiredError,
    TransportError,
)
from airflow_provider_inventory.records.manifest import XComLimitExceededError

__all__ = [
    "AuthenticationError",
    "BadResponseError",
    "InventoryApiError",
    "InventoryConfigError",
    "NotFoundError",
    "PaginationError",
    "RateLimitedError",
    "RequestRejectedError",
    "ServerError",
    "TokenExpiredError",
    "TransportError",
    "XComLimitExceededError",
]
