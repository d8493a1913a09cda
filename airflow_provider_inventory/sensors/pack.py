"""``PackSerialNumberSensor``: wait until serial numbers exist in Pack (and have shipped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory import PACK_DEFAULT_CONN_ID
from airflow_provider_inventory.sensors.base import InventorySensor
from airflow_provider_inventory.triggers._shared import checked_count

if TYPE_CHECKING:  # the hook and trigger load when the sensor runs, not when a DAG file is parsed
    from airflow_provider_inventory.hooks.pack import FilterValue
    from airflow_provider_inventory.triggers.pack import PackSerialNumberTrigger


class PackSerialNumberSensor(InventorySensor):
    """Waits until at least ``min_count`` serial numbers match the filters.

    With ``shipped=True`` it also waits until every match has shipped (has a
    ``fulfillment_line_id``). On success it returns the matching records, exactly as the API
    returns them, so they reach XCom: keep the filters narrow.

    Each check lists the matching serial numbers once (one request per page). Works in
    ``mode="poke"``, ``mode="reschedule"`` and with ``deferrable=True`` (see
    :class:`~airflow_provider_inventory.sensors.base.InventorySensor`).

    Args:
        code: serial number(s) to wait for (templated); one value or a list.
        product_id: product id(s) (templated).
        stock_id: stock id(s) (templated). At least one of ``code``, ``product_id`` and
            ``stock_id`` is needed; several filters must all match.
        min_count: how many matching serial numbers must exist (with a list of ``code`` values,
            set it to the number of codes to wait for all of them).
        shipped: also wait until every match has a ``fulfillment_line_id``.
        pack_conn_id: the Pack connection id.
        **kwargs: see :class:`~airflow_provider_inventory.sensors.base.InventorySensor` and
            ``BaseSensorOperator`` (``poke_interval``, ``timeout``, ``mode``, ``deferrable``...).

    Raises:
        InventoryConfigError: ``min_count`` is not a whole number >= 1 (at construction), or a
            filter is invalid or none is set (when the task runs, after templating).
    """

    template_fields: Sequence[str] = ("code", "product_id", "stock_id")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        code: FilterValue = None,
        product_id: FilterValue = None,
        stock_id: FilterValue = None,
        min_count: int = 1,
        shipped: bool = False,
        pack_conn_id: str = PACK_DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.code = code
        self.product_id = product_id
        self.stock_id = stock_id
        self.min_count = checked_count("min_count", min_count)
        self.shipped = shipped
        self.pack_conn_id = pack_conn_id

    def build_trigger(self, end_time: float | None) -> PackSerialNumberTrigger:
        """The trigger for this sensor's (rendered) filters and thresholds."""
        from airflow_provider_inventory.triggers.pack import PackSerialNumberTrigger

        return PackSerialNumberTrigger(
            pack_conn_id=self.pack_conn_id,
            code=self.code,
            product_id=self.product_id,
            stock_id=self.stock_id,
            min_count=self.min_count,
            shipped=self.shipped,
            poll_interval=self.poll_interval,
            end_time=end_time,
            max_consecutive_errors=self.max_consecutive_errors,
        )


__all__ = ["PackSerialNumberSensor"]
