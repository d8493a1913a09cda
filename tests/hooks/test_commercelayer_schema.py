"""Commerce Layer queries checked against the bundled API schema, before anything is sent.

A typo in a filter could return every record of the resource (Ransack ignores unknown
conditions), so every name is checked: the resource, each filter's attribute path (through
relationships, with ``_or_``), plain filters, ``sort``, ``fields`` and each level of ``include``.
Refusals name the resource, the bad name and the nearest valid ones, and send no request (the
sandbox's request log stays empty); ``schema_checks=False`` sends the names as given.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError, RequestRejectedError
from airflow_provider_inventory.hooks._commercelayer_query import build_query, check_schema
from airflow_provider_inventory.hooks._commercelayer_schema import (
    COLUMN_KINDS,
    SCHEMA_FILE,
    api_schema,
)
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from airflow_provider_inventory.operators.commercelayer import CommerceLayerListOperator
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections

ROOT = Path(__file__).resolve().parents[2]

# (resource, query arguments with one typo, the bad name, a valid name the error suggests):
# a filter attribute, a path through a relationship, a sort, a field and an include for
# packages and seven other resources from across the schema.
TYPOS: list[tuple[str, dict[str, Any], str, str]] = [
    ("packages", {"filters": {"nmae_eq": "Box"}}, "nmae", "name"),
    ("packages", {"filters": {"stock_locaton_name_eq": "Main"}}, "stock_locaton_name", "stock_location_name"),
    ("packages", {"filters": {"stock_location_nmae_eq": "Main"}}, "stock_location_nmae", "stock_location_name"),
    ("packages", {"filters": {"name_or_cdoe_start": "L"}}, "cdoe", "code"),
    ("packages", {"sort": "-creatd_at"}, "creatd_at", "created_at"),
    ("packages", {"fields": ["nmae"]}, "nmae", "name"),
    ("packages", {"include": ["stock_locaton"]}, "stock_locaton", "stock_location"),
    ("packages", {"include": ["stock_location.adress"]}, "adress", "address"),
    ("stock_items", {"filters": {"quantyty_gt": 0}}, "quantyty", "quantity"),
    ("stock_items", {"filters": {"sku_cdoe_in": ["A", "B"]}}, "sku_cdoe", "sku_code"),
    ("stock_items", {"sort": "quantty"}, "quantty", "quantity"),
    ("stock_items", {"fields": ["quantiy"]}, "quantiy", "quantity"),
    ("stock_items", {"include": ["sku.shiping_category"]}, "shiping_category", "shipping_category"),
    ("shipments", {"filters": {"staus_eq": "shipped"}}, "staus", "status"),
    ("shipments", {"filters": {"stock_location_cod_eq": "eu"}}, "stock_location_cod", "stock_location_code"),
    ("shipments", {"sort": "shiped_at"}, "shiped_at", "shipped_at"),
    ("shipments", {"fields": ["numbr"]}, "numbr", "number"),
    ("shipments", {"include": ["parcel"]}, "parcel", "parcels"),
    ("skus", {"filters": {"cod_in": ["A"]}}, "cod", "code"),
    ("skus", {"filters": {"shipping_category_nam_eq": "x"}}, "shipping_category_nam", "shipping_category_name"),
    ("skus", {"sort": "nam"}, "nam", "name"),
    ("skus", {"fields": ["descripton"]}, "descripton", "description"),
    ("skus", {"include": ["prices.price_lst"]}, "price_lst", "price_list"),
    ("orders", {"filters": {"numbr_eq": "1"}}, "numbr", "number"),
    ("orders", {"filters": {"shipping_address_cty_eq": "Milan"}}, "shipping_address_cty", "shipping_address_city"),
    ("orders", {"sort": "-placd_at"}, "placd_at", "placed_at"),
    ("orders", {"fields": ["statuss"]}, "statuss", "status"),
    ("orders", {"include": ["line_itms"]}, "line_itms", "line_items"),
    ("customers", {"filters": {"emial_cont": "@"}}, "emial", "email"),
    ("customers", {"filters": {"customer_group_nme_eq": "vip"}}, "customer_group_nme", "customer_group_name"),
    ("customers", {"sort": "emial"}, "emial", "email"),
    ("customers", {"fields": ["emial"]}, "emial", "email"),
    ("customers", {"include": ["customer_grop"]}, "customer_grop", "customer_group"),
    ("prices", {"filters": {"amount_cent_gt": 100}}, "amount_cent", "amount_cents"),
    ("prices", {"filters": {"price_list_nam_eq": "EU"}}, "price_list_nam", "price_list_name"),
    ("prices", {"sort": "amount_cent"}, "amount_cent", "amount_cents"),
    ("prices", {"fields": ["amount_cent"]}, "amount_cent", "amount_cents"),
    ("prices", {"include": ["sku.stock_item"]}, "stock_item", "stock_items"),
    ("stock_transfers", {"filters": {"statsu_eq": "completed"}}, "statsu", "status"),
    ("stock_transfers", {"filters": {"origin_stock_location_cod_eq": "eu"}}, "origin_stock_location_cod", "origin_stock_location_code"),
    ("stock_transfers", {"sort": "complted_at"}, "complted_at", "completed_at"),
    ("stock_transfers", {"fields": ["quantiy"]}, "quantiy", "quantity"),
    ("stock_transfers", {"include": ["destination_stock_locaton"]}, "destination_stock_locaton", "destination_stock_location"),
]  # fmt: skip


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    with Sandbox(packages=5) as sb:
        yield sb


@pytest.fixture
def sandbox_env(shared_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    set_connections(shared_sandbox, monkeypatch)
    shared_sandbox.clear_requests()
    return shared_sandbox


@pytest.mark.parametrize(("resource", "arguments", "bad", "suggested"), TYPOS)
def test_a_typo_is_refused_before_any_request(
    sandbox_env: Sandbox, resource: str, arguments: dict[str, Any], bad: str, suggested: str
) -> None:
    with CommerceLayerHook() as hook, pytest.raises(InventoryConfigError) as raised:
        hook.list_resources(resource, **arguments)

    message = str(raised.value)
    assert message.startswith(f"{resource}: ")
    assert repr(bad) in message
    assert repr(suggested) in message
    assert "schema_checks=False" in message
    assert sandbox_env.requests == []  # not even a token


def test_the_operator_refuses_a_typo_before_any_request(sandbox_env: Sandbox) -> None:
    from airflow.sdk.execution_time.context import OutletEventAccessors

    task = CommerceLayerListOperator(  # schema-checks: refused
        task_id="items", resource="stock_items", filters={"sku_cdoe_in": ["A"]}
    )
    with pytest.raises(InventoryConfigError, match="'sku_code'"):
        task.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
    assert sandbox_env.requests == []


@pytest.mark.parametrize(
    ("resource", "suggested"), [("package", "packages"), ("stock_item", "stock_items")]
)
def test_an_unknown_resource_names_the_closest(
    sandbox_env: Sandbox, resource: str, suggested: str
) -> None:
    with CommerceLayerHook() as hook, pytest.raises(InventoryConfigError) as raised:
        hook.count(resource)
    assert repr(resource) in str(raised.value)
    assert repr(suggested) in str(raised.value)
    assert sandbox_env.requests == []


def test_get_resource_checks_fields_and_include(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook:
        with pytest.raises(InventoryConfigError, match="'stock_location'"):
            hook.get_resource("packages", "any", include=["stock_locaton"])
        with pytest.raises(InventoryConfigError, match="cannot be listed"):
            hook.list_resources("organizations")
    assert sandbox_env.requests == []


def test_the_escape_hatch_sends_an_unknown_filter(
    sandbox_env: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory.hooks.commercelayer")
    with (
        CommerceLayerHook(schema_checks=False) as hook,
        pytest.raises(RequestRejectedError, match="colour"),
    ):
        hook.list_packages(filters={"colour_eq": "red"})  # the strict sandbox answers 400

    sent = [r for r in sandbox_env.requests if r.api == "commercelayer"]
    assert [r.query.get("filter[q][colour_eq]") for r in sent] == [["red"]]
    assert "schema checks are off" in caplog.text


def test_the_log_names_the_schema_in_use(
    sandbox_env: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_inventory.hooks.commercelayer")
    with CommerceLayerHook() as hook:
        assert len(hook.list_packages(filters={"stock_location_code_eq": "nowhere"})) == 0
        hook.count("packages")
    lines = [r.getMessage() for r in caplog.records if "bundled API schema" in r.getMessage()]
    assert lines == [
        f"Checking Commerce Layer queries against the bundled API {api_schema().version}."
    ]
    assert "7.9.16" in lines[0]
    assert "327b1e85" in lines[0]


def test_schema_checks_must_be_a_boolean() -> None:
    with pytest.raises(InventoryConfigError, match="schema_checks must be True or False"):
        CommerceLayerHook(schema_checks="no")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the rules, offline


@pytest.mark.parametrize(
    ("resource", "filters"),
    [
        ("packages", {"stock_location_name_eq": "Main", "stock_location_id_in": ["a", "b"]}),
        ("packages", {"name_or_code_start": "LARGE", "metadata_jcont": {"tier": "gold"}}),
        ("packages", {"name_not_eq": "x", "name_not_eq_all": ["x", "y"]}),
        ("stock_items", {"sku_code_in": ["A", "B"], "stock_location_code_eq": "eu"}),
        ("stock_items", {"sku_name_or_sku_code_cont": "shirt"}),
        ("shipments", {"order_number_eq": "123", "stock_location_address_city_eq": "Milan"}),
        ("orders", {"market_name_or_customer_email_cont": "x", "gift_card_code_eq": "G"}),
        ("parcels", {"shipment_number_eq": "1", "package_code_eq": "LRG"}),
    ],
)
def test_valid_filters_pass(resource: str, filters: dict[str, Any]) -> None:
    query = build_query(resource, filters=filters)
    assert set(query.filters) >= {f"filter[q][{key}]" for key in filters}


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("ids", "'id_in'"),
        ("created_at_from", "'created_at_gteq'"),
        ("updated_at_to", "'updated_at_lteq'"),
        ("stock_location_id", "'stock_location_id_eq'"),
    ],
)
def test_plain_filters_name_their_filter_q_form(key: str, fix: str) -> None:
    with pytest.raises(InventoryConfigError, match="plain filters of packages") as raised:
        build_query("packages", filters={key: "x"})
    assert fix in str(raised.value)


def test_a_plain_filter_of_another_resource_is_unknown() -> None:
    with pytest.raises(InventoryConfigError, match="predicate"):
        build_query("packages", filters={"sku_codes": "A"})


def test_every_name_of_every_resource_in_the_schema_passes() -> None:
    schema = api_schema()
    assert len(schema.resources) == 132
    for name, spec in schema.resources.items():
        if not spec.listable:
            continue
        filters = {f"{field}_eq": "x" for field in spec.filterable_fields}
        filters.update({f"{rel.name}_id_eq": "x" for rel in spec.filterable_relationships})
        check_schema(
            name,
            filters=filters,
            sort=sorted(spec.sortable_fields),
            fields=sorted(spec.fetchable_names),
            include=sorted(spec.includable_relationships),
        )


def test_every_resource_refuses_a_misspelt_field() -> None:
    for name, spec in api_schema().resources.items():
        if not spec.listable:
            continue
        field = sorted(spec.fetchable_names)[0]
        with pytest.raises(InventoryConfigError, match=f"^{name}: fields: '{field}x'"):
            check_schema(name, fields=[f"{field}x"])


def test_secrets_the_api_never_returns_are_not_fields() -> None:
    with pytest.raises(InventoryConfigError, match="'api_key'"):
        check_schema("adyen_gateways", fields=["api_key"])
    assert "api_key" not in api_schema().resource("adyen_gateways").column_kinds()


def test_columns_come_from_the_schema_types() -> None:
    kinds = api_schema().resource("shipments").column_kinds()
    assert kinds["skus_count"] == "int64"
    assert kinds["cost_amount_float"] == "float64"
    assert kinds["shipped_at"] == "timestamp"
    assert kinds["rates"] == "json"
    assert kinds["metadata"] == "json"
    assert set(COLUMN_KINDS.values()) == {"string", "int64", "float64", "bool", "timestamp", "json"}


# ---------------------------------------------------------------------- the bundled file


def test_the_bundled_schema_is_what_the_script_generates() -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_commercelayer_schema.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    meta = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["meta"]
    assert meta["commit"] == "327b1e85038a56bc9c3d7548facf34cd19c98f21"
    assert meta["licence"] == "MIT License"
    assert "Commerce Layer" in (ROOT / "NOTICE").read_text(encoding="utf-8")
