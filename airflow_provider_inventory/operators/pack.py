"""Pack listing operators: serial numbers (``PackSerialNumbersOperator``) and any documented
list resource (``PackListOperator``), filtered, projected and published."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory import PACK_DEFAULT_CONN_ID
from airflow_provider_inventory.operators.base import (
    InventoryListOperator,
    integer_argument,
    mapping_argument,
    names_argument,
)

if TYPE_CHECKING:
    from airflow_provider_inventory._http.stream import RecordStream
    from airflow_provider_inventory.assets import DatasetName
    from airflow_provider_inventory.hooks.pack import PackHook
    from airflow_provider_inventory.records import Column, ColumnKind
    from airflow_provider_inventory.window import Window

#: The fields of a Pack serial number (REST API v1).
SERIAL_NUMBER_FIELDS = (
    "id",
    "product_id",
    "stock_id",
    "fulfillment_line_id",
    "code",
    "created_at",
    "updated_at",
)
#: How each field is stored in Parquet, and whether the API reference says it may be null.
SERIAL_NUMBER_TYPES: tuple[tuple[str, ColumnKind, bool], ...] = (
    ("id", "string", False),
    ("product_id", "string", False),
    ("stock_id", "string", True),
    ("fulfillment_line_id", "string", True),
    ("code", "string", False),
    ("created_at", "timestamp", False),
    ("updated_at", "timestamp", False),
)


class PackSerialNumbersOperator(InventoryListOperator["PackHook"]):
    """List Pack serial numbers, keep the ones you want, return them or write them to a file.

    Server-side filters narrow what Pack sends; ``where`` / ``record_filter`` / ``select`` then
    work on the records in the worker, and the result is published by XCom or as a JSON Lines
    file (see :class:`~airflow_provider_inventory.operators.base.InventoryListOperator` for
    ``where``, ``record_filter``, ``select``, ``updated_since``, ``updated_before``,
    ``output_path`` and ``max_xcom_records``). Pack has no server-side date filter: the window is
    applied to ``updated_at`` as the records stream by, so every page of the listing is read.

    Example, daily incremental, unshipped serial numbers of one product to a file::

        PackSerialNumbersOperator(
            task_id="unshipped_serial_numbers",
            product_id="prod_123",
            updated_since="{{ data_interval_start }}",
            updated_before="{{ data_interval_end }}",
            where={"fulfillment_line_id": None},
            output_path="file:///data/pack/unshipped/{{ ds }}.jsonl.gz",
        )

    To scale out, map over products; each mapped task writes its own file::

        PackSerialNumbersOperator.partial(
            task_id="serial_numbers",
            output_path="s3://aws_default@bucket/serials/{{ ds }}/{{ ti.map_index }}.jsonl.gz",
            pool="pack_api",
        ).expand(product_id=["prod_1", "prod_2", "prod_3"])

    Args:
        pack_conn_id: the Pack connection. Templated.
        product_id: ``filter[product_id]``: one id, or a list (one listing per id, merged
            without duplicates). Templated.
        stock_id: ``filter[stock_id]``: one id or a list. Templated.
        code: ``filter[code]``: one serial number or a list. Templated.
        warehouse_id: list through ``/v1/warehouses/{warehouse_id}/products/{product_id}/
            serial-numbers`` (needs ``product_id``). Templated.
        per_page: records per page (the server's default when ``None``). Templated.
        max_workers: list several filter values on up to this many threads (1 to 16), on the
            connection's rate pacer. Templated.
        expand: ``["product", "stock"]`` (either or both) adds each serial number's product and
            stock records as ``product`` / ``stock`` (JSON columns in Parquet), each fetched
            once per listing. ``where`` and ``select`` reach into them with dotted paths
            (``"product.name"``). Templated.
        kwargs: the shared listing arguments and :class:`~airflow.sdk.BaseOperator` arguments.
    """

    template_fields: Sequence[str] = (
        "pack_conn_id",
        "product_id",
        "stock_id",
        "code",
        "warehouse_id",
        "per_page",
        "max_workers",
        "expand",
        *InventoryListOperator.template_fields,
    )
    ui_color = "#e3f2e1"

    def __init__(
        self,
        *,
        pack_conn_id: str = PACK_DEFAULT_CONN_ID,
        product_id: str | Sequence[str] | None = None,
        stock_id: str | Sequence[str] | None = None,
        code: str | Sequence[str] | None = None,
        warehouse_id: str | None = None,
        per_page: int | str | None = None,
        max_workers: int | str = 1,
        expand: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pack_conn_id = pack_conn_id
        self.product_id = product_id
        self.stock_id = stock_id
        self.code = code
        self.warehouse_id = warehouse_id
        self.per_page = per_page
        self.max_workers = max_workers
        self.expand = expand

    @property
    def listing_name(self) -> str:
        """``Pack serial numbers``, for log lines."""
        return "Pack serial numbers"

    def listing_arguments(self) -> dict[str, Any]:
        """The server-side filters and page size, normalised for ``PackHook.iter_serial_numbers``.

        Raises:
            InventoryConfigError: an argument is not a string, a list or a whole number as
                documented.
        """
        return {
            "product_id": names_argument(self.product_id, "product_id"),
            "stock_id": names_argument(self.stock_id, "stock_id"),
            "code": names_argument(self.code, "code"),
            "warehouse_id": names_argument(self.warehouse_id, "warehouse_id"),
            "per_page": integer_argument(self.per_page, "per_page"),
            "max_workers": integer_argument(self.max_workers, "max_workers") or 1,
            "expand": _expand_argument(self.expand),
        }

    def get_hook(self) -> PackHook:
        """A new :class:`~airflow_provider_inventory.hooks.pack.PackHook` for ``pack_conn_id``."""
        from airflow_provider_inventory.hooks.pack import PackHook

        return PackHook(pack_conn_id=self.pack_conn_id)

    def open_listing(
        self, hook: PackHook, arguments: Mapping[str, Any], window: Window
    ) -> RecordStream:
        """Start ``iter_serial_numbers`` with the window applied to ``updated_at``."""
        return hook.iter_serial_numbers(
            **arguments, updated_since=window.since, updated_before=window.before
        )

    def known_fields(self, arguments: Mapping[str, Any]) -> Collection[str]:
        """The seven documented fields of a serial number, and the expanded ones."""
        return (*SERIAL_NUMBER_FIELDS, *(arguments.get("expand") or ()))

    def declared_columns(self, arguments: Mapping[str, Any]) -> Mapping[str, Column]:
        """Ids and codes as strings (``stock_id``, ``fulfillment_line_id`` nullable), the two
        timestamps as UTC timestamps; expanded records as JSON."""
        from airflow_provider_inventory.records.columns import Column, columns

        declared = columns(*SERIAL_NUMBER_TYPES)
        for name in arguments.get("expand") or ():
            declared[name] = Column(name, "json", True)
        return declared

    def lineage_dataset(self, hook: PackHook, arguments: Mapping[str, Any]) -> DatasetName:
        """``pack://{organization_id}`` / ``serial-numbers``."""
        from airflow_provider_inventory.assets import pack_dataset

        return pack_dataset(hook.organization_id, "serial-numbers")


def _expand_argument(value: Any) -> list[str] | None:
    """``expand`` as a list (a rendered list, a comma-separated string, or a list)."""
    names = names_argument(value, "expand")
    if isinstance(names, str):
        return [name.strip() for name in names.split(",") if name.strip()]
    return names


class PackListOperator(InventoryListOperator["PackHook"]):
    """List any documented Pack resource, keep the records you want, return or write them.

    The resources, their filters, includes and sorts are those Pack documents (see
    ``docs/pack-resources.md``): organization ``serial-numbers``, ``products``, ``stocks``,
    ``product-warehouses``, ``fulfillments``, ``shipping-services``; with ``warehouse_id``, the
    warehouse endpoints of ``serial-numbers`` (per product), ``products`` and ``fulfillments``.
    Everything else is as for :class:`PackSerialNumbersOperator` (``where``, ``record_filter``,
    ``select``, the window, ``output_path`` in JSON Lines or Parquet with each resource's
    documented column types, and OpenLineage ``pack://{organization_id}`` / ``{resource}``).

    Example, the shipped fulfillments with their lines and serial numbers, to Parquet::

        PackListOperator(
            task_id="shipped_fulfillments",
            resource="fulfillments",
            filters={"status": "shipped"},
            include=["lines", "lines.serial_numbers"],
            updated_since="{{ data_interval_start }}",
            updated_before="{{ data_interval_end }}",
            output_path="s3://aws_default@bucket/pack/fulfillments/{{ ds }}.parquet",
        )

    Args:
        resource: the Pack resource, e.g. ``"products"`` (checked when the task runs, before
            any request). Templated.
        pack_conn_id: the Pack connection. Templated.
        filters: ``{name: value or list of values}``, sent as ``filter[name]``; a list runs one
            listing per value, merged without repeats. Templated (rendered text is parsed).
        include: related records to nest in each record (list or comma-separated). Templated.
        sort: sort keys, ``-`` for descending (list or comma-separated). Templated.
        query: free-text search where documented (products). Templated.
        warehouse_id: list through ``/v1/warehouses/{warehouse_id}/...``. Templated.
        per_page: records per page (the server's default when ``None``). Templated.
        max_workers: list several filter values on up to this many threads (1 to 16), on the
            connection's rate pacer. Templated.
        allow_undocumented: send filters, includes and sorts Pack does not document (yet)
            instead of refusing them.
        kwargs: the shared listing arguments and :class:`~airflow.sdk.BaseOperator` arguments.
    """

    template_fields: Sequence[str] = (
        "resource",
        "pack_conn_id",
        "filters",
        "include",
        "sort",
        "query",
        "warehouse_id",
        "per_page",
        "max_workers",
        *InventoryListOperator.template_fields,
    )
    template_fields_renderers = {
        **InventoryListOperator.template_fields_renderers,
        "filters": "json",
    }
    ui_color = "#e3f2e1"

    def __init__(
        self,
        *,
        resource: str,
        pack_conn_id: str = PACK_DEFAULT_CONN_ID,
        filters: Mapping[str, Any] | str | None = None,
        include: Sequence[str] | str | None = None,
        sort: Sequence[str] | str | None = None,
        query: str | None = None,
        warehouse_id: str | None = None,
        per_page: int | str | None = None,
        max_workers: int | str = 1,
        allow_undocumented: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.pack_conn_id = pack_conn_id
        self.filters = filters
        self.include = include
        self.sort = sort
        self.query = query
        self.warehouse_id = warehouse_id
        self.per_page = per_page
        self.max_workers = max_workers
        self.allow_undocumented = allow_undocumented
        self._table_columns: Mapping[str, Column] | None = None

    @property
    def listing_name(self) -> str:
        """``Pack products``..., for log lines."""
        return f"Pack {str(self.resource).replace('-', ' ')}"

    def listing_arguments(self) -> dict[str, Any]:
        """The rendered arguments, normalised for ``PackHook.iter_resources``; the resource,
        filters, includes and sorts are checked against what Pack documents.

        Raises:
            InventoryConfigError: naming the argument and the allowed values.
        """
        from airflow_provider_inventory.hooks._pack_resources import plan_listings, resource_for

        warehouse_id = names_argument(self.warehouse_id, "warehouse_id")
        warehouse = warehouse_id if isinstance(warehouse_id, str) else None
        filters = mapping_argument(self.filters, "filters", "{'status': 'shipped'}")
        include = names_argument(self.include, "include")
        sort = names_argument(self.sort, "sort")
        query = self.query or None
        allow_undocumented = bool(self.allow_undocumented)
        table = resource_for(self.resource, warehouse)
        plan = plan_listings(
            table,
            organization_id="-",
            warehouse_id=warehouse,
            filters=filters,
            include=include,
            sort=sort,
            query=query,
            paging={},
            allow_undocumented=allow_undocumented,
        )
        arguments = {
            "filters": filters,
            "include": include,
            "sort": sort,
            "query": query,
            "warehouse_id": warehouse_id,
            "per_page": integer_argument(self.per_page, "per_page"),
            "max_workers": integer_argument(self.max_workers, "max_workers") or 1,
            "allow_undocumented": allow_undocumented,
        }
        self._table_columns = table.columns(plan.includes)
        return arguments

    def get_hook(self) -> PackHook:
        """A new :class:`~airflow_provider_inventory.hooks.pack.PackHook` for ``pack_conn_id``."""
        from airflow_provider_inventory.hooks.pack import PackHook

        return PackHook(pack_conn_id=self.pack_conn_id)

    def open_listing(
        self, hook: PackHook, arguments: Mapping[str, Any], window: Window
    ) -> RecordStream:
        """Start ``iter_resources`` with the window applied to ``updated_at``."""
        return hook.iter_resources(
            self.resource, **arguments, updated_since=window.since, updated_before=window.before
        )

    def known_fields(self, arguments: Mapping[str, Any]) -> Collection[str] | None:
        """The documented fields of the resource and the included ones; ``None`` (unchecked)
        with ``allow_undocumented``, since new values may bring new fields."""
        if arguments.get("allow_undocumented"):
            return None
        return tuple(self._columns(arguments))

    def declared_columns(self, arguments: Mapping[str, Any]) -> Mapping[str, Column]:
        """The resource's documented column types, and one JSON column per include."""
        return self._columns(arguments)

    def _columns(self, arguments: Mapping[str, Any]) -> Mapping[str, Column]:
        from airflow_provider_inventory.hooks._pack_resources import resource_for

        columns = self._table_columns
        if columns is None:
            warehouse_id = arguments.get("warehouse_id")
            table = resource_for(self.resource, warehouse_id)
            columns = self._table_columns = table.columns(_names(arguments.get("include")))
        return columns

    def lineage_dataset(self, hook: PackHook, arguments: Mapping[str, Any]) -> DatasetName:
        """``pack://{organization_id}`` / ``{resource}``."""
        from airflow_provider_inventory.assets import pack_dataset

        return pack_dataset(hook.organization_id, self.resource)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return list(value)
