import os

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable  # airflow.sdk has it from 3.2

from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator

AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
OUTPUT = os.environ.get("INVENTORY_OUTPUT", f"file://{AIRFLOW_HOME}/inventory-output")
SERIAL_NUMBERS = Asset("pack://org_123/serial-numbers")


@dag(
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2025, 5, 1, tz="UTC"),
    catchup=False,
)
def serial_numbers_to_parquet():
    serial_numbers = PackSerialNumbersOperator(
        task_id="serial_numbers",
        updated_since="{{ data_interval_start }}",
        updated_before="{{ data_interval_end }}",
        # The suffix picks the format: .parquet (typed columns, zstd), .jsonl.gz or .jsonl.
        output_path=f"{OUTPUT}/serials/{{{{ data_interval_start | ds }}}}.parquet",
        outlets=[SERIAL_NUMBERS],  # the asset event's extra: {"records": n, "path": ...}
    )

    @task
    def per_stock(manifest: dict) -> dict[str, int]:
        from collections import Counter

        from airflow_provider_inventory.records import read_records

        # The manifest names the file and its format; read_records reads any of the three.
        return dict(Counter(record["stock_id"] for record in read_records(manifest)))

    per_stock(serial_numbers.output)


serial_numbers_to_parquet()
