"""Commerce Layer operators: list any JSON:API resource, export one in bulk, or plan a
partitioned listing.

- :class:`CommerceLayerListOperator` lists a resource (``packages``, ``stock_locations``,
  ``skus``...), filters, projects and publishes it;
- :class:`CommerceLayerExportOperator` reads the same records through the Exports API
  (deferrable), for large sets at a sliver of the request budget;
- :class:`CommerceLayerPackagesOperator` is the same with ``resource="packages"``;
- :class:`CommerceLayerPartitionPlanOperator` splits a large listing into disjoint id ranges for
  dynamic task mapping.

Scaling out: plan ``n`` partitions, then map the list operator over them. Each mapped task lists
one id range and writes its own file; together the files hold exactly the unpartitioned listing::

    plan = CommerceLayerPartitionPlanOperator(task_id="plan", resource="packages", partitions=8)
    CommerceLayerPackagesOperator.partial(
        task_id="packages",
        output_path="s3://aws_default@bucket/packages/{{ ds }}/part-{{ ti.map_index }}.jsonl.gz",
        pool="commercelayer_api",
    ).expand(partition=plan.output)

The mapped tasks run wherever the executor puts them (CeleryExecutor workers,
KubernetesExecutor pods). Commerce Layer limits requests per client IP and organization; the
pacing needs no arithmetic from you:

- the processes of one host (every task instance, the triggerer's triggers) draw from one rate
  budget and share one access token, kept in small locked files in the host's cache directory
  (``INVENTORY_CACHE_DIR``, else ``[inventory] cache_dir``); the connection extra
  ``host_sharing: false`` or ``INVENTORY_HOST_SHARING=false`` keeps the budget per process;
- pacers on different hosts share nothing and need nothing: each follows the server's
  ``X-Ratelimit-Remaining``, slowing down when others spend the budget and on a 429;
- so leave the ``rate_limit_*`` extras unset (the advertised limits are adopted) or set them to
  the account's real limits, never divided by a pool's slots or the number of workers, and bound
  how many tasks run at once with an Airflow pool
  (``airflow pools set commercelayer_api 8 "Commerce Layer"``, then ``pool="commercelayer_api"``).

Within one task, ``max_workers`` parallelises with one shared pacer. The documentation's
"Scaling out and rate budgets" page has the details.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_inventory import COMMERCELAYER_DEFAULT_CONN_ID
from airflow_provider_inventory._compat import BaseOperator, conf
from airflow_provider_inventory.operators.base import (
    InventoryListOperator,
    config_error,
    integer_argument,
    mapping_argument,
    names_argument,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_inventory._http.stream import RecordStream
    from airflow_provider_inventory.assets import DatasetName
    from airflow_provider_inventory.hooks._commercelayer_exports import ExportState
    from airflow_provider_inventory.hooks._commercelayer_schema import ResourceSchema
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
    from airflow_provider_inventory.records import Column, ColumnKind, RecordSelection
    from airflow_provider_inventory.window import Window

#: Keys of every flattened record.
RECORD_KEYS = ("id", "type", "meta")
#: How the fields every resource has are stored in Parquet (name, kind, nullable): the
#: identity first, the record's attributes (typed by the bundled API schema) between, then these.
ColumnSpec = tuple[str, "ColumnKind", bool]
RESOURCE_IDENTITY_TYPES: tuple[ColumnSpec, ...] = (
    ("id", "string", False),
    ("type", "string", False),
)
RESOURCE_COMMON_TYPES: tuple[ColumnSpec, ...] = (
    ("created_at", "timestamp", False),
    ("updated_at", "timestamp", False),
    ("metadata", "json", True),
    ("meta", "json", True),
)

_FILTERS_EXAMPLE = "{'stock_location_code_eq': 'milan_wh'}"
_PARTITION_EXAMPLE = "{'id_gteq': 'AbCd', 'id_lt': 'MnOp'}"


def resource_schema(resource: str, schema_checks: bool = True) -> ResourceSchema | None:
    """The bundled API schema of ``resource``; ``None`` when checks are off or it is unknown."""
    if not schema_checks:
        return None
    from airflow_provider_inventory.hooks._commercelayer_schema import api_schema

    return api_schema().get(resource)


def flattened_fields(
    resource: str,
    fields: Sequence[str] | None,
    include: Sequence[str] | None,
    schema_checks: bool = True,
) -> frozenset[str] | None:
    """The keys the hook's flat records can have, or ``None`` when they are not known.

    A flat record is ``{"id", "type", **attributes, "meta"}`` plus, per relationship whose
    linkage came back (only included ones), ``<name>_id`` for a to-one relationship and the
    included record(s) under ``<name>``. With a sparse fieldset the attributes are those listed.

    Args:
        resource: the list resource.
        fields: the sparse fieldset, if any.
        include: the included relationship paths, if any.
        schema_checks: read the resource's attributes and relationships from the bundled API
            schema; ``False`` (names Commerce Layer added since) knows only what ``fields`` says.

    Returns:
        The known fields: exact for every resource of the bundled schema; otherwise derived from
        ``fields`` (a name may be an attribute or a relationship, so both ``name`` and
        ``name_id`` are allowed), or ``None`` without a fieldset.
    """
    included = {path.split(".", 1)[0] for path in include or ()}
    spec = resource_schema(resource, schema_checks)
    if spec is not None:
        known = spec.column_kinds()
        attributes = known if fields is None else [f for f in fields if f in known]
        related = included & set(spec.relationships)
        to_one = {f"{name}_id" for name in related if not spec.relationships[name].to_many}
        return frozenset({*RECORD_KEYS, *attributes, *related, *to_one})
    if fields is None:
        return None
    names = {*fields, *included}
    return frozenset({*RECORD_KEYS, *names, *(f"{name}_id" for name in names)})


def resource_columns(
    resource: str, include: Sequence[str] | None, schema_checks: bool = True
) -> dict[str, Column]:
    """The column types known for a flattened Commerce Layer record (Parquet, lineage).

    Every resource: ``id``/``type`` strings, ``created_at``/``updated_at`` UTC timestamps,
    ``metadata`` and the JSON:API ``meta`` as JSON text; each included relationship's
    ``<name>_id`` as a string and its included record(s) as JSON text. Every other attribute
    has the type the bundled API schema gives it (string, int64, float64, bool, timestamp;
    objects and arrays as JSON text), nullable, so no column's type depends on the values that
    happen to come first. Without the schema (``schema_checks=False`` or a resource it does not
    know) other attributes are inferred by the writer.
    """
    from airflow_provider_inventory.records.columns import columns

    spec = resource_schema(resource, schema_checks)
    common = {item[0] for item in (*RESOURCE_IDENTITY_TYPES, *RESOURCE_COMMON_TYPES)}
    kinds = spec.column_kinds() if spec is not None else {}
    attributes: list[ColumnSpec] = [
        (name, cast("ColumnKind", kind), True)
        for name, kind in sorted(kinds.items())
        if name not in common
    ]
    known = columns(*RESOURCE_IDENTITY_TYPES, *attributes, *RESOURCE_COMMON_TYPES)
    for name in sorted({path.split(".", 1)[0] for path in include or ()}):
        known.update(columns((f"{name}_id", "string"), (name, "json")))
    return known


def _split_names(value: str | list[Any] | None) -> list[str] | None:
    """Names from a list or a comma-separated string (as the hook accepts them)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() if isinstance(item, str) else item for item in items]


class CommerceLayerListOperator(InventoryListOperator["CommerceLayerHook"]):
    """List a Commerce Layer resource, keep the records you want, return them or write a file.

    Server-side options (``filters``, ``sort``, ``fields``, ``include``, the window) narrow what
    Commerce Layer sends; ``where`` / ``record_filter`` / ``select`` then work on the flattened
    records (``{"id", "type", **attributes, "meta", "<relationship>_id"}`` with included records
    under the relationship's name, e.g. ``record["stock_location"]["name"]``). See
    :class:`~airflow_provider_inventory.operators.base.InventoryListOperator` for ``where``,
    ``record_filter``, ``select``, ``updated_since``, ``updated_before``, ``output_path`` and
    ``max_xcom_records``; the window is applied server-side (``updated_at_gteq`` /
    ``updated_at_lt``).

    Example, the packages of one stock location with their stock location, by XCom::

        CommerceLayerListOperator(
            task_id="packages",
            resource="packages",
            filters={"stock_location_code_eq": "{{ params.stock_location_code }}"},
            fields=["name", "code", "length", "width", "height", "unit_of_length"],
            include=["stock_location"],
        )

    Args:
        resource: the list resource (``packages``, ``stock_locations``, ``skus``...). Templated.
        commercelayer_conn_id: the Commerce Layer connection. Templated.
        filters: ``{attribute(s)}_{predicate}`` -> value, sent as ``filter[q][...]``
            (``{"name_start": "Large", "stock_location_code_eq": "milan_wh"}``). Templated.
        sort: ``"-created_at,code"`` or a list; default: by id with keyset paging (consistent
            while records change). Templated.
        fields: sparse fieldset (attribute names); included relationships are added to it.
            ``where``/``select`` may only name fields it keeps. Templated.
        include: relationships to include (dot paths for nested). Templated.
        page_size: records per request, 1 to 25 (default 25). Templated.
        max_workers: list this many id ranges in parallel within the task (needs the default
            order; default 1). Templated.
        partition: one spec from :class:`CommerceLayerPartitionPlanOperator` (or
            ``CommerceLayerHook.plan_partitions``): list only that id range; for
            ``.expand(partition=...)``. Templated.
        schema_checks: check ``resource``, ``filters``, ``sort``, ``fields`` and ``include``
            against the API schema bundled with the provider before anything is sent (default),
            and type every column from it. ``False`` sends names Commerce Layer added after the
            bundled schema; ``where``/``select`` names are then checked only against ``fields``.
        kwargs: the shared listing arguments and :class:`~airflow.sdk.BaseOperator` arguments.
    """

    template_fields: Sequence[str] = (
        "commercelayer_conn_id",
        "resource",
        "filters",
        "sort",
        "fields",
        "include",
        "page_size",
        "max_workers",
        "partition",
        *InventoryListOperator.template_fields,
    )
    template_fields_renderers = {
        **InventoryListOperator.template_fields_renderers,
        "filters": "json",
        "partition": "json",
    }
    ui_color = "#ece4f7"

    def __init__(
        self,
        *,
        resource: str,
        commercelayer_conn_id: str = COMMERCELAYER_DEFAULT_CONN_ID,
        filters: Mapping[str, Any] | str | None = None,
        sort: str | Sequence[str] | None = None,
        fields: str | Sequence[str] | None = None,
        include: str | Sequence[str] | None = None,
        page_size: int | str | None = None,
        max_workers: int | str | None = None,
        partition: Mapping[str, Any] | str | None = None,
        schema_checks: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.commercelayer_conn_id = commercelayer_conn_id
        self.schema_checks = schema_checks
        self.filters = filters
        self.sort = sort
        self.fields = fields
        self.include = include
        self.page_size = page_size
        self.max_workers = max_workers
        self.partition = partition

    @property
    def listing_name(self) -> str:
        """``Commerce Layer <resource>``, for log lines."""
        return f"Commerce Layer {self.resource}"

    def listing_arguments(self) -> dict[str, Any]:
        """The server-side options, normalised for ``CommerceLayerHook.iter_resources``.

        Raises:
            InventoryConfigError: an argument has the wrong type (the hook checks the values).
        """
        if not isinstance(self.resource, str) or not self.resource.strip():
            raise config_error(
                f"resource must name a Commerce Layer list resource such as 'packages', got "
                f"{self.resource!r}."
            )
        arguments: dict[str, Any] = {
            "resource": self.resource.strip(),
            "filters": mapping_argument(self.filters, "filters", _FILTERS_EXAMPLE),
            "sort": names_argument(self.sort, "sort"),
            "fields": _split_names(names_argument(self.fields, "fields")),
            "include": _split_names(names_argument(self.include, "include")),
            "partition": mapping_argument(self.partition, "partition", _PARTITION_EXAMPLE),
        }
        # None keeps the hook's defaults (25 per page, one worker).
        for name in ("page_size", "max_workers"):
            number = integer_argument(getattr(self, name), name)
            if number is not None:
                arguments[name] = number
        return arguments

    def get_hook(self) -> CommerceLayerHook:
        """A new ``CommerceLayerHook`` for ``commercelayer_conn_id``."""
        from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

        return CommerceLayerHook(
            commercelayer_conn_id=self.commercelayer_conn_id, schema_checks=self.schema_checks
        )

    def open_listing(
        self, hook: CommerceLayerHook, arguments: Mapping[str, Any], window: Window
    ) -> RecordStream:
        """Start ``iter_resources`` (flattened) with the window sent as ``updated_at`` filters."""
        return hook.iter_resources(
            **arguments, updated_since=window.since, updated_before=window.before
        )

    def known_fields(self, arguments: Mapping[str, Any]) -> Collection[str] | None:
        """See :func:`flattened_fields`."""
        return flattened_fields(
            arguments["resource"], arguments["fields"], arguments["include"], self.schema_checks
        )

    def declared_columns(self, arguments: Mapping[str, Any]) -> Mapping[str, Column]:
        """See :func:`resource_columns`."""
        return resource_columns(arguments["resource"], arguments["include"], self.schema_checks)

    def lineage_dataset(self, hook: CommerceLayerHook, arguments: Mapping[str, Any]) -> DatasetName:
        """``commercelayer://{slug}`` / ``{resource}``."""
        from airflow_provider_inventory.assets import commercelayer_dataset, commercelayer_slug

        return commercelayer_dataset(commercelayer_slug(hook.api_url), arguments["resource"])

    def record_selection(self, arguments: Mapping[str, Any]) -> RecordSelection:
        """As in the base class; naming a relationship field that is not included gets a hint."""
        from airflow_provider_inventory.exceptions import InventoryConfigError

        try:
            return super().record_selection(arguments)
        except InventoryConfigError as error:
            relationship = self._missing_relationship(arguments)
            if relationship is None:
                raise
            raise InventoryConfigError(
                f"{error} Relationship fields ({relationship}_id, {relationship}.<field>) come "
                f"back only for included relationships: add include=[{relationship!r}]."
            ) from None

    def _missing_relationship(self, arguments: Mapping[str, Any]) -> str | None:
        """A relationship that ``where``/``select`` name but ``include`` leaves out."""
        spec = resource_schema(arguments["resource"], self.schema_checks)
        if spec is None:
            return None
        where = mapping_argument(self.where, "where", "{}") or {}
        selected = _split_names(names_argument(self.select, "select")) or []
        named = [name for name in (*where, *selected) if isinstance(name, str)]
        included = {path.split(".", 1)[0] for path in arguments["include"] or ()}
        for relationship in sorted(set(spec.relationships) - included):
            prefixes = (f"{relationship}_id", f"{relationship}.")
            if any(name == relationship or name.startswith(prefixes) for name in named):
                return relationship
        return None


class CommerceLayerExportOperator(InventoryListOperator["CommerceLayerHook"]):
    """Read a Commerce Layer resource in bulk through its Exports API, then filter, select and
    publish the records exactly as :class:`CommerceLayerListOperator` does.

    Use it for large sets: a paged listing costs one request per 25 records from the client
    IP's shared budget (100,000 shipments: 4,000 requests, 20 minutes of the uncacheable
    budget); an export of the same set costs a few dozen. The set is split into disjoint id
    ranges of at most ``chunk_size`` records, one export each, at most ``max_concurrent`` in
    progress at once.

    Deferrable by default when ``[operators] default_deferrable`` is set: the worker plans the
    exports, creates the first ones and defers; the triggerer polls them
    (:class:`~airflow_provider_inventory.triggers.commercelayer.CommerceLayerExportTrigger`)
    and starts the others as slots free; the task resumes on a worker to download, parse and
    publish. ``deferrable=False`` polls on the worker.

    Retries are idempotent: every export carries a deterministic ``reference`` built from the
    DAG, run, task, map index and chunk, so a retried or resumed task takes over its exports
    still running or completed instead of creating new ones. Completed exports are deleted
    once downloaded (unless ``keep_exports``); exports still running when the task fails are
    interrupted.

    Records are those of ``CommerceLayerHook.iter_export`` (see there for how they differ from
    a listing's: ``meta`` is ``None``; to-one relationship ids come without ``include``).

    Example, last interval's shipments into Parquet::

        CommerceLayerExportOperator(
            task_id="shipments",
            resource="shipments",
            filters={"status_in": ["shipped", "delivered"]},
            updated_since="{{ data_interval_start }}",
            updated_before="{{ data_interval_end }}",
            output_path="s3://aws_default@bucket/shipments/{{ ds }}.parquet",
        )

    Args:
        resource: the resource type (``shipments``, ``stock_items``, ``skus``...). Templated.
        commercelayer_conn_id: the Commerce Layer connection. Templated.
        filters: ``{attribute(s)}_{predicate}`` -> value, as for the list operator. Templated.
        fields: the attributes to export (default all). Templated.
        include: relationships to nest in each record. Templated.
        chunk_size: records per export, 1 to 10,000 (default 5,000). Templated.
        max_concurrent: exports in progress at once, 1 to 10 (default 4). Templated.
        deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
        poll_interval: the shortest wait between polls, seconds (default 5); polls are spaced
            further by the exports' ``estimated_completion_at``. Templated.
        export_timeout: seconds the exports may take to complete (default 3600); then they
            are interrupted and the task fails naming them. Templated.
        keep_exports: keep completed exports and their files after the download.
        kwargs: the shared listing arguments (``where``, ``select``, ``updated_since``,
            ``updated_before``, ``output_path``, ``max_xcom_records``) and
            :class:`~airflow.sdk.BaseOperator` arguments.
    """

    template_fields: Sequence[str] = (
        "commercelayer_conn_id",
        "resource",
        "filters",
        "fields",
        "include",
        "chunk_size",
        "max_concurrent",
        "poll_interval",
        "export_timeout",
        *InventoryListOperator.template_fields,
    )
    template_fields_renderers = {
        **InventoryListOperator.template_fields_renderers,
        "filters": "json",
    }
    ui_color = "#e4dcf2"

    def __init__(
        self,
        *,
        resource: str,
        commercelayer_conn_id: str = COMMERCELAYER_DEFAULT_CONN_ID,
        filters: Mapping[str, Any] | str | None = None,
        fields: str | Sequence[str] | None = None,
        include: str | Sequence[str] | None = None,
        chunk_size: int | str | None = None,
        max_concurrent: int | str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str = 5.0,
        export_timeout: float | str = 3600.0,
        keep_exports: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.commercelayer_conn_id = commercelayer_conn_id
        self.filters = filters
        self.fields = fields
        self.include = include
        self.chunk_size = chunk_size
        self.max_concurrent = max_concurrent
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.export_timeout = export_timeout
        self.keep_exports = keep_exports
        self._owner: str | None = None
        self._completed: list[ExportState] | None = None

    @property
    def listing_name(self) -> str:
        """``Commerce Layer <resource> export``, for log lines."""
        return f"Commerce Layer {self.resource} export"

    def listing_arguments(self) -> dict[str, Any]:
        """The rendered arguments, normalised for ``CommerceLayerHook.iter_export``.

        Raises:
            InventoryConfigError: an argument has the wrong type (the hook checks the values).
        """
        if not isinstance(self.resource, str) or not self.resource.strip():
            raise config_error(
                f"resource must name a Commerce Layer resource such as 'shipments', got "
                f"{self.resource!r}."
            )
        arguments: dict[str, Any] = {
            "resource": self.resource.strip(),
            "filters": mapping_argument(self.filters, "filters", _FILTERS_EXAMPLE),
            "fields": _split_names(names_argument(self.fields, "fields")),
            "include": _split_names(names_argument(self.include, "include")),
            "poll_interval": _seconds_argument(self.poll_interval, "poll_interval") or 5.0,
            "export_timeout": _seconds_argument(self.export_timeout, "export_timeout"),
        }
        from airflow_provider_inventory.hooks._commercelayer_exports import (
            checked_chunk_size,
            checked_concurrency,
        )

        for name, check in (
            ("chunk_size", checked_chunk_size),
            ("max_concurrent", checked_concurrency),
        ):
            number = integer_argument(getattr(self, name), name)
            if number is not None:
                arguments[name] = check(number)
        return arguments

    def get_hook(self) -> CommerceLayerHook:
        """A new ``CommerceLayerHook`` for ``commercelayer_conn_id``."""
        from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

        return CommerceLayerHook(commercelayer_conn_id=self.commercelayer_conn_id)

    def known_fields(self, arguments: Mapping[str, Any]) -> Collection[str] | None:
        """The fields of the export's records when ``fields`` names them, else unknown."""
        if arguments["fields"] is None:
            return None
        return flattened_fields("", arguments["fields"], arguments["include"])

    def declared_columns(self, arguments: Mapping[str, Any]) -> Mapping[str, Column]:
        """See :func:`resource_columns`."""
        return resource_columns(arguments["resource"], arguments["include"])

    def lineage_dataset(self, hook: CommerceLayerHook, arguments: Mapping[str, Any]) -> DatasetName:
        """``commercelayer://{slug}`` / ``{resource}``."""
        from airflow_provider_inventory.assets import commercelayer_dataset, commercelayer_slug

        return commercelayer_dataset(commercelayer_slug(hook.api_url), arguments["resource"])

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> Any:
        """Export and publish; deferrable, the worker only plans and starts the exports.

        Returns:
            The records or the manifest (see
            :meth:`~airflow_provider_inventory.operators.base.InventoryListOperator.execute`).

        Raises:
            InventoryConfigError: an argument is invalid (before any request), or the resource
                is not exportable.
            ExportError: an export failed, got stuck, or its file is inconsistent.
        """
        self._owner = task_reference(context)
        if not self.deferrable:
            return super().execute(context)
        arguments = self.listing_arguments()
        self.record_selection(arguments)  # bad where/select fail before any request
        self.output_target(arguments)
        completed = self._start_and_defer(arguments)
        return self.execute_complete(context, {"status": "success", "exports": completed})

    def _start_and_defer(self, arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Plan, create the first exports and defer; return the completed exports instead when
        every one is done already (a small set, or a retry that takes over finished exports)."""
        import time

        from airflow_provider_inventory.triggers.commercelayer import CommerceLayerExportTrigger
        from airflow_provider_inventory.window import Window

        window = Window.of(self.updated_since, self.updated_before)
        options = {k: arguments[k] for k in ("filters", "fields", "include")}
        if "chunk_size" in arguments:
            options["chunk_size"] = arguments["chunk_size"]
        concurrency = arguments.get("max_concurrent", 4)
        assert self._owner is not None
        with self.get_hook() as hook:
            plan = hook.plan_export(  # creates nothing
                arguments["resource"],
                reference=self._owner,
                updated_since=window.since,
                updated_before=window.before,
                **options,
            )
            try:
                round_ = hook.advance_exports(
                    plan, concurrency, poll_interval=arguments["poll_interval"]
                )
            except BaseException:
                hook.interrupt_exports(self._owner)
                raise
        if round_.done:
            return [e.to_json() for e in round_.completed()]
        timeout = arguments["export_timeout"]
        self.log.info(
            "Started %d of %d export(s) of %s; deferring until they complete.",
            len(round_.running),
            len(plan.chunks),
            plan.resource,
        )
        self.defer(
            trigger=CommerceLayerExportTrigger(
                plan=plan.to_json(),
                max_concurrent=concurrency,
                commercelayer_conn_id=self.commercelayer_conn_id,
                poll_interval=arguments["poll_interval"],
                end_time=None if timeout is None else time.time() + timeout,
                empty=round_.empty,
            ),
            method_name="execute_complete",
        )
        raise AssertionError("defer() returned")  # pragma: no cover: defer always raises

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume after the trigger: download, parse and publish the completed exports.

        Raises:
            ExportError: the trigger reported a failure or a timeout (the exports still
                running are interrupted first).
        """
        from airflow_provider_inventory.exceptions import ExportError
        from airflow_provider_inventory.hooks._commercelayer_exports import ExportState

        self._owner = task_reference(context)
        if event.get("status") != "success":
            with self.get_hook() as hook:
                hook.interrupt_exports(self._owner)
            if event.get("error_type") == "InventoryConfigError":
                raise config_error(str(event.get("message")))
            raise ExportError(str(event.get("message") or event))
        self._completed = [ExportState.from_json(e) for e in event.get("exports") or []]
        return InventoryListOperator.execute(self, context)

    def open_listing(
        self, hook: CommerceLayerHook, arguments: Mapping[str, Any], window: Window
    ) -> RecordStream:
        """The completed exports' records (after deferral), or the whole export on the worker."""
        if self._completed is not None:
            return hook.export_records(
                self._completed, resource=arguments["resource"], keep_exports=self.keep_exports
            )
        return hook.iter_export(
            **arguments,
            updated_since=window.since,
            updated_before=window.before,
            reference=self._owner,
            keep_exports=self.keep_exports,
        )

    def on_kill(self) -> None:
        """Interrupt this task's exports still running."""
        if self._owner is None:
            return
        with self.get_hook() as hook:
            hook.interrupt_exports(self._owner)


def task_reference(context: Context) -> str:
    """The export reference prefix of a task instance: digest of DAG, run, task, map index."""
    from airflow_provider_inventory.hooks._commercelayer_exports import owner_reference

    ti = context["ti"]
    return owner_reference(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))


def _seconds_argument(value: Any, name: str) -> float | None:
    """A positive number of seconds that may arrive as rendered text (``None``: no limit)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise config_error(f"{name} must be a positive number of seconds, got {value!r}.")
    return seconds


class CommerceLayerPackagesOperator(CommerceLayerListOperator):
    """:class:`CommerceLayerListOperator` for ``packages`` (every other argument is the same)."""

    def __init__(self, **kwargs: Any) -> None:
        if "resource" in kwargs:
            raise config_error(
                "CommerceLayerPackagesOperator always lists packages; drop resource=, or use "
                "CommerceLayerListOperator for another resource."
            )
        super().__init__(resource="packages", **kwargs)


class CommerceLayerPartitionPlanOperator(BaseOperator):
    """Split a Commerce Layer listing into disjoint id ranges for dynamic task mapping.

    Returns (as XCom) a list of at most ``partitions`` specs ``{"id_gteq": ..., "id_lt": ...}``
    that cover the whole id space; mapped :class:`CommerceLayerListOperator` tasks list one each
    with ``.expand(partition=plan.output)``, and together list exactly what one unpartitioned
    listing would, even if records change meanwhile. The split points come from a few one-record
    requests; ``filters`` and the window only balance the ranges.

    Args:
        resource: the list resource. Templated.
        partitions: how many ranges (1 to 1000); fewer come back for small sets. Templated.
        commercelayer_conn_id: the Commerce Layer connection. Templated.
        filters: the filters of the listing to balance for. Templated.
        updated_since: the window start of the listing to balance for. Templated.
        updated_before: the window end of the listing to balance for. Templated.
        schema_checks: as for :class:`CommerceLayerListOperator`.
        kwargs: :class:`~airflow.sdk.BaseOperator` arguments.
    """

    template_fields: Sequence[str] = (
        "commercelayer_conn_id",
        "resource",
        "partitions",
        "filters",
        "updated_since",
        "updated_before",
    )
    template_fields_renderers = {"filters": "json"}
    ui_color = "#ece4f7"

    def __init__(
        self,
        *,
        resource: str,
        partitions: int | str,
        commercelayer_conn_id: str = COMMERCELAYER_DEFAULT_CONN_ID,
        filters: Mapping[str, Any] | str | None = None,
        updated_since: Any = None,
        updated_before: Any = None,
        schema_checks: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.partitions = partitions
        self.schema_checks = schema_checks
        self.commercelayer_conn_id = commercelayer_conn_id
        self.filters = filters
        self.updated_since = updated_since
        self.updated_before = updated_before

    def execute(self, context: Context) -> list[dict[str, str | None]]:
        """Plan the partitions.

        Returns:
            The partition specs, in id order.

        Raises:
            InventoryConfigError: an argument is invalid.
            InventoryApiError: a planning request failed.
        """
        from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
        from airflow_provider_inventory.window import Window

        partitions = integer_argument(self.partitions, "partitions")
        if partitions is None:
            raise config_error("partitions is required: how many id ranges to plan (1 to 1000).")
        window = Window.of(self.updated_since, self.updated_before)
        filters = mapping_argument(self.filters, "filters", _FILTERS_EXAMPLE)
        with CommerceLayerHook(
            commercelayer_conn_id=self.commercelayer_conn_id, schema_checks=self.schema_checks
        ) as hook:
            plan = hook.plan_partitions(
                self.resource,
                partitions,
                filters=filters,
                updated_since=window.since,
                updated_before=window.before,
            )
        self.log.info("Planned %d partition(s) of Commerce Layer %s.", len(plan), self.resource)
        return plan
