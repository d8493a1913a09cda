"""``InventoryListOperator``: the Airflow side every listing operator shares, written once.

A subclass says how to open its hook, how to start the listing and which fields the API returns.
This class does the rest:

1. at execute start, normalises the templated arguments (Jinja renders everything to strings:
   dicts and lists arrive as JSON or Python-literal text, numbers as digits), checks the window
   and compiles ``where`` / ``record_filter`` / ``select``, so a bad argument fails before any
   request;
2. streams the hook's records (a :class:`~airflow_provider_inventory._http.stream.RecordStream`)
   through the watermark, the selection and a progress logger (at most one line every
   :data:`PROGRESS_INTERVAL` seconds: records so far, pages, rate, retries, from the stream's
   counters);
3. publishes: without ``output_path`` the records are the XCom value (refused above
   ``max_xcom_records`` before anything oversized is built); with ``output_path`` they are
   streamed atomically to a JSON Lines or Parquet file and the file's manifest is the XCom value
   (a bad scheme or a missing Parquet extra fails at execute start, before any request);
4. with ``changes=True``, lists the complete scope instead and publishes only what changed
   since the previous run's snapshot (see :mod:`airflow_provider_inventory.records.changes`);
5. records ``{"records": n, "path": ...}`` on the asset event of every ``Asset`` in ``outlets``;
6. keeps a few facts (API dataset, file, fields, counts) for
   :meth:`~InventoryListOperator.get_openlineage_facets_on_complete`.

Nothing heavy is imported at module level: DAG files import operators on every parse.
"""

from __future__ import annotations

import ast
import json
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from airflow_provider_inventory._compat import BaseOperator
from airflow_provider_inventory._types import Record, RecordPredicate

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_inventory._http.stream import RecordStream
    from airflow_provider_inventory.assets import DatasetName, LineageFacts
    from airflow_provider_inventory.hooks.base import InventoryHook
    from airflow_provider_inventory.records import (
        Column,
        Manifest,
        RecordFileWriter,
        RecordLayout,
        RecordSelection,
        Watermark,
    )
    from airflow_provider_inventory.records.changes import ChangeScope, ChangeSetBuilder
    from airflow_provider_inventory.window import Window

HookT = TypeVar("HookT", bound="InventoryHook")
RecordFilter = RecordPredicate
"""Deprecated name of :data:`airflow_provider_inventory._types.RecordPredicate`."""

#: Seconds between two progress lines of one listing.
PROGRESS_INTERVAL = 5.0


# ---------------------------------------------------------------------- templated arguments


def config_error(message: str) -> Exception:
    """An ``InventoryConfigError``, imported on first use so a DAG parse loads nothing extra."""
    from airflow_provider_inventory.exceptions import InventoryConfigError

    return InventoryConfigError(message)


def parse_literal(text: str, name: str, expected: type | tuple[type, ...], example: str) -> Any:
    """Parse the text a Jinja template rendered for a dict or list argument.

    JSON is tried first (``{"a": null}``), then a Python literal, which is what Jinja renders
    for a dict or list (``{'a': None}``) unless the DAG sets ``render_template_as_native_obj``.

    Args:
        text: the rendered text.
        name: the argument, for the error message.
        expected: the type(s) the parsed value must have.
        example: a valid value, for the error message.

    Returns:
        The parsed value.

    Raises:
        InventoryConfigError: the text is neither valid JSON nor a Python literal of the
            expected type.
    """
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = _Unparsable
    if value is _Unparsable or not isinstance(value, expected):
        raise config_error(
            f"{name}={text!r} could not be read as a {_kind(expected)}; pass a "
            f"{_kind(expected)} such as {example}, or its JSON text (templates render dicts and "
            f"lists to text unless the DAG sets render_template_as_native_obj=True)."
        )
    return value


class _Unparsable:
    pass


def _kind(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join("dict" if issubclass(t, Mapping) else t.__name__ for t in types)


def mapping_argument(value: Any, name: str, example: str) -> dict[str, Any] | None:
    """A dict argument that may arrive as rendered text (``None`` and ``""`` mean not set).

    Raises:
        InventoryConfigError: naming the argument when it is not a dict or dict text.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = parse_literal(value.strip(), name, dict, example)
    if not isinstance(value, Mapping):
        raise config_error(
            f"{name} must be a dict such as {example}, got {type(value).__name__} {value!r}."
        )
    return dict(value)


def names_argument(value: Any, name: str) -> str | list[Any] | None:
    """A string-or-list argument (ids, field names) that may arrive as a rendered list.

    A string that starts with ``[`` or ``(`` is read as a rendered list; any other string is
    returned unchanged for the hook to interpret (one id, or a comma-separated list of names).

    Raises:
        InventoryConfigError: naming the argument when it is not a string or a list.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(")):
            return list(parse_literal(text, name, (list, tuple), "['a', 'b']"))
        return text
    if isinstance(value, list | tuple):
        return list(value)
    raise config_error(
        f"{name} must be a string or a list of strings, got {type(value).__name__} {value!r}."
    )


def integer_argument(value: Any, name: str, *, minimum: int = 1) -> int | None:
    """A whole-number argument that may arrive as rendered digits (``None`` means not set).

    Raises:
        InventoryConfigError: naming the argument when it is not a whole number >= ``minimum``.
    """
    if value is None:
        return None
    from airflow_provider_inventory._arguments import whole_number

    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return whole_number(name, int(value.strip()), minimum=minimum)
    return whole_number(name, value, minimum=minimum)


# ---------------------------------------------------------------------- listing and progress


class InfoLogger(Protocol):
    """What progress logging needs of a logger (a task's ``self.log``, a ``logging.Logger``)."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Log at INFO level."""


class ListingProgress:
    """Counts records as they stream; while :meth:`reporting`, logs a line every ``interval``.

    The line comes from a background thread, so a listing that reads many pages but passes few
    records on (Pack's client-side window) still shows progress.

    Args:
        what: what is listed, for the log lines ("Pack serial numbers").
        stream: the hook's record stream, whose counters are reported.
        log: the task logger.
        interval: seconds between two progress lines.
        clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        what: str,
        stream: RecordStream,
        log: InfoLogger,
        *,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.stream = stream
        self.log = log
        self.interval = interval
        self.clock = clock
        self.fetched = 0
        self.kept = 0
        self.started = clock()

    def count_fetched(
        self, records: Iterator[Record], observe: Callable[[Record], None]
    ) -> Iterator[Record]:
        """Yield ``records`` unchanged, counting them and passing each to ``observe``."""
        for record in records:
            self.fetched += 1
            observe(record)
            yield record

    def count_kept(self, records: Iterator[Record]) -> Iterator[Record]:
        """Yield ``records`` unchanged, counting them as kept."""
        for record in records:
            self.kept += 1
            yield record

    def describe(self) -> str:
        """One line: records fetched and kept, pages, requests, rate, retries, pacing."""
        elapsed = max(self.clock() - self.started, 1e-9)
        counters = self.stream.counters()
        return (
            f"{self.what}: {self.fetched:,} fetched, {self.kept:,} kept, "
            f"{counters.pages:,} pages, {counters.requests:,} requests, "
            f"{self.fetched / elapsed:,.0f} records/s, {counters.retries:,} retries, "
            f"{counters.paced_seconds:.1f} s paced, {elapsed:.1f} s elapsed"
        )

    @contextmanager
    def reporting(self) -> Iterator[None]:
        """Log :meth:`describe` every ``interval`` seconds until the block ends."""
        stop = threading.Event()

        def report() -> None:
            while not stop.wait(self.interval):
                try:
                    line = self.describe()
                except Exception:  # counters read mid-update: skip this line, not the task
                    continue
                self.log.info("%s", line)

        reporter = threading.Thread(target=report, name="inventory-progress", daemon=True)
        reporter.start()
        try:
            yield
        finally:
            stop.set()
            reporter.join()


# ---------------------------------------------------------------------- publishing


@dataclass
class OutputTarget:
    """Where a task publishes: the checked file (or ``None`` for XCom) and its layout.

    Attributes:
        path: the resolved ``output_path``, or ``None`` when the records go to XCom.
        layout: the fields written and their documented types.
        fields: ``(name, kind)`` of the fields actually written, once the file is committed.
    """

    path: ObjectStoragePath | None
    layout: RecordLayout
    fields: tuple[tuple[str, str | None], ...] = field(default=())


@dataclass(frozen=True)
class ChangePlan:
    """What ``changes=True`` compares against, checked before any request.

    Attributes:
        scope: the listing's scope (see :meth:`InventoryListOperator.change_scope`).
        snapshot: the scope's snapshot file.
        max_deleted_fraction: the mass-deletion guard's limit.
    """

    scope: ChangeScope
    snapshot: ObjectStoragePath
    max_deleted_fraction: float


def observe_keys(records: Iterator[Record], seen: set[str]) -> Iterator[Record]:
    """Yield ``records`` unchanged, adding their keys to ``seen`` (for an open layout)."""
    update = seen.update
    for record in records:
        update(record)
        yield record


def written_fields(
    writer: RecordFileWriter, layout: RecordLayout, seen: set[str]
) -> tuple[tuple[str, str | None], ...]:
    """``(name, kind)`` of what a committed writer wrote: Parquet's columns, else the layout's
    fields (or the keys seen) with their documented kinds."""
    from airflow_provider_inventory.records.columns import ordered

    columns: tuple[Column, ...] | None = getattr(writer, "columns", None)
    if columns is not None:
        return tuple((column.name, column.kind) for column in columns)
    names = layout.fields if layout.fields is not None else ordered(seen, layout.declared)
    return tuple((name, _column_kind(layout.column(name))) for name in names)


def _column_kind(column: Column | None) -> str | None:
    return column.kind if column is not None else None


# ---------------------------------------------------------------------- the operator


class InventoryListOperator(BaseOperator, Generic[HookT]):
    """Base of the listing operators: validate, stream, filter, project, publish.

    Args:
        where: keep records whose fields match: ``{field: value}`` (equal), ``{field: [a, b]}``
            (one of), ``{field: None}`` (null or missing); dotted paths reach into objects
            (``"metadata.tier"``). All conditions must hold. Templated; rendered text (JSON or a
            Python literal) is parsed.
        record_filter: an optional ``callable(record) -> bool`` run after ``where``, for anything
            ``where`` cannot say. Not templated (it is code).
        select: the fields to keep, as a list or a comma-separated string; output records are
            flat, keyed by the names as given. ``None`` keeps every field. Templated.
        updated_since: keep records with ``updated_at >= updated_since`` (datetime or ISO-8601
            text, e.g. ``"{{ data_interval_start }}"``). Templated.
        updated_before: keep records with ``updated_at < updated_before``
            (``"{{ data_interval_end }}"``). Consecutive runs over adjacent windows miss and
            repeat nothing. Templated.
        output_path: where to stream the records: JSON Lines (gzip when it ends in ``.gz``) or
            Parquet when it ends in ``.parquet`` (needs the ``[parquet]`` extra: typed columns,
            one row group per 10,000 records). A string or ``ObjectStoragePath`` on any scheme
            Airflow's object storage supports (``file:///data/serials/{{ ds }}.jsonl``,
            ``s3://aws_default@bucket/key.parquet``); an unknown scheme or a missing extra fails
            before any request, naming the package to install. The file is written under a
            temporary name and moved into place only after the whole listing succeeded. The
            task then returns the file's manifest
            (``path, records, bytes, format, watermark, window, fetched_at``). Mapped tasks need
            one file each: put ``{{ ti.map_index }}`` in the name. Without ``output_path`` the
            task returns the records themselves. Templated.
        max_xcom_records: the most records returned through XCom without ``output_path``
            (default 10,000); above it the task fails before pushing and says to set
            ``output_path``.
        changes: publish a change set instead of the records: list the complete scope (the
            operator's filters, ``where``, ``select``; no time window), compare it with the
            snapshot the previous successful run of the same scope left, and publish the
            created and updated records in full and the deleted ones as tombstones
            (``{"id", "_change": "deleted", "_seen_at"}``), each marked with ``_change``
            (``created``/``updated``/``deleted``) and ``_seen_at``. The first run publishes
            every record as created. The manifest adds ``changes`` (counts per kind),
            ``snapshot`` and ``previous_records``. Needs ``output_path`` or ``snapshot_path``;
            ``select`` must keep ``id``. See :doc:`/change-sets`.
        snapshot_path: the folder holding the snapshots (one file per scope), e.g.
            ``s3://aws_default@bucket/inventory/_snapshots/``. Default: ``_snapshots/`` beside
            ``output_path``; set it when the output folder changes from run to run (e.g.
            ``.../{{ ds }}/part.jsonl``), or the previous snapshot is never found. Templated.
        max_deleted_fraction: with ``changes=True``, the largest share of the previous
            snapshot one change set may delete (default 0.2). Above it the task fails with the
            counts, publishes nothing and keeps the snapshot; raise it (up to 1) when the
            deletions are real. Templated.
        kwargs: passed to :class:`~airflow.sdk.BaseOperator` (``task_id``, ``outlets``,
            ``pool``...).
    """

    template_fields: Sequence[str] = (
        "where",
        "select",
        "updated_since",
        "updated_before",
        "output_path",
        "snapshot_path",
        "max_deleted_fraction",
    )
    template_fields_renderers = {"where": "json", "select": "json"}

    #: Whether :meth:`open_listing` with an open window lists the complete scope, which
    #: ``changes=True`` needs. A subclass that cannot (e.g. an export limited to a window)
    #: sets it to ``False``, and ``changes=True`` is refused with a clear error.
    lists_complete_scope: ClassVar[bool] = True
    #: Arguments (from :meth:`listing_arguments`) that change how records are listed, not
    #: which: left out of the change scope, so changing them keeps the snapshot.
    scope_ignored_arguments: ClassVar[frozenset[str]] = frozenset(
        {"per_page", "page_size", "max_workers", "sort"}
    )

    def __init__(
        self,
        *,
        where: Mapping[str, Any] | str | None = None,
        record_filter: RecordPredicate | None = None,
        select: Sequence[str] | str | None = None,
        updated_since: Any = None,
        updated_before: Any = None,
        output_path: str | ObjectStoragePath | None = None,
        max_xcom_records: int | None = None,
        changes: bool = False,
        snapshot_path: str | ObjectStoragePath | None = None,
        max_deleted_fraction: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if record_filter is not None and not callable(record_filter):
            raise config_error(
                f"record_filter must be a callable taking a record dict and returning a bool, "
                f"got {type(record_filter).__name__}; use where for declarative conditions."
            )
        self.where = where
        self.record_filter = record_filter
        self.select = select
        self.updated_since = updated_since
        self.updated_before = updated_before
        self.output_path = output_path
        self.max_xcom_records = max_xcom_records
        if not isinstance(changes, bool):
            raise config_error(f"changes must be True or False, got {changes!r}.")
        self.changes = changes
        self.snapshot_path = snapshot_path
        self.max_deleted_fraction = max_deleted_fraction
        self._lineage: LineageFacts | None = None

    # ------------------------------------------------------------------ subclass interface

    @property
    def listing_name(self) -> str:
        """What is listed, for log lines ("Pack serial numbers")."""
        return "records"

    @abstractmethod
    def listing_arguments(self) -> dict[str, Any]:
        """The rendered subclass arguments, normalised for the hook call.

        Raises:
            InventoryConfigError: an argument is invalid (naming it and the fix).
        """

    @abstractmethod
    def get_hook(self) -> HookT:
        """A new hook for the operator's connection (closed by :meth:`execute`)."""

    @abstractmethod
    def open_listing(
        self, hook: HookT, arguments: Mapping[str, Any], window: Window
    ) -> RecordStream:
        """Start the listing (arguments are checked here, no request is sent yet).

        Args:
            hook: the hook from :meth:`get_hook`.
            arguments: from :meth:`listing_arguments`.
            window: the validated ``[updated_since, updated_before)`` window.

        Raises:
            InventoryConfigError: the hook rejects an argument.
        """

    @abstractmethod
    def known_fields(self, arguments: Mapping[str, Any]) -> Collection[str] | None:
        """The fields the API returns for this listing, or ``None`` when they are not known
        (then ``where``/``select`` names are not checked)."""

    def declared_columns(self, arguments: Mapping[str, Any]) -> Mapping[str, Column]:
        """The column types the API documents for this listing's fields (Parquet, lineage)."""
        return {}

    @abstractmethod
    def lineage_dataset(self, hook: HookT, arguments: Mapping[str, Any]) -> DatasetName:
        """The API dataset listed, named as in :mod:`airflow_provider_inventory.assets`."""

    def change_scope(self, arguments: Mapping[str, Any]) -> ChangeScope:
        """What a snapshot of this listing is a snapshot of (``changes=True``).

        The default fits any listing operator: the DAG and task, the connection (the first
        templated argument ending in ``_conn_id``), :attr:`listing_name`, the listing
        arguments except :attr:`scope_ignored_arguments`, ``where``, ``select`` and the
        qualified name of ``record_filter``. Two listings compare with each other's snapshots
        only if all of these are equal.

        Raises:
            InventoryConfigError: an argument is not JSON-serialisable.
        """
        from airflow_provider_inventory.records.changes import ChangeScope

        record_filter = self.record_filter
        definition = {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "connection": self._connection_id(),
            "listing": self.listing_name,
            "arguments": {
                name: value
                for name, value in sorted(arguments.items())
                if name not in self.scope_ignored_arguments and value is not None
            },
            "where": mapping_argument(self.where, "where", "{}"),
            "select": self._selected_fields(),
            "record_filter": None
            if record_filter is None
            else f"{getattr(record_filter, '__module__', '')}."
            f"{getattr(record_filter, '__qualname__', type(record_filter).__qualname__)}",
        }
        return ChangeScope(self.task_id, definition)

    def _connection_id(self) -> str | None:
        for name in self.template_fields:
            if name.endswith("_conn_id"):
                value = getattr(self, name, None)
                return None if value is None else str(value)
        return None

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> list[Record] | Manifest:
        """List, filter, project and publish the records.

        Returns:
            The records (no ``output_path``) or the manifest of the written file.

        Raises:
            InventoryConfigError: an argument is invalid (raised before any request).
            XComLimitExceededError: more than ``max_xcom_records`` records without
                ``output_path``.
            InventoryApiError: the listing failed (no file is left at ``output_path``).
        """
        from airflow_provider_inventory.records import Watermark
        from airflow_provider_inventory.window import Window

        self._lineage = None
        arguments = self.listing_arguments()
        window = Window.of(self.updated_since, self.updated_before)
        selection = self.record_selection(arguments)
        max_records = integer_argument(self.max_xcom_records, "max_xcom_records", minimum=0)
        target = self.output_target(arguments)
        plan = self.change_plan(arguments, window, target)
        watermark = Watermark()
        with closing(self.get_hook()) as hook, self.open_listing(hook, arguments, window) as stream:
            self.log.info("Listing %s%s.", self.listing_name, self._describe_target(window, plan))
            progress = ListingProgress(self.listing_name, stream, self.log)
            fetched = progress.count_fetched(stream, watermark.observe)
            records = progress.count_kept(selection.apply(fetched))
            if plan is None:
                with progress.reporting():  # leaving the block closes an abandoned stream
                    result = self._publish(records, window, watermark, max_records, target)
                self.log.info("Done. %s", progress.describe())
            else:
                result = self._publish_changes(
                    records,
                    plan,
                    progress=progress,
                    window=window,
                    watermark=watermark,
                    max_records=max_records,
                    target=target,
                )
            self._lineage = self._lineage_facts(hook, arguments, target, result)
        extra: dict[str, Any] = {}
        if isinstance(result, list):
            extra.update(records=len(result), path=None)
        else:
            extra.update(records=result["records"], path=result["path"])
            if "changes" in result:  # a ChangeSetManifest
                extra["changes"] = result["changes"]  # type: ignore[typeddict-item]
        self._annotate_outlets(context, extra)
        return result

    def change_plan(
        self, arguments: Mapping[str, Any], window: Window, target: OutputTarget
    ) -> ChangePlan | None:
        """Check the ``changes=True`` arguments and find the snapshot (``None`` without it).

        Raises:
            InventoryConfigError: a time window is set, there is neither ``output_path`` nor
                ``snapshot_path``, ``select`` drops ``id``, ``max_deleted_fraction`` is not a
                number from 0 to 1, or the operator cannot list its complete scope.
        """
        if not self.changes:
            return None
        from airflow_provider_inventory.records.changes import (
            DEFAULT_SNAPSHOT_FOLDER,
            check_max_deleted_fraction,
            snapshot_folder,
        )

        name = type(self).__name__
        if not self.lists_complete_scope:
            raise config_error(
                f"{name} cannot list its complete scope, which changes=True compares between "
                f"runs; drop changes=True."
            )
        if not window.is_open:
            raise config_error(
                "changes=True compares the complete scope with the previous run's snapshot, so "
                "it takes no time window: drop updated_since/updated_before (records outside "
                "the window would look deleted)."
            )
        selected = target.layout.fields if target.layout.exact else None
        if selected is not None and "id" not in selected:
            raise config_error(
                f"changes=True matches records by id, but select={list(selected)!r} drops it; "
                f"add 'id' to select."
            )
        fraction = check_max_deleted_fraction(self.max_deleted_fraction)
        if self.snapshot_path is not None and str(self.snapshot_path).strip():
            folder = snapshot_folder(self.snapshot_path)
        elif target.path is not None:
            folder = target.path.parent / DEFAULT_SNAPSHOT_FOLDER
        else:
            raise config_error(
                "changes=True keeps a snapshot of each run to compare the next one with, so it "
                "needs storage: set snapshot_path (a folder, e.g. "
                "'s3://aws_default@bucket/inventory/_snapshots/') to keep returning the change "
                "set through XCom, or output_path to write it to a file (the snapshot then goes "
                "to _snapshots/ beside it)."
            )
        scope = self.change_scope(arguments)
        return ChangePlan(scope, folder / scope.file_name, fraction)

    def _publish_changes(
        self,
        records: Iterator[Record],
        plan: ChangePlan,
        *,
        progress: ListingProgress,
        window: Window,
        watermark: Watermark,
        max_records: int | None,
        target: OutputTarget,
    ) -> list[Record] | Manifest:
        """List the complete scope, then publish its change set and advance the snapshot."""
        from airflow_provider_inventory._http.redaction import redact_url
        from airflow_provider_inventory.records.changes import ChangeSetBuilder, change_set_layout

        changes_target = OutputTarget(target.path, change_set_layout(target.layout))
        with ChangeSetBuilder(
            plan.scope, plan.snapshot, max_deleted_fraction=plan.max_deleted_fraction
        ) as builder:
            with progress.reporting():  # leaving the block closes an abandoned stream
                builder.add_all(records)
            self.log.info("Listed the complete scope. %s", progress.describe())
            result = self._publish(
                builder.changes(), window, watermark, max_records, changes_target
            )
            builder.commit()
        target.layout, target.fields = changes_target.layout, changes_target.fields
        self._log_changes(builder, redact_url(str(plan.snapshot)))
        if isinstance(result, list):
            return result
        return {
            **result,
            "changes": dict(builder.counts),
            "snapshot": str(plan.snapshot),
            "previous_records": builder.previous_records,
        }  # type: ignore[return-value]  # a ChangeSetManifest

    def _log_changes(self, builder: ChangeSetBuilder, snapshot: str) -> None:
        self.log.info("Change set of %s: %s.", self.listing_name, builder.describe())
        if builder.duplicates:
            self.log.warning(
                "The listing returned %d record(s) whose id an earlier record had; the first "
                "of each was kept.",
                builder.duplicates,
            )
        self.log.info("Snapshot advanced: %s.", snapshot)

    def _publish(
        self,
        records: Iterator[Record],
        window: Window,
        watermark: Watermark,
        max_records: int | None,
        target: OutputTarget,
    ) -> list[Record] | Manifest:
        """The records as a list for XCom, or the manifest of the file they were written to."""
        if target.path is None:
            return self._collect(records, max_records)
        return self._write_file(records, window, watermark, target)

    def output_target(self, arguments: Mapping[str, Any]) -> OutputTarget:
        """Check ``output_path`` (type, scheme, format extra) and fix the layout written.

        Raises:
            InventoryConfigError: ``output_path`` is not a string or ``ObjectStoragePath``, names
                no file, has a scheme no installed package supports, or ends in ``.parquet``
                without pyarrow; each message names ``output_path`` and what to install.
        """
        from airflow_provider_inventory._compat import ObjectStoragePath
        from airflow_provider_inventory.records import RecordLayout, check_output_path

        layout = RecordLayout.of(
            self.declared_columns(arguments),
            selected=self._selected_fields(),
            known=self.known_fields(arguments),
        )
        output_path = self.output_path
        if output_path is None:
            return OutputTarget(None, layout)
        if not isinstance(output_path, str | ObjectStoragePath):
            raise config_error(
                f"output_path must be a string or an ObjectStoragePath, got "
                f"{type(output_path).__name__}."
            )
        return OutputTarget(check_output_path(output_path), layout)

    def _selected_fields(self) -> tuple[str, ...] | None:
        from airflow_provider_inventory.records import normalize_select

        return normalize_select(names_argument(self.select, "select"))

    def record_selection(self, arguments: Mapping[str, Any]) -> RecordSelection:
        """Compile ``where`` / ``record_filter`` / ``select``, checked against the known fields.

        Raises:
            InventoryConfigError: a malformed argument or a field the API does not return.
        """
        from airflow_provider_inventory.records import RecordSelection

        return RecordSelection.build(
            where=mapping_argument(self.where, "where", "{'fulfillment_line_id': None}"),
            record_filter=self.record_filter,
            select=names_argument(self.select, "select"),
            known_fields=self.known_fields(arguments),
        )

    def _collect(self, records: Iterator[Record], max_records: int | None) -> list[Record]:
        from airflow_provider_inventory.records import DEFAULT_MAX_XCOM_RECORDS, collect_for_xcom

        limit = DEFAULT_MAX_XCOM_RECORDS if max_records is None else max_records
        collected = collect_for_xcom(records, limit)
        self.log.info("Returning %d %s through XCom.", len(collected), self.listing_name)
        return collected

    def _write_file(
        self, records: Iterator[Record], window: Window, watermark: Watermark, target: OutputTarget
    ) -> Manifest:
        from airflow_provider_inventory.records import open_writer

        assert target.path is not None  # _publish sends XCom listings elsewhere
        seen: set[str] = set()
        if target.layout.fields is None:
            records = observe_keys(records, seen)
        layout = target.layout
        with open_writer(target.path, window=window, watermark=watermark, layout=layout) as writer:
            writer.write_many(records)
            manifest = writer.commit()
        target.fields = written_fields(writer, layout, seen)
        self.log.info(
            "Wrote %d %s to %s (%d bytes, %s, watermark %s).",
            manifest["records"],
            self.listing_name,
            manifest["path"],
            manifest["bytes"],
            manifest["format"],
            manifest["watermark"],
        )
        return manifest

    def _describe_target(self, window: Window, plan: ChangePlan | None = None) -> str:
        since, before = window.as_strings()
        span = "" if window.is_open else f" updated in [{since or '...'}, {before or '...'})"
        if plan is not None:
            from airflow_provider_inventory._http.redaction import redact_url

            span = f" (complete scope, for a change set against {redact_url(str(plan.snapshot))})"
        if self.output_path is None:
            return f"{span} for XCom"
        from airflow_provider_inventory._http.redaction import redact_url

        return f"{span} into {redact_url(str(self.output_path))}"

    def _lineage_facts(
        self,
        hook: HookT,
        arguments: Mapping[str, Any],
        target: OutputTarget,
        result: list[Record] | Manifest,
    ) -> LineageFacts | None:
        """The facts lineage reports; ``None`` (logged) if they cannot be worked out, since
        lineage must never fail a task that published its records."""
        from airflow_provider_inventory.assets import LineageFacts, file_dataset
        from airflow_provider_inventory.records.columns import ordered

        try:
            known = self.known_fields(arguments)
            source = self.lineage_dataset(hook, arguments)
            source_fields = None if known is None else tuple(ordered(known, target.layout.declared))
            kinds = {name: column.kind for name, column in target.layout.declared.items()}
            if isinstance(result, list):
                return LineageFacts(source, None, len(result), None, (), source_fields, kinds)
            assert target.path is not None
            return LineageFacts(
                source=source,
                output=file_dataset(target.path),
                records=result["records"],
                size=result["bytes"],
                fields=target.fields,
                source_fields=source_fields,
                source_kinds=kinds,
            )
        except Exception as error:
            self.log.warning("No lineage for this task: %s", error)
            return None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage facets of the finished task (called by the OpenLineage provider).

        Returns:
            An ``OperatorLineage`` with the API dataset as input (``pack://{organization_id}``
            ``serial-numbers``, ``commercelayer://{slug}`` ``{resource}``) and, with
            ``output_path``, the file as output with a schema facet (the fields written, after
            ``select``) and output statistics (records, bytes); ``None`` when the OpenLineage
            provider is not installed or the task did not complete.
        """
        from airflow_provider_inventory.assets import operator_lineage

        return operator_lineage(self._lineage)

    def _annotate_outlets(self, context: Context, extra: Mapping[str, Any]) -> None:
        """Put ``extra`` (``{"records", "path"}``, and ``"changes"`` for a change set) on the
        asset event of every ``Asset`` outlet."""
        from airflow_provider_inventory._compat import Asset

        assets = [outlet for outlet in self.outlets if isinstance(outlet, Asset)]
        events = context.get("outlet_events")
        if not assets or events is None:
            return
        for asset in assets:
            events[asset].extra.update(extra)
