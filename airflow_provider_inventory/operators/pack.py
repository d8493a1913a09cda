"""``PackSerialNumbersOperator``: serial numbers from Pack, filtered, projected and published."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory import PACK_DEFAULT_CONN_ID
from airflow_provider_inventory.operators.base import (
    InventoryListOperator,
    integer_argument,
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
        kwargs: the shared listing arguments and :class:`~airflow.sdk.BaseOperator` arguments.
    """

    template_fields: Sequence[str] = (
        "pack_conn_id",
        "product_id",
        "stock_id",
        "code",
        "warehouse_id",
        "per_page",
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pack_conn_id = pack_conn_id
        self.product_id = product_id
        self.stock_id = stock_id
        self.code = code
        self.warehouse_id = warehouse_id
        self.per_page = per_page

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
        """The seven documented fields of a serial number."""
        return SERIAL_NUMBER_FIELDS

    def declared_columns(self, arguments: Mapping[str, Any]) -> Mapping[str, Column]:
        """Ids and codes as strings (``stock_id``, ``fulfillment_line_id`` nullable), the two
        timestamps as UTC timestamps."""
        from airflow_provider_inventory.records.columns import columns

        return columns(*SERIAL_NUMBER_TYPES)

    def lineage_dataset(self, hook: PackHook, arguments: Mapping[str, Any]) -> DatasetName:
        """``pack://{organization_id}`` / ``serial-numbers``."""
        from airflow_provider_inventory.assets import pack_dataset

        return pack_dataset(hook.organization_id)
