"""``InventoryListOperator``: the Airflow side every listing operator shares, written once.

A subclass says how to open its hook, how to start the listing and which fields the API returns.
This class does the rest:

1. at execute start, normalises the templated arguments (Jinja renders everything to strings:
   dicts and lists arrive as JSON or Python-literal text, numbers as digits), checks the window
   and compiles ``where`` / ``record_filter`` / ``select``, so a bad argument fails before any
   request;
2. streams the hook's records through the watermark, the selection and a progress logger (at
   most one line every :data:`PROGRESS_INTERVAL` seconds: records so far, pages, rate, retries);
3. publishes: without ``output_path`` the records are the XCom value (refused above
   ``max_xcom_records`` before anything oversized is built); with ``output_path`` they are
   streamed atomically to a JSON Lines file and the file's manifest is the XCom value;
4. records ``{"records": n, "path": ...}`` on the asset event of every ``Asset`` in ``outlets``.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from airflow_provider_inventory._compat import BaseOperator
from airflow_provider_inventory._types import Record

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_inventory._http.client import ClientStats
    from airflow_provider_inventory.hooks.base import InventoryHook
    from airflow_provider_inventory.records import Manifest, RecordSelection, Watermark
    from airflow_provider_inventory.window import Window

HookT = TypeVar("HookT", bound="InventoryHook")
RecordFilter = Callable[[Record], Any]

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


@dataclass(frozen=True)
class Listing:
    """A started listing: its records and live counters for progress logs.

    Attributes:
        records: the hook's record iterator (nothing is requested before the first ``next``).
        pages: returns the pages received so far.
        stats: returns the hook's client counters (requests, retries, seconds paced).
    """

    records: Iterator[Record]
    pages: Callable[[], int]
    stats: Callable[[], ClientStats]


class ListingProgress:
    """Counts records as they stream; while :meth:`reporting`, logs a line every ``interval``.

    The line comes from a background thread, so a listing that reads many pages but passes few
    records on (Pack's client-side window) still shows progress.

    Args:
        what: what is listed, for the log lines ("Pack serial numbers").
        listing: the listing whose pages and client counters are reported.
        log: the task logger.
        interval: seconds between two progress lines.
        clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        what: str,
        listing: Listing,
        log: InfoLogger,
        *,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.listing = listing
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
        stats = self.listing.stats()
        return (
            f"{self.what}: {self.fetched:,} fetched, {self.kept:,} kept, "
            f"{self.listing.pages():,} pages, {stats.requests:,} requests, "
            f"{self.fetched / elapsed:,.0f} records/s, {stats.retries:,} retries, "
            f"{stats.paced_seconds:.1f} s paced, {elapsed:.1f} s elapsed"
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
        output_path: where to stream the records as JSON Lines (gzip when it ends in ``.gz``):
            a string or ``ObjectStoragePath`` on any scheme Airflow's object storage supports
            (``file:///data/serials/{{ ds }}.jsonl``, ``s3://aws_default@bucket/key.jsonl.gz``).
            The file is written under a temporary name and moved into place only after the
            whole listing succeeded. The task then returns the file's manifest
            (``path, records, bytes, format, watermark, window, fetched_at``). Mapped tasks need
            one file each: put ``{{ ti.map_index }}`` in the name. Without ``output_path`` the
            task returns the records themselves. Templated.
        max_xcom_records: the most records returned through XCom without ``output_path``
            (default 10,000); above it the task fails before pushing and says to set
            ``output_path``.
        kwargs: passed to :class:`~airflow.sdk.BaseOperator` (``task_id``, ``outlets``,
            ``pool``...).
    """

    template_fields: Sequence[str] = (
        "where",
        "select",
        "updated_since",
        "updated_before",
        "output_path",
    )
    template_fields_renderers = {"where": "json", "select": "json"}

    def __init__(
        self,
        *,
        where: Mapping[str, Any] | str | None = None,
        record_filter: RecordFilter | None = None,
        select: Sequence[str] | str | None = None,
        updated_since: Any = None,
        updated_before: Any = None,
        output_path: str | ObjectStoragePath | None = None,
        max_xcom_records: int | None = None,
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
    def open_listing(self, hook: HookT, arguments: Mapping[str, Any], window: Window) -> Listing:
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

        arguments = self.listing_arguments()
        window = Window.of(self.updated_since, self.updated_before)
        selection = self.record_selection(arguments)
        max_records = integer_argument(self.max_xcom_records, "max_xcom_records", minimum=0)
        watermark = Watermark()
        with closing(self.get_hook()) as hook:
            listing = self.open_listing(hook, arguments, window)
            self.log.info("Listing %s%s.", self.listing_name, self._describe_target(window))
            progress = ListingProgress(self.listing_name, listing, self.log)
            fetched = progress.count_fetched(listing.records, watermark.observe)
            records = progress.count_kept(selection.apply(fetched))
            try:
                with progress.reporting():
                    result = self._publish(records, window, watermark, max_records)
            finally:
                from airflow_provider_inventory._http.paging import close_iterator

                close_iterator(listing.records)  # stops a listing abandoned by an error
            self.log.info("Done. %s", progress.describe())
        if isinstance(result, list):
            self._annotate_outlets(context, records=len(result), path=None)
        else:
            self._annotate_outlets(context, records=result["records"], path=result["path"])
        return result

    def _publish(
        self,
        records: Iterator[Record],
        window: Window,
        watermark: Watermark,
        max_records: int | None,
    ) -> list[Record] | Manifest:
        """The records as a list for XCom, or the manifest of the file they were written to."""
        if self.output_path is None:
            return self._collect(records, max_records)
        return self._write_file(records, window, watermark)

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
        self, records: Iterator[Record], window: Window, watermark: Watermark
    ) -> Manifest:
        from airflow_provider_inventory._compat import ObjectStoragePath
        from airflow_provider_inventory.records import write_jsonl

        output_path = self.output_path
        if not isinstance(output_path, str | ObjectStoragePath):
            raise config_error(
                f"output_path must be a string or an ObjectStoragePath, got "
                f"{type(output_path).__name__}."
            )
        manifest = write_jsonl(records, output_path, window=window, watermark=watermark)
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

    def _describe_target(self, window: Window) -> str:
        since, before = window.as_strings()
        span = "" if window.is_open else f" updated in [{since or '...'}, {before or '...'})"
        if self.output_path is None:
            return f"{span} for XCom"
        from airflow_provider_inventory._http.redaction import redact_url

        return f"{span} into {redact_url(str(self.output_path))}"

    def _annotate_outlets(self, context: Context, *, records: int, path: str | None) -> None:
        """Put ``{"records", "path"}`` on the asset event of every ``Asset`` outlet."""
        from airflow_provider_inventory._compat import Asset

        assets = [outlet for outlet in self.outlets if isinstance(outlet, Asset)]
        events = context.get("outlet_events")
        if not assets or events is None:
            return
        for asset in assets:
            events[asset].extra.update({"records": records, "path": path})
