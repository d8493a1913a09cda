"""Commerce Layer operators: list any JSON:API resource, or plan a partitioned listing.

- :class:`CommerceLayerListOperator` lists a resource (``packages``, ``stock_locations``,
  ``skus``...), filters, projects and publishes it;
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
from airflow_provider_inventory._compat import BaseOperator
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
