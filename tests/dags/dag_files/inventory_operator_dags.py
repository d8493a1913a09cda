"""Test-only DAG: every templated operator argument comes from a template, plus dynamic mapping.

``tests/dags/test_operator_dags.py`` runs it with ``dag.test()`` and a ``run_conf`` holding the
values (ids from the sandbox, JSON-able filters...). Jinja renders dicts and lists to text, so
this also checks that the operators read rendered text back.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_inventory._compat import CronDataIntervalTimetable
from airflow_provider_inventory.operators.commercelayer import (
    CommerceLayerListOperator,
    CommerceLayerPartitionPlanOperator,
)
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator

WINDOW = {
    "updated_since": "{{ data_interval_start }}",
    "updated_before": "{{ data_interval_end }}",
}
CL_CONNECTION = {
    "commercelayer_conn_id": "{{ params.cl_conn_id }}",
    "resource": "{{ params.resource }}",
}


@dag(
    dag_id="test_inventory_operator_templating",
    schedule=CronDataIntervalTimetable("@monthly", timezone="UTC"),
    start_date=datetime(2025, 3, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"pack_conn_id": "", "cl_conn_id": "", "resource": "", "output_dir": ""},
)
def inventory_operator_templating() -> None:
    """One task per operator configuration; the test compares each result with the sandbox."""
    PackSerialNumbersOperator(
        task_id="pack_templated",
        pack_conn_id="{{ params.pack_conn_id }}",
        product_id="{{ params.product_ids }}",
        stock_id="{{ params.stock_ids }}",
        per_page="{{ params.per_page }}",
        where="{{ params.where }}",
        select="{{ params.select }}",
        output_path="{{ params.output_dir }}/pack/{{ data_interval_start | ds }}.jsonl.gz",
        **WINDOW,
    )
    PackSerialNumbersOperator(
        task_id="pack_warehouse",
        pack_conn_id="{{ params.pack_conn_id }}",
        warehouse_id="{{ params.warehouse_id }}",
        product_id="{{ params.warehouse_product_id }}",
        code="{{ params.code }}",
    )

    @task
    def product_ids(params: dict[str, Any]) -> list[str]:
        return list(params["product_ids"])

    PackSerialNumbersOperator.partial(
        task_id="pack_per_product",
        pack_conn_id="{{ params.pack_conn_id }}",
        output_path="{{ params.output_dir }}/per-product/{{ ti.map_index }}.jsonl",
        **WINDOW,
    ).expand(product_id=product_ids())

    plan = CommerceLayerPartitionPlanOperator(
        task_id="cl_plan",
        partitions="{{ params.partitions }}",
        filters="{{ params.filters }}",
        **CL_CONNECTION,
        **WINDOW,
    )
    CommerceLayerListOperator.partial(
        task_id="cl_partitions",
        filters="{{ params.filters }}",
        output_path="{{ params.output_dir }}/cl/part-{{ ti.map_index }}.jsonl",
        **CL_CONNECTION,
        **WINDOW,
    ).expand(partition=plan.output)
    CommerceLayerListOperator(
        task_id="cl_templated",
        filters="{{ params.filters }}",
        sort="{{ params.sort }}",
        fields="{{ params.fields }}",
        include="{{ params.include }}",
        page_size="{{ params.page_size }}",
        where="{{ params.cl_where }}",
        select="{{ params.cl_select }}",
        **CL_CONNECTION,
        **WINDOW,
    )
    CommerceLayerListOperator(
        task_id="cl_one_partition",
        partition="{{ params.partition }}",
        select="id",
        **CL_CONNECTION,
    )
    CommerceLayerListOperator(
        task_id="cl_workers",
        max_workers="{{ params.max_workers }}",
        select="id",
        **CL_CONNECTION,
    )


inventory_operator_templating_dag = inventory_operator_templating()
