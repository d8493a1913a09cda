"""Commerce Layer operators against the sandbox: listing, selection, windows, partitions."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.operators.commercelayer import (
    CommerceLayerListOperator,
    CommerceLayerPackagesOperator,
    CommerceLayerPartitionPlanOperator,
    flattened_fields,
)
from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(packages=120, stock_locations=4)

DIMENSIONS = ["length", "width", "height", "unit_of_length"]


def api_requests(sb: Sandbox) -> list[Any]:
    return [request for request in sb.requests if request.api in ("commercelayer", "oauth")]


def location(sb: Sandbox, code: str) -> dict[str, Any]:
    return next(loc for loc in sb.stock_locations() if loc["code"] == code)


def ids(records: list[dict[str, Any]]) -> list[str]:
    return sorted(record["id"] for record in records)


def test_packages_of_a_location_with_sparse_fields_and_include(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    sb = sandbox_env
    milan = location(sb, "milan_wh")

    records = CommerceLayerPackagesOperator(
        task_id="packages",
        filters={"stock_location_code_eq": "milan_wh"},
        fields=["code", *DIMENSIONS],
        include=["stock_location"],
        select=["id", "code", "length", "stock_location_id", "stock_location.name"],
        page_size=10,
    ).execute(context)

    expected = [p for p in sb.packages() if p["stock_location_id"] == milan["id"]]
    assert ids(records) == ids(expected)
    by_id = {p["id"]: p for p in expected}
    for record in records:
        assert record == {
            "id": record["id"],
            "code": by_id[record["id"]]["code"],
            "length": by_id[record["id"]]["length"],
            "stock_location_id": milan["id"],
            "stock_location.name": milan["name"],
        }


def test_where_on_an_included_record(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    sb = sandbox_env
    berlin = location(sb, "berlin_wh")

    records = CommerceLayerListOperator(
        task_id="packages",
        resource="packages",
        include="stock_location",
        where={"stock_location.code": "berlin_wh", "unit_of_length": "cm"},
    ).execute(context)

    expected = [
        p
        for p in sb.packages()
        if p["stock_location_id"] == berlin["id"] and p["unit_of_length"] == "cm"
    ]
    assert ids(records) == ids(expected)
    assert all(record["stock_location"]["code"] == "berlin_wh" for record in records)


def test_other_resources_are_listed_without_field_checks(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    records = CommerceLayerListOperator(
        task_id="locations", resource="stock_locations", select=["code", "label_format"]
    ).execute(context)

    assert sorted(records, key=lambda r: r["code"]) == sorted(
        (
            {"code": loc["code"], "label_format": loc["label_format"]}
            for loc in sandbox_env.stock_locations()
        ),
        key=lambda r: r["code"],
    )


def test_consecutive_windows_miss_and_repeat_nothing(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    bounds = ["2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z", "2025-06-01T00:00:00Z"]
    runs = [
        CommerceLayerPackagesOperator(
            task_id="packages", updated_since=since, updated_before=before, select=["id"]
        ).execute(context)
        for since, before in itertools.pairwise(bounds)
    ]

    fetched = [record["id"] for run in runs for record in run]
    expected = [
        p["id"]
        for p in sandbox_env.packages()
        if "2025-04-01T00:00:00.000Z" <= p["updated_at"] < "2025-06-01T00:00:00.000Z"
    ]
    assert all(runs)
    assert len(fetched) == len(set(fetched))
    assert sorted(fetched) == sorted(expected)


def test_partitioned_listing_equals_the_whole(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    filters = {"unit_of_length_eq": "cm"}
    plan = CommerceLayerPartitionPlanOperator(
        task_id="plan", resource="packages", partitions=4, filters=filters
    ).execute(context)
    assert len(plan) == 4

    manifests = [
        CommerceLayerPackagesOperator(
            task_id="packages",
            filters=filters,
            partition=partition,
            output_path=str(tmp_path / f"part-{index}.jsonl"),
        ).execute(context)
        for index, partition in enumerate(plan)
    ]

    parts = [ids(list(read_records(manifest))) for manifest in manifests]
    whole = CommerceLayerPackagesOperator(task_id="whole", filters=filters).execute(context)
    union = [record_id for part in parts for record_id in part]
    assert all(parts)
    assert len(union) == len(set(union))
    assert sorted(union) == ids(whole)
    assert ids(whole) == ids([p for p in sandbox_env.packages() if p["unit_of_length"] == "cm"])


def test_partition_and_workers_arrive_as_rendered_text(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    plan = CommerceLayerPartitionPlanOperator(
        task_id="plan", resource="packages", partitions="2"
    ).execute(context)

    first = CommerceLayerPackagesOperator(
        task_id="packages", partition=str(plan[0]), page_size="7", select="id"
    ).execute(context)
    parallel = CommerceLayerPackagesOperator(
        task_id="packages", max_workers="3", fields="['code']", select="['id', 'code']"
    ).execute(context)

    bound = plan[0]["id_lt"]
    assert ids(first) == sorted(p["id"] for p in sandbox_env.packages() if p["id"] < bound)
    assert ids(parallel) == ids(sandbox_env.packages())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"where": {"stock_location_id": "x"}}, "add include=['stock_location']"),
        ({"fields": ["code"], "select": ["name"]}, "select names field the API does not return"),
        ({"filters": {"name": "Large"}}, "not '<attribute>_<predicate>'"),
        ({"filters": "name_eq=Large"}, "filters='name_eq=Large' could not be read as a dict"),
        ({"page_size": 26}, "25"),
        ({"partition": {"id_gt": "a"}}, "partition must be a mapping with only the keys"),
        ({"max_workers": "two"}, "max_workers must be a whole number >= 1"),
    ],
)
def test_invalid_arguments_fail_before_any_request(
    sandbox_env: Sandbox, context: dict[str, Any], arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InventoryConfigError, match=message.replace("[", r"\[")):
        CommerceLayerPackagesOperator(task_id="packages", **arguments).execute(context)

    assert api_requests(sandbox_env) == []


def test_packages_operator_lists_packages_only() -> None:
    with pytest.raises(InventoryConfigError, match="always lists packages"):
        CommerceLayerPackagesOperator(task_id="packages", resource="skus")
    with pytest.raises(InventoryConfigError, match="resource must name"):
        CommerceLayerListOperator(task_id="x", resource=" ").execute({})


def test_plan_needs_a_partition_count(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    with pytest.raises(InventoryConfigError, match="partitions must be a whole number"):
        CommerceLayerPartitionPlanOperator(
            task_id="plan", resource="packages", partitions="0"
        ).execute(context)


def test_flattened_fields() -> None:
    assert flattened_fields("packages", ["code"], ["stock_location"]) == {
        "id",
        "type",
        "meta",
        "code",
        "stock_location",
        "stock_location_id",
    }
    # Every resource's fields come from the bundled schema: to-many relationships have no _id.
    skus = flattened_fields("skus", None, ["prices"])
    assert skus is not None
    assert {"code", "name", "do_not_ship", "prices"} <= skus
    assert "prices_id" not in skus
    assert flattened_fields("skus", ["code"], None) == {"id", "type", "meta", "code"}
    assert "metadata" in flattened_fields("packages", None, None)  # type: ignore[operator]
    # Without schema checks only the fieldset is known (a name may be a relationship).
    assert flattened_fields("skus", None, ["prices"], schema_checks=False) is None
    assert flattened_fields("skus", ["code"], None, schema_checks=False) == {
        "id",
        "type",
        "meta",
        "code",
        "code_id",
    }


def test_module_doc_advises_the_host_shared_budget_not_divided_limits() -> None:
    """The module doc's scaling advice matches the pacing: the processes of a host share one rate
    budget (a state file in the cache directory, unless host sharing is off) and the limits are
    the account's, never divided by a pool's slots."""
    import re

    from airflow_provider_inventory._http.hoststate import ENV_CACHE_DIR, ENV_HOST_SHARING
    from airflow_provider_inventory.operators import commercelayer

    doc = " ".join((commercelayer.__doc__ or "").split())

    assert not re.search(r"shared only within one process|divided by the pool", doc)
    assert "one rate budget" in doc
    assert "never divided" in doc
    assert ENV_CACHE_DIR in doc
    assert ENV_HOST_SHARING in doc
    assert "host_sharing" in doc
