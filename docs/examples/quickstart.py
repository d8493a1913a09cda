import os

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable  # airflow.sdk has it from 3.2

from airflow_provider_inventory.operators.commercelayer import CommerceLayerPackagesOperator
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator

# Where files go: any ObjectStoragePath URL (s3://aws_default@bucket/inventory, ...); by default a
# folder under AIRFLOW_HOME, which the Airflow user can write.
AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
OUTPUT = os.environ.get("INVENTORY_OUTPUT", f"file://{AIRFLOW_HOME}/inventory-output")


@dag(
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2025, 5, 1, tz="UTC"),
    catchup=False,
    params={"product_id": Param("prod_123", type="string")},
)
def inventory():
    serials = PackSerialNumbersOperator(
        task_id="serials",
        product_id="{{ params.product_id }}",  # str or list: one listing per value, merged
        updated_since="{{ data_interval_start }}",  # half-open window [since, before)
        updated_before="{{ data_interval_end }}",
        where={"fulfillment_line_id": None},  # client-side: unshipped only
        select=["code", "stock_id", "updated_at"],
        output_path=f"{OUTPUT}/serials/{{{{ data_interval_start | ds }}}}.jsonl",
    )
    packages = CommerceLayerPackagesOperator(
        task_id="packages",
        filters={"stock_location_code_eq": "milan_wh"},  # server-side filter[q][...]
        fields=["name", "length", "width", "height", "unit_of_length"],
        include=["stock_location"],
    )  # no output_path: records by XCom

    @task
    def summarise(manifest: dict, rows: list[dict]) -> str:
        from airflow_provider_inventory.records import read_records

        unshipped = sum(1 for _ in read_records(manifest))
        return f"{unshipped} unshipped serial numbers, {len(rows)} packages"

    summarise(serials.output, packages.output)


inventory()
