"""What sensors and triggers share without loading Airflow's trigger machinery.

Constants, argument checks, error classification and :class:`Readiness`. Sensor modules import
these at parse time, so this module imports nothing beyond the standard library at import; the
provider's error classes load when a check first runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

DEFAULT_POLL_INTERVAL = 60.0
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5

SUCCESS = "success"
TIMEOUT = "timeout"
ERROR = "error"


def transient_errors() -> tuple[type[Exception], ...]:
    """Failures that a later attempt may not see: retried by triggers, not reported."""
    from airflow_provider_inventory.exceptions import (
        RateLimitedError,
        ServerError,
        TransportError,
    )

    return (ServerError, RateLimitedError, TransportError)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is worth retrying later (5xx, 429 or no response, after retries)."""
    return isinstance(error, transient_errors())


def describe_error(error: BaseException) -> str:
    """``"<ErrorClass>: <message>"``; the provider's messages never contain a credential."""
    return f"{type(error).__name__}: {error}"


# ---------------------------------------------------------------------- argument checks


def checked_interval(name: str, value: Any) -> float:
    """A positive, finite number of seconds.

    Raises:
        InventoryConfigError: naming ``name`` when ``value`` is not one.
    """
    from airflow_provider_inventory.exceptions import InventoryConfigError

    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InventoryConfigError(f"{name} must be a number of seconds, got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise InventoryConfigError(f"{name} must be a positive number of seconds, got {value!r}.")
    return float(value)


def checked_count(name: str, value: Any, minimum: int = 1) -> int:
    """A whole number >= ``minimum``.

    Raises:
        InventoryConfigError: naming ``name`` when ``value`` is not one.
    """
    from airflow_provider_inventory._arguments import whole_number

    return whole_number(name, value, minimum=minimum)


def checked_end_time(value: Any) -> float | None:
    """A deadline as seconds since the epoch (``None``: no deadline).

    Raises:
        InventoryConfigError: the value is not a finite number.
    """
    if value is None:
        return None
    from airflow_provider_inventory.exceptions import InventoryConfigError

    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InventoryConfigError(
            f"end_time must be seconds since the epoch (time.time() + timeout), got {value!r}."
        )
    return float(value)


def classpath(cls: type) -> str:
    """``module.ClassName``, as ``BaseTrigger.serialize`` must return it."""
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class Readiness:
    """The outcome of one check of a sensor's condition.

    Attributes:
        met: whether the condition holds.
        count: the number of matching records.
        detail: one line for the log and for event messages ("3 of 5 serial numbers found").
        value: what the sensor returns (pushed to XCom) when met; never put in a trigger event.
    """

    met: bool
    count: int
    detail: str
    value: Any = None
