"""Triggers on Commerce Layer list resources (packages, stock locations, ...).

- :class:`CommerceLayerResourceTrigger`: the deferral trigger of
  :class:`~airflow_provider_inventory.sensors.commercelayer.CommerceLayerResourceSensor`; waits
  until a filtered query has at least ``min_count`` records, one counting request per poll.
- :class:`CommerceLayerChangesTrigger`: an asset watcher; fires once per batch of records
  created or updated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory import COMMERCELAYER_DEFAULT_CONN_ID
from airflow_provider_inventory.triggers.changes import ChangesTrigger, Stamp, stamp_of, stamps_of
from airflow_provider_inventory.triggers.polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    PollingTrigger,
    Readiness,
    checked_count,
)

if TYPE_CHECKING:  # the hook, JSON:API and date helpers load when the trigger is built or runs
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
    from airflow_provider_inventory.window import Instant

_FILTER_PREFIX = "filter[q]["


def encoded_filters(filters: Mapping[str, Any] | None) -> dict[str, str]:
    """Check ``filters`` and encode each value as the API will receive it.

    The result is plain JSON (a trigger kwarg), sorted by key so that equal filters serialize
    equally, and the hook sends it unchanged.

    Raises:
        InventoryConfigError: naming the key, for an unknown predicate or a value that cannot be
            sent (see :func:`airflow_provider_inventory.jsonapi.encode_filters`).
    """
    from airflow_provider_inventory.jsonapi import encode_filters

    encoded = {
        parameter.removeprefix(_FILTER_PREFIX).removesuffix("]"): value
        for parameter, value in encode_filters(filters).items()
    }
    return dict(sorted(encoded.items()))


def checked_resource(resource: Any) -> str:
    """A Commerce Layer resource name (``packages``, ``stock_locations``...), by the hook's rule.

    Raises:
        InventoryConfigError: it is not lower case letters, digits and underscores.
    """
    from airflow_provider_inventory._arguments import resource_name

    return resource_name(resource)


def optional_instant(value: Instant | None, field: str) -> str | None:
    """``value`` as an ISO-8601 UTC string (a JSON-able trigger kwarg), or ``None``.

    Raises:
        InventoryConfigError: naming ``field`` when ``value`` is not a date/time.
    """
    from airflow_provider_inventory.window import format_instant, parse_instant

    moment = parse_instant(value, field)
    return format_instant(moment) if moment is not None else None


class CommerceLayerResourceTrigger(PollingTrigger["CommerceLayerHook"]):
    """Waits until a filtered query on a resource has at least ``min_count`` records.

    Each poll is one request (the server's ``meta.record_count``), never a listing.

    Args:
        resource: the list resource (``packages``, ``stock_locations``...).
        filters: ``{attribute(s)}_{predicate}`` -> value, as for ``CommerceLayerHook``.
        updated_since: count only records with ``updated_at >= updated_since``.
        min_count: how many records must match.
        commercelayer_conn_id: the Commerce Layer connection id.
        schema_checks: check the resource and filters against the bundled API schema (see
            ``CommerceLayerHook``); ``False`` sends names Commerce Layer added since.
        poll_interval, end_time, max_consecutive_errors: see :class:`PollingTrigger`.

    Raises:
        InventoryConfigError: an argument is invalid.
    """

    def __init__(
        self,
        *,
        resource: str,
        filters: Mapping[str, Any] | None = None,
        updated_since: Instant | None = None,
        min_count: int = 1,
        commercelayer_conn_id: str = COMMERCELAYER_DEFAULT_CONN_ID,
        schema_checks: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        end_time: float | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ) -> None:
        super().__init__(
            poll_interval=poll_interval,
            end_time=end_time,
            max_consecutive_errors=max_consecutive_errors,
        )
        self.resource = checked_resource(resource)
        self.filters = encoded_filters(filters)
        self.updated_since = optional_instant(updated_since, "updated_since")
        self.min_count = checked_count("min_count", min_count)
        self.commercelayer_conn_id = commercelayer_conn_id
        self.schema_checks = schema_checks

    def condition_kwargs(self) -> dict[str, Any]:
        """Connection, query and threshold."""
        return {
            "resource": self.resource,
            "filters": self.filters,
            "updated_since": self.updated_since,
            "min_count": self.min_count,
            "commercelayer_conn_id": self.commercelayer_conn_id,
            "schema_checks": self.schema_checks,
        }

    def build_hook(self) -> CommerceLayerHook:
        """A Commerce Layer hook for ``commercelayer_conn_id``."""
        from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

        return CommerceLayerHook(self.commercelayer_conn_id, schema_checks=self.schema_checks)

    def check(self, hook: CommerceLayerHook) -> Readiness:
        """Count the matching records once (one request)."""
        count = hook.count(self.resource, filters=self.filters, updated_since=self.updated_since)
        detail = f"{count} matching {self.resource}, at least {self.min_count} wanted"
        return Readiness(met=count >= self.min_count, count=count, detail=detail, value=count)


class CommerceLayerChangesTrigger(ChangesTrigger["CommerceLayerHook"]):
    """Asset watcher: fires once per batch of records of a resource created or updated.

    Each poll is one keyset listing of the records with ``updated_at`` at or after the
    watermark (usually one request, with only ``id`` and ``updated_at`` in the fieldset); the
    first poll reads one page sorted by ``-updated_at``. The event payload is a
    :class:`~airflow_provider_inventory.triggers.changes.ChangeBatch`; fetch it with
    ``CommerceLayerHook.iter_resources(batch.resource, filters=batch.filters,
    updated_since=batch.updated_since, updated_before=batch.updated_before)`` and
    :func:`~airflow_provider_inventory.triggers.changes.select_changed`.

    Watermark storage, first-poll behaviour and guarantees: see
    :class:`~airflow_provider_inventory.triggers.changes.ChangesTrigger`. In short: the watermark
    is kept in the asset state store (Airflow 3.3+), so restarts miss nothing; without a store it
    starts from "now" at each start. History before the first poll never fires.

    Args:
        resource: the list resource (``packages``, ``stock_locations``...).
        filters: ``{attribute(s)}_{predicate}`` -> value narrowing what is watched; not on
            ``updated_at``, which the trigger manages.
        poll_interval: seconds between polls.
        commercelayer_conn_id: the Commerce Layer connection id.

    Raises:
        InventoryConfigError: an argument is invalid.
    """

    def __init__(
        self,
        *,
        resource: str,
        filters: Mapping[str, Any] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        commercelayer_conn_id: str = COMMERCELAYER_DEFAULT_CONN_ID,
    ) -> None:
        super().__init__(poll_interval=poll_interval)
        self.resource = checked_resource(resource)
        self.resource_name = self.resource
        self.filters = encoded_filters(filters)
        from airflow_provider_inventory.jsonapi import split_filter_key

        for key in self.filters:
            if split_filter_key(key)[0] == "updated_at":
                from airflow_provider_inventory.exceptions import InventoryConfigError

                raise InventoryConfigError(
                    f"filters: {key!r} filters on updated_at, which the trigger sets itself from "
                    f"its watermark. Drop it."
                )
        self.commercelayer_conn_id = commercelayer_conn_id

    def query_kwargs(self) -> dict[str, Any]:
        """Resource, filters and connection."""
        return {
            "resource": self.resource,
            "filters": self.filters,
            "commercelayer_conn_id": self.commercelayer_conn_id,
        }

    def batch_filters(self) -> dict[str, Any]:
        """The (encoded) filters, for ``CommerceLayerHook.iter_resources(filters=...)``."""
        return dict(self.filters)

    def build_hook(self) -> CommerceLayerHook:
        """A Commerce Layer hook for ``commercelayer_conn_id``."""
        from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

        return CommerceLayerHook(self.commercelayer_conn_id)

    def changed_stamps(self, hook: CommerceLayerHook, since: str | None) -> list[Stamp]:
        """``(id, updated_at)`` of the matching records updated at or after ``since``."""
        with hook.iter_resources(
            self.resource, filters=self.filters, fields="updated_at", updated_since=since
        ) as records:
            return stamps_of(records)

    def newest_stamps(self, hook: CommerceLayerHook) -> list[Stamp]:
        """The records at the newest ``updated_at``, reading as few pages as possible."""
        from airflow_provider_inventory.window import parse_api_timestamp

        newest: list[Stamp] = []
        with hook.iter_resources(
            self.resource, filters=self.filters, fields="updated_at", sort="-updated_at"
        ) as records:
            for stamp in filter(None, map(stamp_of, records)):
                if newest and parse_api_timestamp(stamp[1], "updated_at") != parse_api_timestamp(
                    newest[0][1], "updated_at"
                ):
                    break
                newest.append(stamp)
        return newest


__all__ = ["CommerceLayerChangesTrigger", "CommerceLayerResourceTrigger"]
