"""Triggers on Commerce Layer list resources (packages, stock locations, ...).

- :class:`CommerceLayerResourceTrigger`: the deferral trigger of
  :class:`~airflow_provider_inventory.sensors.commercelayer.CommerceLayerResourceSensor`; waits
  until a filtered query has at least ``min_count`` records, one counting request per poll.
- :class:`CommerceLayerChangesTrigger`: an asset watcher; fires once per batch of records
  created or updated.
- :class:`CommerceLayerExportTrigger`: the deferral trigger of
  :class:`~airflow_provider_inventory.operators.commercelayer.CommerceLayerExportOperator`;
  drives a plan of exports to completion (creating the chunks not started yet as slots free)
  and hands the completed exports back to the task.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory import COMMERCELAYER_DEFAULT_CONN_ID
from airflow_provider_inventory._compat import BaseTrigger, TriggerEvent
from airflow_provider_inventory.triggers.changes import ChangesTrigger, Stamp, stamp_of, stamps_of
from airflow_provider_inventory.triggers.polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_POLL_INTERVAL,
    ERROR,
    SUCCESS,
    TIMEOUT,
    HookInThread,
    PollingTrigger,
    Readiness,
    checked_count,
    checked_end_time,
    checked_interval,
    classpath,
    describe_error,
    is_transient,
)

if TYPE_CHECKING:  # the hook, JSON:API and date helpers load when the trigger is built or runs
    from airflow_provider_inventory.hooks._commercelayer_exports import ExportPlan, ExportRound
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


class CommerceLayerExportTrigger(BaseTrigger):
    """Polls a plan of Commerce Layer exports until every one completed.

    Each round is one listing request for all the plan's exports (found by their reference),
    plus a creation per chunk started as a slot frees and a restart per interrupted export
    (see ``CommerceLayerHook.advance_exports``); rounds are spaced by the exports'
    ``estimated_completion_at`` (at least ``poll_interval``, at most a minute apart). Running
    it twice (a triggerer restart) is safe: exports are found by reference, never created
    twice.

    Event payloads::

        {"status": "success", "exports": [<ExportState as a dict>, ...], "empty": [...]}
        {"status": "timeout", "message": "...", "export_ids": [...]}
        {"status": "error", "error_type": "ExportError", "message": "...", "export_ids": [...]}

    Args:
        plan: ``ExportPlan.to_json()``.
        max_concurrent: the most exports of the plan in progress at once (1 to 10).
        commercelayer_conn_id: the Commerce Layer connection id.
        poll_interval: the shortest wait between rounds (seconds).
        end_time: when to give up (seconds since the epoch; ``None``: never).
        empty: chunks already found to match no record.
        max_consecutive_errors: transient failures in a row tolerated.
    """

    def __init__(
        self,
        *,
        plan: Mapping[str, Any],
        max_concurrent: int,
        commercelayer_conn_id: str = COMMERCELAYER_DEFAULT_CONN_ID,
        poll_interval: float = 1.0,
        end_time: float | None = None,
        empty: Sequence[int] = (),
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
    ) -> None:
        super().__init__()
        self.plan = dict(plan)
        self.max_concurrent = checked_count("max_concurrent", max_concurrent)
        self.commercelayer_conn_id = commercelayer_conn_id
        self.poll_interval = checked_interval("poll_interval", poll_interval)
        self.end_time = checked_end_time(end_time)
        self.empty = [int(index) for index in empty]
        self.max_consecutive_errors = checked_count(
            "max_consecutive_errors", max_consecutive_errors
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """``(classpath, kwargs)``; the kwargs are plain JSON."""
        return classpath(type(self)), {
            "plan": self.plan,
            "max_concurrent": self.max_concurrent,
            "commercelayer_conn_id": self.commercelayer_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
            "empty": self.empty,
            "max_consecutive_errors": self.max_consecutive_errors,
        }

    def build_hook(self) -> CommerceLayerHook:
        """A Commerce Layer hook for ``commercelayer_conn_id``."""
        from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

        return CommerceLayerHook(self.commercelayer_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Advance the plan until it completed, failed, or the deadline passed.

        Yields:
            Exactly one event (see the class doc).
        """
        from airflow_provider_inventory.hooks._commercelayer_exports import (
            ExportPlan,
            stuck_error,
        )

        plan = ExportPlan.from_json(self.plan)
        hook: HookInThread[CommerceLayerHook] = HookInThread(self.build_hook)
        empty = list(self.empty)
        failures = 0
        try:
            while True:
                try:
                    round_ = await hook.call(functools.partial(self._advance, plan, empty))
                except Exception as error:
                    failures += 1
                    if not is_transient(error) or failures >= self.max_consecutive_errors:
                        yield TriggerEvent(self._error(error, failures))
                        return
                    self.log.warning(
                        "Polling the exports failed (%s); failure %d of %d tolerated in a row.",
                        describe_error(error),
                        failures,
                        self.max_consecutive_errors,
                    )
                    await asyncio.sleep(self.poll_interval)
                    continue
                failures = 0
                empty = round_.empty
                if round_.done:
                    yield TriggerEvent(
                        {
                            "status": SUCCESS,
                            "exports": [e.to_json() for e in round_.completed()],
                            "empty": empty,
                        }
                    )
                    return
                self.log.info(
                    "Exports of %s: %s.",
                    plan.resource,
                    "; ".join(e.describe() for e in round_.running) or "waiting for a free slot",
                )
                left = None if self.end_time is None else self.end_time - time.time()
                if left is not None and left <= 0:
                    message = str(stuck_error(plan, round_, _deadline_text(self.end_time)))
                    yield TriggerEvent(
                        {
                            "status": TIMEOUT,
                            "message": message,
                            "export_ids": [e.id for e in round_.running],
                        }
                    )
                    return
                await asyncio.sleep(round_.wait if left is None else min(round_.wait, left))
        finally:
            hook.close()

    def _advance(self, plan: ExportPlan, empty: list[int], hook: CommerceLayerHook) -> ExportRound:
        return hook.advance_exports(
            plan, self.max_concurrent, empty=empty, poll_interval=self.poll_interval
        )

    def _error(self, error: Exception, failures: int) -> dict[str, Any]:
        message = describe_error(error)
        if is_transient(error):
            message = f"{failures} polls in a row failed; last error: {message}"
        return {"status": ERROR, "error_type": type(error).__name__, "message": message}


def _deadline_text(end_time: float | None) -> str:
    """``the deadline <UTC time> (export_timeout)`` for messages."""
    from datetime import datetime, timezone

    from airflow_provider_inventory.window import format_instant

    if end_time is None:
        return "no deadline"
    moment = format_instant(datetime.fromtimestamp(end_time, tz=timezone.utc))
    return f"the deadline {moment} (export_timeout)"


__all__ = [
    "CommerceLayerChangesTrigger",
    "CommerceLayerExportTrigger",
    "CommerceLayerResourceTrigger",
]
