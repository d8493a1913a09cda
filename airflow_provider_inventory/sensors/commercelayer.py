"""Sensors on Commerce Layer list resources: wait until a filtered query has enough records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory import COMMERCELAYER_DEFAULT_CONN_ID
from airflow_provider_inventory.sensors.base import InventorySensor
from airflow_provider_inventory.triggers._shared import checked_count

if TYPE_CHECKING:  # the hook and trigger load when the sensor runs, not when a DAG file is parsed
    from airflow_provider_inventory.triggers.commercelayer import CommerceLayerResourceTrigger
    from airflow_provider_inventory.window import Instant


class CommerceLayerResourceSensor(InventorySensor):
    """Waits until a filtered query on a Commerce Layer resource has at least ``min_count`` records.

    Each check is one request: the server's ``meta.record_count`` for the query, never a listing.
    On success it returns that count (to XCom). Works in ``mode="poke"``, ``mode="reschedule"``
    and with ``deferrable=True`` (see
    :class:`~airflow_provider_inventory.sensors.base.InventorySensor`).

    Args:
        resource: the list resource (templated): ``packages``, ``stock_locations``...
        filters: ``{attribute(s)}_{predicate}`` -> value (templated), sent as ``filter[q][...]``,
            e.g. ``{"stock_location_code_eq": "eu_wh", "metadata_jcont": {"tier": "gold"}}``;
            see :func:`airflow_provider_inventory.jsonapi.encode_filters` for accepted values.
        updated_since: count only records with ``updated_at >= updated_since`` (templated;
            datetime or ISO-8601 string, e.g. ``"{{ data_interval_start }}"``).
        min_count: how many records must match.
        commercelayer_conn_id: the Commerce Layer connection id.
        schema_checks: check ``resource`` and ``filters`` against the API schema bundled with
            the provider before anything is sent (default); ``False`` sends names Commerce Layer
            added after it.
        **kwargs: see :class:`~airflow_provider_inventory.sensors.base.InventorySensor` and
            ``BaseSensorOperator`` (``poke_interval``, ``timeout``, ``mode``, ``deferrable``...).

    Raises:
        InventoryConfigError: ``min_count`` is not a whole number >= 1 (at construction), or the
            resource, a filter or ``updated_since`` is invalid (when the task runs, after
            templating).
    """

    template_fields: Sequence[str] = ("resource", "filters", "updated_since")
    template_fields_renderers = {"filters": "json"}
    ui_color = "#e8eef8"

    def __init__(
        self,
        *,
        resource: str,
        filters: Mapping[str, Any] | None = None,
        updated_since: Instant | None = None,
        min_count: int = 1,
        commercelayer_conn_id: str = COMMERCELAYER_DEFAULT_CONN_ID,
        schema_checks: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.filters = filters
        self.updated_since = updated_since
        self.min_count = checked_count("min_count", min_count)
        self.commercelayer_conn_id = commercelayer_conn_id
        self.schema_checks = schema_checks

    def build_trigger(self, end_time: float | None) -> CommerceLayerResourceTrigger:
        """The trigger for this sensor's (rendered) query and threshold."""
        from airflow_provider_inventory.triggers.commercelayer import CommerceLayerResourceTrigger

        return CommerceLayerResourceTrigger(
            resource=self.resource,
            filters=self.filters,
            updated_since=self.updated_since,
            min_count=self.min_count,
            commercelayer_conn_id=self.commercelayer_conn_id,
            schema_checks=self.schema_checks,
            poll_interval=self.poll_interval,
            end_time=end_time,
            max_consecutive_errors=self.max_consecutive_errors,
        )


class CommerceLayerPackageSensor(CommerceLayerResourceSensor):
    """:class:`CommerceLayerResourceSensor` on ``packages``.

    Args:
        **kwargs: as for :class:`CommerceLayerResourceSensor`, without ``resource``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(resource="packages", **kwargs)


__all__ = ["CommerceLayerPackageSensor", "CommerceLayerResourceSensor"]
