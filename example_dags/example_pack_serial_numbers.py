"""Daily incremental Pack listing: the unshipped serial numbers of one product, to a file.

Each run lists the serial numbers of ``params.product_id`` updated in its data interval
``[data_interval_start, data_interval_end)``, keeps those not shipped yet (no
``fulfillment_line_id``), and streams them to a JSON Lines file; consecutive runs neither miss
nor repeat a record. A TaskFlow task then reads the file back with ``read_records`` and
summarises it per stock.

Files go under the Airflow Variable ``inventory_output_dir`` (a local directory or any object
storage URL such as ``s3://aws_default@bucket/inventory``; the environment variable
``AIRFLOW_VAR_INVENTORY_OUTPUT_DIR`` sets it too), by default ``$AIRFLOW_HOME/inventory-output``.
Connection: ``pack_default``. The default product is the first one of the provider's sandbox
(``inventory-sandbox``); set ``product_id`` to one of yours.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Param, dag, task

# airflow.sdk has CronDataIntervalTimetable from Airflow 3.2; the compat module finds it on 3.0/3.1.
from airflow_provider_inventory._compat import CronDataIntervalTimetable
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator

log = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "inventory-output"
)
OUTPUT_DIR = f"{{{{ var.value.get('inventory_output_dir', {DEFAULT_OUTPUT_DIR!r}) }}}}"
SANDBOX_PRODUCT_ID = "prod_8694f9c609"


@dag(
    dag_id="example_pack_serial_numbers",
    # Each run covers the day before it: [data_interval_start, data_interval_end). (A plain
    # "@daily" is a trigger timetable in Airflow 3, whose data interval is empty.)
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2025, 3, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "product_id": Param(
            SANDBOX_PRODUCT_ID, type="string", minLength=1, description="Pack product id"
        )
    },
    tags=["example", "inventory", "pack"],
    doc_md=__doc__,
)
def example_pack_serial_numbers() -> None:
    """Unshipped serial numbers of one product, updated in the data interval, to JSON Lines."""
    unshipped = PackSerialNumbersOperator(
        task_id="unshipped_serial_numbers",
        product_id="{{ params.product_id }}",
        updated_since="{{ data_interval_start }}",
        updated_before="{{ data_interval_end }}",
        where={"fulfillment_line_id": None},
        output_path=f"{OUTPUT_DIR}/pack/unshipped/{{{{ params.product_id }}}}/{{{{ data_interval_start | ds }}}}.jsonl",
    )

    @task
    def summarise(manifest: dict[str, Any]) -> dict[str, Any]:
        """Count the unshipped serial numbers per stock, reading the file back record by record.

        Args:
            manifest: the listing task's manifest (path, records, window, watermark...).

        Returns:
            The count per stock (``"no stock"`` for serial numbers without one) and the window.
        """
        from airflow_provider_inventory.records import read_records

        per_stock = Counter(record["stock_id"] or "no stock" for record in read_records(manifest))
        summary = {
            "unshipped": sum(per_stock.values()),
            "per_stock": dict(per_stock.most_common()),
            "window": manifest["window"],
            "watermark": manifest["watermark"],
            "path": manifest["path"],
        }
        log.info("Unshipped serial numbers: %s", summary)
        return summary

    summarise(unshipped.output)  # type: ignore[arg-type]


pack_serial_numbers_dag = example_pack_serial_numbers()

if __name__ == "__main__":
    pack_serial_numbers_dag.test()
