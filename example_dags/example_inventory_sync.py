"""Both APIs in one DAG: the day's shipped serial numbers beside the shipping location's packages.

Every day:

- ``shipped_serial_numbers`` lists the Pack serial numbers updated in the data interval and keeps
  the shipped ones (those with a ``fulfillment_line_id``; a ``record_filter``, since ``where``
  only says "equals" or "is null"), written to a JSON Lines file;
- ``shipping_location_packages`` lists the Commerce Layer package catalogue of the shipping stock
  location (``params.stock_location_code``) with the stock location included, written gzipped to
  a file named after the location (each run replaces it with the current catalogue);
- each listing updates an Asset, with ``{"records": n, "path": ...}`` on the asset event, so
  downstream DAGs can be scheduled on the data;
- ``summary`` returns (and logs) the records fetched per API and the output paths.

This is the DAG ``make demo`` runs against the sandbox. Files go under the Airflow Variable
``inventory_output_dir`` (or ``AIRFLOW_VAR_INVENTORY_OUTPUT_DIR``; any object storage URL works),
by default ``$AIRFLOW_HOME/inventory-output``. Connections: ``pack_default`` and
``commercelayer_default``.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset, Param, dag, task

# airflow.sdk has CronDataIntervalTimetable from Airflow 3.2; the compat module finds it on 3.0/3.1.
from airflow_provider_inventory._compat import CronDataIntervalTimetable
from airflow_provider_inventory.operators.commercelayer import CommerceLayerPackagesOperator
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator

log = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "inventory-output"
)
OUTPUT_DIR = f"{{{{ var.value.get('inventory_output_dir', {DEFAULT_OUTPUT_DIR!r}) }}}}"

# The files these tasks write (their paths change every run): named assets. The API datasets
# themselves are pack://{organization_id}/serial-numbers and commercelayer://{slug}/{resource}.
SHIPPED_SERIAL_NUMBERS = Asset(name="inventory_shipped_serial_numbers")
SHIPPING_LOCATION_PACKAGES = Asset(name="inventory_shipping_location_packages")


def is_shipped(record: dict[str, Any]) -> bool:
    """Whether a serial number has shipped on a fulfillment line."""
    return record.get("fulfillment_line_id") is not None


@dag(
    dag_id="example_inventory_sync",
    # Each run covers the day before it: [data_interval_start, data_interval_end). (A plain
    # "@daily" is a trigger timetable in Airflow 3, whose data interval is empty.)
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2025, 3, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "stock_location_code": Param(
            "milan_wh", type="string", minLength=1, description="Shipping stock location code"
        )
    },
    tags=["example", "inventory", "pack", "commercelayer"],
    doc_md=__doc__,
)
def example_inventory_sync() -> None:
    """Shipped serial numbers of the day and the shipping location's packages, to files."""
    shipped = PackSerialNumbersOperator(
        task_id="shipped_serial_numbers",
        updated_since="{{ data_interval_start }}",
        updated_before="{{ data_interval_end }}",
        record_filter=is_shipped,
        select=["id", "code", "product_id", "stock_id", "fulfillment_line_id", "updated_at"],
        output_path=f"{OUTPUT_DIR}/pack/shipped/{{{{ data_interval_start | ds }}}}.jsonl",
        outlets=[SHIPPED_SERIAL_NUMBERS],
    )
    packages = CommerceLayerPackagesOperator(
        task_id="shipping_location_packages",
        filters={"stock_location_code_eq": "{{ params.stock_location_code }}"},
        include=["stock_location"],
        # The listing filters by stock location only (it is the location's catalogue as of the
        # run, not the day's changes), so the file is named after the location, not a date.
        output_path=(
            f"{OUTPUT_DIR}/commercelayer/packages/"
            "stock_location_code={{ params.stock_location_code }}.jsonl.gz"
        ),
        outlets=[SHIPPING_LOCATION_PACKAGES],
    )

    @task
    def summary(
        shipped_manifest: dict[str, Any], packages_manifest: dict[str, Any]
    ) -> dict[str, Any]:
        """The records fetched per API and where they were written, for humans and XCom.

        Args:
            shipped_manifest: the Pack listing's manifest.
            packages_manifest: the Commerce Layer listing's manifest.

        Returns:
            ``{"pack": {...}, "commercelayer": {...}, "text": "<the summary as text>"}``.
        """
        per_api = {
            "pack": {
                "what": "shipped serial numbers",
                "records": shipped_manifest["records"],
                "path": shipped_manifest["path"],
            },
            "commercelayer": {
                "what": "packages of the shipping location",
                "records": packages_manifest["records"],
                "path": packages_manifest["path"],
            },
        }
        since, before = shipped_manifest["window"]
        lines = [f"Inventory sync for [{since}, {before}):"]
        lines += [
            f"  {api:<14} {entry['records']:>6} {entry['what']} -> {entry['path']}"
            for api, entry in per_api.items()
        ]
        text = "\n".join(lines)
        log.info("%s", text)
        return {**per_api, "text": text}

    summary(shipped.output, packages.output)  # type: ignore[arg-type]


inventory_sync_dag = example_inventory_sync()

if __name__ == "__main__":
    inventory_sync_dag.test()
