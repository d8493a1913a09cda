"""Parquet columns of Commerce Layer listings take the API schema's types, for any resource.

Before, a column without a documented type was inferred from the first 10,000 records (one row
group), so a field null in all of them got the wrong type and the listing failed, or silently
typed, on the first value after. The sandbox serves ``stock_items`` and ``shipments`` from the
bundled schema (:mod:`airflow_provider_inventory.sandbox.resources`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_inventory.hooks._commercelayer_schema import api_schema
from airflow_provider_inventory.operators.commercelayer import CommerceLayerListOperator
from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.records.parquet import ROW_GROUP_RECORDS, arrow_type
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.sandbox.resources import sample_records

pytestmark = pytest.mark.sandbox(packages=3)

#: Past one row group, so the null-first column's first 10,000 values are all null.
RECORDS = ROW_GROUP_RECORDS + 40


@pytest.mark.parametrize(
    ("resource", "null_first"),
    [
        ("stock_items", ("reference", "quantity")),
        ("shipments", ("shipped_at", "skus_count", "cost_amount_float", "rates")),
    ],
)
def test_parquet_columns_have_the_schema_types(
    sandbox_env: Sandbox,
    context: dict[str, Any],
    tmp_path: Path,
    resource: str,
    null_first: tuple[str, ...],
) -> None:
    records = sample_records(resource, RECORDS, nulls=dict.fromkeys(null_first, ROW_GROUP_RECORDS))
    sandbox_env.add_resources(resource, records)
    target = tmp_path / f"{resource}.parquet"

    manifest = CommerceLayerListOperator(
        task_id=resource, resource=resource, output_path=str(target)
    ).execute(context)

    assert manifest["records"] == RECORDS
    schema = pq.read_schema(target)
    kinds = api_schema().resource(resource).column_kinds()
    for name, kind in kinds.items():
        expected = arrow_type("timestamp" if name in ("created_at", "updated_at") else kind)  # type: ignore[arg-type]
        assert schema.field(name).type == expected, name
    for name in null_first:
        values = pq.read_table(target, columns=[name]).column(name).to_pylist()
        assert values[:ROW_GROUP_RECORDS] == [None] * ROW_GROUP_RECORDS
        assert None not in values[ROW_GROUP_RECORDS:]
    assert schema.field("id").type == pa.string()
    read = {record["id"]: record for record in read_records(manifest)}
    last = records[-1]
    assert {key: read[last["id"]][key] for key in last} == last


def test_select_keeps_the_schema_types(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    sandbox_env.add_resources(
        "stock_items", sample_records("stock_items", 30, nulls={"quantity": 30})
    )
    target = tmp_path / "selected.parquet"

    CommerceLayerListOperator(
        task_id="items",
        resource="stock_items",
        select=["id", "quantity", "updated_at"],
        output_path=str(target),
    ).execute(context)

    schema = pq.read_schema(target)
    assert schema.names == ["id", "quantity", "updated_at"]
    assert schema.field("quantity").type == pa.int64()  # all null, typed by the schema
