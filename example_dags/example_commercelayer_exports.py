"""Yesterday's Commerce Layer shipments through the Exports API, deferrable, into a file.

A paged listing costs one request per 25 records from the client IP's shared budget (200 a
minute for uncacheable resources such as shipments); an export of the same records costs a few
dozen requests in all. :class:`CommerceLayerExportOperator` splits the set into disjoint id
ranges of at most ``chunk_size`` records, runs at most ``max_concurrent`` exports at once, waits
for them in the triggerer (``deferrable=True``: no worker slot is held meanwhile), then resumes
to download, filter and write the records as gzip JSON Lines with the same manifest the list
operator writes. A retried task takes over its exports instead of creating new ones.

Each run covers the day before it (``updated_at`` in the data interval). A TaskFlow task then
counts the shipments per status from the file.

Connection: ``commercelayer_default``. Files go under the Airflow Variable
``inventory_output_dir`` (or ``AIRFLOW_VAR_INVENTORY_OUTPUT_DIR``; any object storage URL works).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_inventory._compat import CronDataIntervalTimetable
from airflow_provider_inventory.operators.commercelayer import CommerceLayerExportOperator

log = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "inventory-output"
)
OUTPUT_DIR = f"{{{{ var.value.get('inventory_output_dir', {DEFAULT_OUTPUT_DIR!r}) }}}}"


@dag(
    dag_id="example_commercelayer_exports",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2025, 3, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["example", "inventory", "commercelayer"],
    doc_md=__doc__,
)
def example_commercelayer_exports() -> None:
    """Shipments updated in the data interval, exported in bulk and written to a file."""
    shipments = CommerceLayerExportOperator(
        task_id="shipments",
        resource="shipments",
        filters={"status_not_in": ["draft"]},
        updated_since="{{ data_interval_start }}",
        updated_before="{{ data_interval_end }}",
        chunk_size=5_000,
        max_concurrent=4,
        deferrable=True,
        poll_interval=5,
        select=["id", "number", "status", "currency_code", "stock_location_id", "updated_at"],
        output_path=OUTPUT_DIR + "/commercelayer/shipments/{{ ds }}.jsonl.gz",
    )

    @task
    def per_status(manifest: dict[str, Any]) -> dict[str, int]:
        """Shipments per status, read back from the file the export task wrote.

        Args:
            manifest: the export task's manifest (``path``, ``records``...).

        Returns:
            ``{status: count}``.
        """
        from airflow_provider_inventory.records import read_records

        counts = Counter(record["status"] for record in read_records(manifest))
        log.info("Shipments per status: %s (%d in all).", dict(counts), manifest["records"])
        return dict(sorted(counts.items()))

    per_status(shipments.output)  # type: ignore[arg-type]


commercelayer_exports_dag = example_commercelayer_exports()

if __name__ == "__main__":
    commercelayer_exports_dag.test()
