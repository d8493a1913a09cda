import os

import pendulum
from airflow.sdk import dag

from airflow_provider_inventory.operators.commercelayer import (
    CommerceLayerPackagesOperator,
    CommerceLayerPartitionPlanOperator,
)

AIRFLOW_HOME = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
OUTPUT = os.environ.get("INVENTORY_OUTPUT", f"file://{AIRFLOW_HOME}/inventory-output")


@dag(schedule="@daily", start_date=pendulum.datetime(2025, 5, 1, tz="UTC"), catchup=False)
def packages_partitioned():
    # A few requests to find the id range, then up to 8 disjoint ranges of about equal size.
    plan = CommerceLayerPartitionPlanOperator(task_id="plan", resource="packages", partitions=8)
    # One mapped task per range, each writing its own file: together exactly the whole listing.
    CommerceLayerPackagesOperator.partial(
        task_id="packages",
        output_path=f"{OUTPUT}/packages/{{{{ ds }}}}/part-{{{{ ti.map_index }}}}.jsonl.gz",
        # pool="commercelayer_api",  # bound how many run at once (see "Scaling out")
    ).expand(partition=plan.output)


packages_partitioned()
