"""Triggers on Pack serial numbers.

- :class:`PackSerialNumberTrigger`: the deferral trigger of
  :class:`~airflow_provider_inventory.sensors.pack.PackSerialNumberSensor`; waits until the
  matching serial numbers exist (and have shipped).
- :class:`PackSerialNumberChangesTrigger`: an asset watcher; fires once per batch of serial
  numbers created or updated.

Pack has no server-side date filter: every poll lists all serial numbers that match the filters,
so narrow them (``product_id``, ``stock_id``, ``code``) and keep the poll interval generous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_inventory import PACK_DEFAULT_CONN_ID
from airflow_provider_inventory.triggers.changes import ChangesTrigger, Stamp, stamps_of
from airflow_provider_inventory.triggers.polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    PollingTrigger,
    Readiness,
    checked_count,
)

if TYPE_CHECKING:  # the hook loads when the trigger runs or checks its arguments
    from airflow_provider_inventory.hooks.pack import FilterValue, PackHook

FilterKwarg = str | list[str] | None


class SerialNumberFilters(TypedDict):
    """The filters of a Pack listing: one value, a list of values, or ``None`` each."""

    code: FilterKwarg
    product_id: FilterKwarg
    stock_id: FilterKwarg


def serial_number_filters(
    *, code: FilterValue, product_id: FilterValue, stock_id: FilterValue, require_one: bool
) -> SerialNumberFilters:
    """Check the filters and return them as JSON-able trigger kwargs.

    Args:
        code, product_id, stock_id: one value, a list of values, or ``None`` (see
            :meth:`PackHook.iter_serial_numbers`).
        require_one: refuse when no filter is set.

    Returns:
        The filters with surrounding blanks removed, lists as lists, duplicates dropped.

    Raises:
        InventoryConfigError: a value is not a non-empty string (or list of them), or no filter
            is set while ``require_one``.
    """
    filters = SerialNumberFilters(
        code=_filter_kwarg("code", code),
        product_id=_filter_kwarg("product_id", product_id),
        stock_id=_filter_kwarg("stock_id", stock_id),
    )
    if require_one and all(value is None for value in filters.values()):
        from airflow_provider_inventory.exceptions import InventoryConfigError

        raise InventoryConfigError(
            "Set at least one of code, product_id or stock_id: without a filter every poll "
            "would list all serial numbers of the organization."
        )
    return filters


def _filter_kwarg(field: str, value: FilterValue) -> FilterKwarg:
    """One filter checked by the hook's rules: a string stays a string, a sequence a list."""
    from airflow_provider_inventory._arguments import filter_values

    values = filter_values(field, value)
    return values[0] if values is not None and isinstance(value, str) else values


def serial_number_readiness(
    records: Sequence[dict[str, Any]], *, min_count: int, shipped: bool
) -> Readiness:
    """Whether ``records`` (the matches) satisfy the sensor's condition.

    Args:
        records: the matching serial numbers.
        min_count: how many must exist.
        shipped: whether every match must have a ``fulfillment_line_id``.

    Returns:
        The readiness; its ``value`` is ``records``.
    """
    found = len(records)
    unshipped = sum(1 for record in records if not record.get("fulfillment_line_id"))
    met = found >= min_count and (not shipped or unshipped == 0)
    detail = f"{found} matching serial number(s), at least {min_count} wanted"
    if shipped:
        detail += f", {unshipped} of them not shipped yet"
    return Readiness(met=met, count=found, detail=detail, value=list(records))


class PackSerialNumberTrigger(PollingTrigger["PackHook"]):
    """Waits until at least ``min_count`` serial numbers match (and, with ``shipped``, all shipped).

    Args:
        pack_conn_id: the Pack connection id.
        code, product_id, stock_id: filters (one value or a list each); at least one is needed.
        min_count: how many matching serial numbers must exist.
        shipped: also wait until every match has a ``fulfillment_line_id``.
        poll_interval, end_time, max_consecutive_errors: see :class:`PollingTrigger`.

    Raises:
        InventoryConfigError: an argument is invalid.
    """

    def __init__(
        self,
        *,
        pack_conn_id: str = PACK_DEFAULT_CONN_ID,
        code: FilterValue = None,
        product_id: FilterValue = None,
        stock_id: FilterValue = None,
        min_count: int = 1,
        shipped: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        end_time: float | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ) -> None:
        super().__init__(
            poll_interval=poll_interval,
            end_time=end_time,
            max_consecutive_errors=max_consecutive_errors,
        )
        self.pack_conn_id = pack_conn_id
        self.filters = serial_number_filters(
            code=code, product_id=product_id, stock_id=stock_id, require_one=True
        )
        self.min_count = checked_count("min_count", min_count)
        self.shipped = bool(shipped)

    def condition_kwargs(self) -> dict[str, Any]:
        """Connection, filters and thresholds."""
        return {
            "pack_conn_id": self.pack_conn_id,
            **self.filters,
            "min_count": self.min_count,
            "shipped": self.shipped,
        }

    def build_hook(self) -> PackHook:
        """A Pack hook for ``pack_conn_id``."""
        from airflow_provider_inventory.hooks.pack import PackHook

        return PackHook(self.pack_conn_id)

    def check(self, hook: PackHook) -> Readiness:
        """List the matching serial numbers once and judge them."""
        records = hook.list_serial_numbers(**self.filters)
        return serial_number_readiness(records, min_count=self.min_count, shipped=self.shipped)


class PackSerialNumberChangesTrigger(ChangesTrigger["PackHook"]):
    """Asset watcher: fires once per batch of Pack serial numbers created or updated.

    Every poll lists the serial numbers matching the filters (Pack filters by date only
    client-side) and fires for those updated after the watermark; the event payload is a
    :class:`~airflow_provider_inventory.triggers.changes.ChangeBatch` with ``resource``
    ``"serial_numbers"``. Fetch the batch with ``PackHook.iter_serial_numbers(**batch.filters,
    updated_since=batch.updated_since, updated_before=batch.updated_before)`` and
    :func:`~airflow_provider_inventory.triggers.changes.select_changed`.

    Watermark storage, first-poll behaviour and guarantees: see
    :class:`~airflow_provider_inventory.triggers.changes.ChangesTrigger`. In short: the watermark
    is kept in the asset state store (Airflow 3.3+), so restarts miss nothing; without a store it
    starts from "now" at each start. History before the first poll never fires.

    Args:
        pack_conn_id: the Pack connection id.
        code, product_id, stock_id: filters (one value or a list each); none watches the whole
            organization.
        poll_interval: seconds between polls.

    Raises:
        InventoryConfigError: an argument is invalid.
    """

    resource_name = "serial_numbers"

    def __init__(
        self,
        *,
        pack_conn_id: str = PACK_DEFAULT_CONN_ID,
        code: FilterValue = None,
        product_id: FilterValue = None,
        stock_id: FilterValue = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__(poll_interval=poll_interval)
        self.pack_conn_id = pack_conn_id
        self.filters = serial_number_filters(
            code=code, product_id=product_id, stock_id=stock_id, require_one=False
        )

    def query_kwargs(self) -> dict[str, Any]:
        """Connection and filters."""
        return {"pack_conn_id": self.pack_conn_id, **self.filters}

    def batch_filters(self) -> dict[str, Any]:
        """``code`` / ``product_id`` / ``stock_id`` for ``PackHook.iter_serial_numbers``."""
        return dict(self.filters)

    def build_hook(self) -> PackHook:
        """A Pack hook for ``pack_conn_id``."""
        from airflow_provider_inventory.hooks.pack import PackHook

        return PackHook(self.pack_conn_id)

    def changed_stamps(self, hook: PackHook, since: str | None) -> list[Stamp]:
        """``(id, updated_at)`` of the matching serial numbers updated at or after ``since``."""
        return stamps_of(hook.iter_serial_numbers(**self.filters, updated_since=since))


__all__ = ["PackSerialNumberChangesTrigger", "PackSerialNumberTrigger"]
