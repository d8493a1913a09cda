"""Change detection for asset watchers: watermarks, change batches and :class:`ChangesTrigger`.

:class:`ChangesTrigger` backs the asset watchers. It fires one event per batch of records
created or updated after a high-water mark of ``updated_at``, never for a state that merely
stays true. The event payload is a :class:`ChangeBatch`, which a DAG scheduled on the asset
uses to fetch exactly the records of the batch (:func:`fetch_window`, :func:`select_changed`).

Hooks run in worker threads and transient failures are told apart as for the deferral triggers,
with the plumbing of :mod:`airflow_provider_inventory.triggers.polling`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property, partial
from typing import Any, Generic

from airflow_provider_inventory._compat import (
    BaseEventTrigger,
    TriggerEvent,
    asset_state_store_of,
    no_asset_state_store_reason,
)
from airflow_provider_inventory.triggers.polling import (
    DEFAULT_POLL_INTERVAL,
    H,
    HookInThread,
    checked_interval,
    classpath,
    describe_error,
    is_transient,
)


def _parse_timestamp(value: Any, field: str, record_id: Any = None) -> datetime:
    """:func:`airflow_provider_inventory.window.parse_api_timestamp`, loaded on first use (the
    module stays cheap to import for DAG files that declare watchers)."""
    from airflow_provider_inventory.window import parse_api_timestamp

    return parse_api_timestamp(value, field, record_id)


def _format_instant(moment: datetime) -> str:
    """:func:`airflow_provider_inventory.window.format_instant`, loaded on first use."""
    from airflow_provider_inventory.window import format_instant

    return format_instant(moment)


Stamp = tuple[str, str]
"""A record version: ``(id, updated_at)`` with ``updated_at`` exactly as the API wrote it."""

_ONE_MILLISECOND = timedelta(milliseconds=1)
_STATE_VERSION = 1


# ---------------------------------------------------------------------- change batches


@dataclass(frozen=True)
class ChangeBatch:
    """The records of one change event: what an asset watcher fired for.

    A batch holds the record versions with ``updated_at`` in the half-open window
    ``[updated_since, updated_before)``, where the two boundary milliseconds are decided by id:
    at exactly ``updated_since`` the ids in ``already_reported_ids`` belong to an earlier batch,
    and at exactly ``watermark`` only the ids in ``ids_at_watermark`` belong to this one (a record
    stamped in the same millisecond that became visible later belongs to a later batch). So every
    record version belongs to exactly one batch, whenever the batch is fetched.

    Fetch the window with a hook or operator (both take ``updated_since`` / ``updated_before``
    with the same half-open meaning) and the batch's ``filters``, and keep the records
    :meth:`includes` accepts (:func:`fetch_window` and :func:`select_changed` do this for several
    batches).

    Attributes:
        resource: what changed (``packages``, ``serial_numbers``...).
        count: the number of records in the batch.
        watermark: the newest ``updated_at`` in the batch (the new high-water mark).
        previous_watermark: the high-water mark before the batch (``None``: nothing existed).
        updated_since: inclusive start of the window (the previous watermark).
        updated_before: exclusive end of the window (the watermark plus one millisecond).
        already_reported_ids: ids whose version at exactly ``updated_since`` fired before.
        ids_at_watermark: the ids of this batch whose ``updated_at`` is exactly ``watermark``.
        filters: the watcher's filters, as keyword arguments of the hook's listing method
            (``filters=`` of ``CommerceLayerHook.iter_resources``; ``code``/``product_id``/
            ``stock_id`` of ``PackHook.iter_serial_numbers``).
    """

    resource: str
    count: int
    watermark: str
    previous_watermark: str | None
    updated_since: str | None
    updated_before: str
    already_reported_ids: tuple[str, ...] = ()
    ids_at_watermark: tuple[str, ...] = ()
    filters: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_payload(self) -> dict[str, Any]:
        """The JSON event payload."""
        return {
            "resource": self.resource,
            "count": self.count,
            "watermark": self.watermark,
            "previous_watermark": self.previous_watermark,
            "updated_since": self.updated_since,
            "updated_before": self.updated_before,
            "already_reported_ids": list(self.already_reported_ids),
            "ids_at_watermark": list(self.ids_at_watermark),
            "filters": dict(self.filters),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ChangeBatch:
        """Read an event payload (or an asset event's ``extra``, which wraps it in ``payload``).

        Raises:
            InventoryConfigError: it is not a change event of this provider, naming the field.
        """
        if isinstance(payload, Mapping) and isinstance(payload.get("payload"), Mapping):
            payload = payload["payload"]
        if not isinstance(payload, Mapping):
            from airflow_provider_inventory.exceptions import InventoryConfigError

            raise InventoryConfigError(
                f"A change event payload must be a mapping, got {type(payload).__name__}."
            )

        def read(name: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
            value = payload.get(name)
            if value is None and optional:
                return None
            if not isinstance(value, kind) or isinstance(value, bool):
                from airflow_provider_inventory.exceptions import InventoryConfigError

                raise InventoryConfigError(
                    f"Not a change event of CommerceLayerChangesTrigger or "
                    f"PackSerialNumberChangesTrigger: field {name!r} is {value!r}. Pass the "
                    f"'extra' of an asset event those triggers fired (or its 'payload')."
                )
            return value

        reported = read("already_reported_ids", list, optional=True) or []
        at_watermark = read("ids_at_watermark", list, optional=True) or []
        return cls(
            resource=read("resource", str),
            count=read("count", int),
            watermark=read("watermark", str),
            previous_watermark=read("previous_watermark", str, optional=True),
            updated_since=read("updated_since", str, optional=True),
            updated_before=read("updated_before", str),
            already_reported_ids=tuple(str(record_id) for record_id in reported),
            ids_at_watermark=tuple(str(record_id) for record_id in at_watermark),
            filters=dict(read("filters", dict, optional=True) or {}),
        )

    @cached_property
    def _since(self) -> datetime | None:
        if self.updated_since is None:
            return None
        return _parse_timestamp(self.updated_since, "updated_since")

    @cached_property
    def _top(self) -> datetime:
        return _parse_timestamp(self.watermark, "watermark")

    def includes(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` (with ``id`` and ``updated_at``) belongs to this batch."""
        updated_at = record.get("updated_at")
        if not isinstance(updated_at, str):
            return False
        record_id = str(record.get("id"))
        moment = _parse_timestamp(updated_at, "updated_at", record_id)
        if moment == self._top:
            return record_id in self.ids_at_watermark
        if moment > self._top:
            return False
        if self._since is None or moment > self._since:
            return True
        return moment == self._since and record_id not in self.already_reported_ids


def fetch_window(batches: Sequence[ChangeBatch]) -> tuple[str | None, str]:
    """``(updated_since, updated_before)`` covering every batch, for one listing.

    Raises:
        InventoryConfigError: ``batches`` is empty.
    """
    if not batches:
        from airflow_provider_inventory.exceptions import InventoryConfigError

        raise InventoryConfigError("No change batches given: there is no window to fetch.")
    starts = [batch.updated_since for batch in batches]
    since = (
        None if None in starts else min(starts, key=lambda s: _parse_timestamp(s, "updated_since"))
    )
    before = max(
        (b.updated_before for b in batches), key=lambda s: _parse_timestamp(s, "updated_before")
    )
    return since, before


def select_changed(
    batches: Sequence[ChangeBatch], records: Iterable[Mapping[str, Any]]
) -> Iterator[Mapping[str, Any]]:
    """The records of ``records`` that belong to any of ``batches`` (each at most once).

    Use it on a listing of :func:`fetch_window`: the result is exactly the changed records, also
    when one DAG run consumes several change events.
    """
    for record in records:
        if any(batch.includes(record) for batch in batches):
            yield record


# ---------------------------------------------------------------------- watermarks


@dataclass(frozen=True)
class WatcherMark:
    """How far a watcher has reported: the newest ``updated_at`` and the ids seen at it.

    (Not :class:`airflow_provider_inventory.records.Watermark`, which tracks the newest
    timestamp of one listing for its manifest; this is the asset watcher's persisted position.)

    ``watermark`` is ``None`` when the watched set was empty at the first poll (every record
    that appears later is a change).
    """

    watermark: str | None
    ids_at_watermark: tuple[str, ...] = ()

    @property
    def moment(self) -> datetime | None:
        """The watermark as a datetime."""
        return _parse_timestamp(self.watermark, "watermark") if self.watermark is not None else None

    def to_state(self) -> dict[str, Any]:
        """The JSON value kept in the asset state store."""
        return {
            "version": _STATE_VERSION,
            "watermark": self.watermark,
            "ids_at_watermark": list(self.ids_at_watermark),
        }

    @classmethod
    def from_state(cls, value: Any, key: str) -> WatcherMark:
        """Read a stored value.

        Raises:
            InventoryConfigError: the value is not one this class wrote, naming the key.
        """
        ok = (
            isinstance(value, Mapping)
            and value.get("version") == _STATE_VERSION
            and (value.get("watermark") is None or isinstance(value.get("watermark"), str))
            and isinstance(value.get("ids_at_watermark"), list)
        )
        if not ok:
            from airflow_provider_inventory.exceptions import InventoryConfigError

            raise InventoryConfigError(
                f"The asset state key {key!r} holds {value!r}, which is not a watermark of this "
                f"provider. Delete the key (the watcher then starts again from now) or restore it."
            )
        return cls(value["watermark"], tuple(str(i) for i in value["ids_at_watermark"]))


def newest_mark(stamps: Iterable[Stamp]) -> WatcherMark:
    """The watermark of a first poll: the newest ``updated_at`` seen and the ids at it."""
    newest: datetime | None = None
    raw: str | None = None
    ids: set[str] = set()
    for record_id, updated_at in stamps:
        moment = _parse_timestamp(updated_at, "updated_at", record_id)
        if newest is None or moment > newest:
            newest, raw, ids = moment, updated_at, {record_id}
        elif moment == newest:
            ids.add(record_id)
    return WatcherMark(raw, tuple(sorted(ids)))


def advance(
    mark: WatcherMark,
    stamps: Iterable[Stamp],
    resource: str,
    filters: Mapping[str, Any] | None = None,
) -> tuple[ChangeBatch, WatcherMark] | None:
    """The batch of changes past ``mark`` among ``stamps``, and the watermark after it.

    ``resource`` and ``filters`` describe the watched query for the batch. ``stamps`` are the
    versions with ``updated_at >= mark.watermark``. A version is new when its ``updated_at`` is
    later than the watermark, or equal to it with an id not seen at it (a record stamped in the
    same millisecond that became visible after the previous poll).

    Returns:
        ``None`` when nothing is new.
    """
    since = mark.moment
    seen = set(mark.ids_at_watermark)
    latest: dict[str, tuple[datetime, str]] = {}
    for record_id, updated_at in stamps:
        moment = _parse_timestamp(updated_at, "updated_at", record_id)
        if since is not None and (moment < since or (moment == since and record_id in seen)):
            continue
        known = latest.get(record_id)
        if known is None or moment > known[0]:
            latest[record_id] = (moment, updated_at)
    if not latest:
        return None
    top, top_raw = max(latest.values(), key=lambda item: item[0])
    at_top = {record_id for record_id, (moment, _) in latest.items() if moment == top}
    batch = ChangeBatch(
        resource=resource,
        count=len(latest),
        watermark=top_raw,
        previous_watermark=mark.watermark,
        updated_since=mark.watermark,
        updated_before=_format_instant(top + _ONE_MILLISECOND),
        already_reported_ids=mark.ids_at_watermark if since is not None else (),
        ids_at_watermark=tuple(sorted(at_top)),
        filters=dict(filters or {}),
    )
    if since is not None and top == since:
        at_top |= seen
    return batch, WatcherMark(top_raw, tuple(sorted(at_top)))


def stamp_of(record: Mapping[str, Any]) -> Stamp | None:
    """``(id, updated_at)`` of an API record, or ``None`` when it lacks either."""
    record_id, updated_at = record.get("id"), record.get("updated_at")
    if record_id is None or not isinstance(updated_at, str):
        return None
    return str(record_id), updated_at


def stamps_of(records: Iterable[Mapping[str, Any]]) -> list[Stamp]:
    """The stamps of ``records``, skipping records without an id or ``updated_at``."""
    return [stamp for stamp in map(stamp_of, records) if stamp is not None]


def _state_accessors(store: Any) -> list[Any]:
    """The per-asset state accessors of the assets a watcher serves.

    Identical watchers on several assets run as one trigger, so the triggerer may hand over
    accessors for several assets. Airflow exposes them individually only by subscripting with an
    ``Asset``, which a trigger does not have, so read its two maps; a store without them (a
    single-asset accessor) is used as is.
    """
    if store is None:
        return []
    maps = (getattr(store, "_by_name", None), getattr(store, "_by_uri", None))
    accessors = [acc for found in maps if isinstance(found, Mapping) for acc in found.values()]
    return accessors or [store]


class ChangesTrigger(BaseEventTrigger, Generic[H]):
    """Fires once per batch of records created or updated after a high-water mark.

    Every ``poll_interval`` seconds the trigger lists the versions with ``updated_at`` at or after
    its watermark (:meth:`changed_stamps`). Versions it has not reported form one batch, and one
    event (a :class:`ChangeBatch` payload) fires; a poll that finds nothing fires nothing. The
    watermark then moves to the newest ``updated_at`` of the batch.

    Where the watermark lives: in the asset state store that Airflow (3.3+) gives asset
    watchers, under :attr:`state_key`, so a restarted triggerer continues where it stopped and
    the changes made while it was down fire in its first batch. Without a store (Airflow 3.0 to
    3.2, or a trigger run by hand) the watermark lives in memory only, and the trigger logs a
    warning saying so: a restart starts again from "now" and changes made while it was down
    never fire.

    The first poll only sets the watermark to the newest ``updated_at`` it sees: records already
    there ("history") never fire. Changes after it fire, including a record stamped in that same
    millisecond that becomes visible only later.

    Guarantees, with ``updated_at`` at millisecond precision as both APIs write it:

    - Each record version fires in exactly one batch, including versions that share the
      watermark's millisecond but became visible after the poll that set it (they are told
      apart by id, and belong to the next batch).
    - Fetching a batch (:meth:`ChangeBatch.includes`) returns exactly its records, however
      late it is fetched: a record changed again since then belongs to a later batch instead.
    - A record updated several times between two polls fires once, with its latest version.
    - A version that becomes visible with an ``updated_at`` earlier than the watermark's
      millisecond (a write committed long after it was stamped) does not fire; a batch whose
      window contains it, fetched after it became visible, returns it (never twice).
    - Across a triggerer crash, delivery is at least once: the watermark is saved after the
      event is handed to Airflow, so a crash in between fires the same changes again.

    Args:
        poll_interval: seconds between polls.

    Raises:
        InventoryConfigError: an argument is invalid.
    """

    #: What changes, for event payloads and logs (``packages``, ``serial_numbers``).
    resource_name: str = "records"

    def __init__(self, *, poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
        super().__init__()
        self.poll_interval = checked_interval("poll_interval", poll_interval)

    @abstractmethod
    def query_kwargs(self) -> dict[str, Any]:
        """The deterministic JSON-able kwargs that define what is watched."""

    @abstractmethod
    def batch_filters(self) -> dict[str, Any]:
        """The filters a consumer lists a batch with (:attr:`ChangeBatch.filters`)."""

    @abstractmethod
    def build_hook(self) -> H:
        """A new hook for the trigger's connection (called in a worker thread)."""

    @abstractmethod
    def changed_stamps(self, hook: H, since: str | None) -> list[Stamp]:
        """The versions with ``updated_at >= since`` (all when ``None``); blocking."""

    def newest_stamps(self, hook: H) -> list[Stamp]:
        """Versions that include every one at the newest ``updated_at``; for the first poll.

        The default lists everything; override it when the API can sort by ``updated_at``.
        """
        return self.changed_stamps(hook, None)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """``(classpath, kwargs)``: deterministic, since it is the watcher's identity."""
        return classpath(type(self)), {**self.query_kwargs(), "poll_interval": self.poll_interval}

    @property
    def state_key(self) -> str:
        """The asset state key of the watermark: one per trigger class and query.

        The poll interval is not part of it, so changing the interval keeps the watermark;
        changing the query starts a new watermark from "now".
        """
        query = json.dumps([classpath(type(self)), self.query_kwargs()], sort_keys=True)
        digest = hashlib.sha256(query.encode()).hexdigest()[:16]
        return f"inventory_watermark_{type(self).__name__}_{digest}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per batch of changes.

        Yields:
            ``TriggerEvent(ChangeBatch.to_payload())``.

        Raises:
            InventoryConfigError, AuthenticationError, ...: a failure that retrying cannot fix
                (transient API failures are logged and retried at the next poll), or a stored
                watermark that cannot be read: starting from "now" instead could miss changes.
        """
        hook = HookInThread(self.build_hook)
        try:
            mark = await self._load_mark()
            if mark is None:
                mark = newest_mark(await self._poll(hook, self.newest_stamps))
                self.log.info(
                    "Watching %s from watermark %s; earlier changes do not fire.",
                    self.resource_name,
                    mark.watermark or "(none: nothing exists yet)",
                )
                await self._save_mark(mark)
                await asyncio.sleep(self.poll_interval)
            while True:
                changes = await self._poll(hook, partial(self.changed_stamps, since=mark.watermark))
                found = advance(mark, changes, self.resource_name, self.batch_filters())
                if found is not None:
                    batch, mark = found
                    self.log.info(
                        "%d %s changed up to %s.", batch.count, self.resource_name, mark.watermark
                    )
                    yield TriggerEvent(batch.to_payload())
                    await self._save_mark(mark)
                await asyncio.sleep(self.poll_interval)
        finally:
            hook.close()

    async def _poll(
        self, hook: HookInThread[H], list_stamps: Callable[[H], list[Stamp]]
    ) -> list[Stamp]:
        """``list_stamps(hook)`` in a thread, retried every ``poll_interval`` while it fails
        transiently."""
        while True:
            try:
                return await hook.call(list_stamps)
            except Exception as error:
                if not is_transient(error):
                    raise
                self.log.warning(
                    "Polling %s failed (%s); retrying in %.0f s.",
                    self.resource_name,
                    describe_error(error),
                    self.poll_interval,
                )
            await asyncio.sleep(self.poll_interval)

    async def _load_mark(self) -> WatcherMark | None:
        accessors = _state_accessors(asset_state_store_of(self))
        if not accessors:
            self.log.warning(
                "No asset state store (%s): the watermark is kept in memory, so after a "
                "triggerer restart watching starts again from now and changes made meanwhile "
                "never fire.",
                no_asset_state_store_reason(),
            )
        marks = []
        for accessor in accessors:
            stored = await accessor.aget(self.state_key)
            if stored is not None:
                marks.append(WatcherMark.from_state(stored, self.state_key))
        # Several assets share this trigger: they were written together, but one may be newer
        # (added later, or a save that failed half way). The newest is what has fired.
        return max(marks, key=_mark_order, default=None)

    async def _save_mark(self, mark: WatcherMark) -> None:
        for accessor in _state_accessors(asset_state_store_of(self)):
            try:
                await accessor.aset(self.state_key, mark.to_state())
            except Exception as error:
                self.log.warning(
                    "Could not save the watermark %s (%s); after a restart, changes since the "
                    "last saved watermark fire again.",
                    mark.watermark,
                    describe_error(error),
                )


def _mark_order(mark: WatcherMark) -> tuple[bool, datetime]:
    moment = mark.moment
    return (moment is not None, moment or datetime.min.replace(tzinfo=timezone.utc))
