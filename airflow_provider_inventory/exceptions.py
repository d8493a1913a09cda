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
]
