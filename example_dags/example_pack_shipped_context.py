"""Pack serial numbers in context: the day's shipped serial numbers with their products, stocks
and fulfillments, joined into one file.

Every day:

- ``shipped_serial_numbers`` lists the serial numbers updated in the data interval that have
  shipped (a ``fulfillment_line_id``), with each one's ``product`` and ``stock`` record attached
  (``expand``: each product and stock is fetched once, not once per serial number), to a JSON
  Lines file;
- ``shipped_fulfillments`` lists the shipped fulfillments updated since the interval started,
  with their lines (``include``), to a JSON Lines file (a fulfillment ships when its last
  serial number does, so every serial number of the day is on one of them);
- ``join`` reads both files back, joins each serial number to its fulfillment through its
  line, writes one row per serial number (code, product, warehouse, fulfillment, shipped at)
  and returns a summary; a serial number without its fulfillment is counted, not dropped.

Files go under the Airflow Variable ``inventory_output_dir`` (or
``AIRFLOW_VAR_INVENTORY_OUTPUT_DIR``; any object storage URL works), by default
``$AIRFLOW_HOME/inventory-output``. Connection: ``pack_default``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import dag, task

# airflow.sdk has CronDataIntervalTimetable from Airflow 3.2; the compat module finds it on 3.0/3.1.
from airflow_provider_inventory._compat import CronDataIntervalTimetable
from airflow_provider_inventory.operators.pack import PackListOperator, PackSerialNumbersOperator

log = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "inventory-output"
)
OUTPUT_DIR = f"{{{{ var.value.get('inventory_output_dir', {DEFAULT_OUTPUT_DIR!r}) }}}}"
DAY = "{{ data_interval_start | ds }}"


def is_shipped(record: dict[str, Any]) -> bool:
    """Whether a serial number has shipped on a fulfillment line."""
    return record.get("fulfillment_line_id") is not None


@dag(
    dag_id="example_pack_shipped_context",
    # Each run covers the day before it: [data_interval_start, data_interval_end).
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2025, 3, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["example", "inventory", "pack"],
    doc_md=__doc__,
)
def example_pack_shipped_context() -> None:
    """The day's shipped serial numbers joined with their products and fulfillments."""
    serial_numbers = PackSerialNumbersOperator(
        task_id="shipped_serial_numbers",
        updated_since="{{ data_interval_start }}",
        updated_before="{{ data_interval_end }}",
        record_filter=is_shipped,
        expand=["product", "stock"],
        output_path=f"{OUTPUT_DIR}/pack/shipped/{DAY}/serial_numbers.jsonl",
    )
    fulfillments = PackListOperator(
        task_id="shipped_fulfillments",
        resource="fulfillments",
        filters={"status": "shipped"},
        include=["lines"],
        updated_since="{{ data_interval_start }}",
        output_path=f"{OUTPUT_DIR}/pack/shipped/{DAY}/fulfillments.jsonl",
    )

    @task
    def join(serials: dict[str, Any], shipped: dict[str, Any]) -> dict[str, Any]:
        """One row per shipped serial number with its product, warehouse and fulfillment.

        Args:
            serials: the manifest of the serial numbers' file.
            shipped: the manifest of the fulfillments' file.

        Returns:
            The joined file's path, its row count, the serial numbers whose fulfillment was not
            found, and the count per product name.
        """
        from airflow_provider_inventory._compat import ObjectStoragePath
        from airflow_provider_inventory.records import read_records

        by_line = {
            line["id"]: fulfillment
            for fulfillment in read_records(shipped)
            for line in fulfillment.get("lines") or ()
        }
        target = ObjectStoragePath(serials["path"]).parent / "joined.jsonl"
        rows, unmatched, per_product = 0, 0, Counter[str]()
        with target.open("w") as out:
            for serial in read_records(serials):
                fulfillment = by_line.get(serial["fulfillment_line_id"])
                unmatched += fulfillment is None
                product = serial["product"] or {}
                row = {
                    "code": serial["code"],
                    "product_id": serial["product_id"],
                    "product_name": product.get("name"),
                    "sku": product.get("code"),
                    "warehouse_id": (serial["stock"] or {}).get("warehouse_id"),
                    "fulfillment_id": fulfillment and fulfillment["id"],
                    "shipped_at": fulfillment and fulfillment["shipped_at"],
                }
                out.write(json.dumps(row) + "\n")
                rows += 1
                per_product[str(product.get("name"))] += 1
        summary = {
            "path": str(target),
            "rows": rows,
            "unmatched": unmatched,
            "per_product": dict(per_product.most_common()),
        }
        log.info("Shipped serial numbers in context: %s", summary)
        return summary

    join(serial_numbers.output, fulfillments.output)  # type: ignore[arg-type]


pack_shipped_context_dag = example_pack_shipped_context()

if __name__ == "__main__":
    pack_shipped_context_dag.test()
