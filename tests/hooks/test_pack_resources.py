"""PackHook.iter_resources / get_resource and serial numbers with their context, over loopback.

Every documented resource is listed against the sandbox's consistent world and compared with
the sandbox's own records: unfiltered, with each filter, with includes and with sorts. Checks
refuse what Pack does not document before any request; parallel listings equal sequential ones;
``expand`` fetches each product and stock once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import (
    InventoryApiError,
    InventoryConfigError,
    NotFoundError,
)
from airflow_provider_inventory.hooks.pack import PackHook
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections

pytestmark = pytest.mark.sandbox(seed=11, serial_numbers=400, packages=0, stock_locations=0)


def pack_requests(sb: Sandbox, part: str = "") -> list[Any]:
    """The Pack requests the sandbox answered whose path contains ``part``."""
    return [r for r in sb.requests if r.api == "pack" and part in r.path]


@pytest.fixture
def hook(sandbox_env: Sandbox) -> Iterator[PackHook]:
    with PackHook() as pack:
        yield pack


def first_warehouse(sb: Sandbox) -> str:
    return next(iter(sb.warehouses()))


# ---------------------------------------------------------------------- whole listings


@pytest.mark.parametrize(
    "resource", ["products", "stocks", "product-warehouses", "fulfillments", "shipping-services"]
)
def test_every_organization_resource_is_listed_exactly(
    sandbox_env: Sandbox, hook: PackHook, resource: str
) -> None:
    expected = sandbox_env.pack_records(resource)
    assert expected

    records = hook.list_resources(resource, per_page=7)

    assert records == expected
    assert len(pack_requests(sandbox_env)) == -(-len(expected) // 7)


@pytest.mark.parametrize("resource", ["products", "fulfillments"])
def test_warehouse_resources_are_listed_exactly(
    sandbox_env: Sandbox, hook: PackHook, resource: str
) -> None:
    warehouse = first_warehouse(sandbox_env)
    expected = sandbox_env.pack_records(resource, warehouse_id=warehouse)
    assert expected

    records = hook.list_resources(resource, warehouse_id=warehouse, per_page=5)

    assert records == expected
    assert {r.path for r in pack_requests(sandbox_env)} == {
        f"/v1/warehouses/{warehouse}/{resource}"
    }


# ---------------------------------------------------------------------- filters


def _value_of(record: dict[str, Any], name: str) -> str:
    if name == "orders.id":
        return str(record["orders"][0]["id"])
    if name == "barcodes.barcode":
        return str(record["barcodes"][0]["barcode"])
    value = record[name]
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _matches(record: dict[str, Any], name: str, value: str) -> bool:
    if name == "orders.id":
        return any(order["id"] == value for order in record["orders"])
    if name == "barcodes.barcode":
        return any(code["barcode"] == value for code in record["barcodes"])
    return _value_of(record, name) == value


FILTER_CASES = [
    ("products", None, "id"),
    ("products", None, "type"),
    ("stocks", None, "product_id"),
    ("stocks", None, "warehouse_id"),
    ("product-warehouses", None, "product_id"),
    ("product-warehouses", None, "warehouse_id"),
    ("fulfillments", None, "orders.id"),
    ("fulfillments", None, "status"),
    ("fulfillments", None, "warehouse_id"),
    ("shipping-services", None, "carrier_code"),
    ("shipping-services", None, "integration_id"),
    ("shipping-services", None, "enabled"),
    ("shipping-services", None, "type"),
    ("products", "warehouse", "barcodes.barcode"),
    ("fulfillments", "warehouse", "status"),
]


@pytest.mark.parametrize(("resource", "scope", "name"), FILTER_CASES)
def test_each_documented_filter_selects_exactly(
    sandbox_env: Sandbox, hook: PackHook, resource: str, scope: str | None, name: str
) -> None:
    warehouse = first_warehouse(sandbox_env) if scope else None
    everything = sandbox_env.pack_records(resource, warehouse_id=warehouse)
    # The orders of fulfillments come only on request: the sandbox's view with them, to filter.
    extra = ("orders",) if resource == "fulfillments" else ()
    full = sandbox_env.pack_records(resource, warehouse_id=warehouse, include=extra)
    # The last record's value: for most filters a value that selects some records, not all.
    value = _value_of(full[-1], name)
    expected = [
        plain for plain, r in zip(everything, full, strict=True) if _matches(r, name, value)
    ]

    records = hook.list_resources(resource, filters={name: value}, warehouse_id=warehouse)

    assert records == expected
    assert records
    assert all(r.query[f"filter[{name}]"] == [value] for r in pack_requests(sandbox_env))


def test_a_boolean_filter_is_sent_as_true_or_false(sandbox_env: Sandbox, hook: PackHook) -> None:
    records = hook.list_resources("shipping-services", filters={"enabled": False})

    assert [r["id"] for r in records] == ["ss_postnl_express"]
    assert pack_requests(sandbox_env)[0].query["filter[enabled]"] == ["false"]


def test_a_list_of_values_lists_each_and_merges_in_order(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    statuses = ["pending", "shipped"]

    records = hook.list_resources(
        "fulfillments", filters={"status": statuses}, include="orders", per_page=50
    )

    everything = sandbox_env.pack_records("fulfillments", include=("orders",))
    assert records == [r for s in statuses for r in everything if r["status"] == s]


# ---------------------------------------------------------------------- includes and sorts


def test_fulfillments_with_every_documented_include(sandbox_env: Sandbox, hook: PackHook) -> None:
    includes = (
        "lines",
        "lines.product",
        "lines.serial_numbers",
        "orders",
        "shipments",
        "warehouse",
    )

    records = hook.list_resources("fulfillments", include=list(includes), per_page=100)

    assert records == sandbox_env.pack_records("fulfillments", include=includes)
    assert pack_requests(sandbox_env)[0].query["include"] == [",".join(includes)]
    # Shipped serial numbers point at lines of shipped fulfillments that list them.
    lines = {line["id"]: (f, line) for f in records for line in f["lines"]}
    shipped = [s for s in sandbox_env.serial_numbers() if s["fulfillment_line_id"]]
    assert shipped
    for serial in shipped:
        fulfillment, line = lines[serial["fulfillment_line_id"]]
        assert fulfillment["status"] == "shipped"
        assert line["product_id"] == serial["product_id"] == line["product"]["id"]
        assert serial in line["serial_numbers"]


@pytest.mark.parametrize(
    ("resource", "include"),
    [("stocks", ("locatable", "product", "warehouse")), ("product-warehouses", ("product",))],
)
def test_stock_includes(
    sandbox_env: Sandbox, hook: PackHook, resource: str, include: tuple[str, ...]
) -> None:
    records = hook.list_resources(resource, include=",".join(include))

    assert records == sandbox_env.pack_records(resource, include=include)
    assert all(r["product"]["id"] == r["product_id"] for r in records)


def test_warehouse_products_with_organization_and_query(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    warehouse = first_warehouse(sandbox_env)
    everything = sandbox_env.pack_records(
        "products", warehouse_id=warehouse, include=("organization",)
    )
    word = everything[0]["name"].split()[1]

    records = hook.list_resources(
        "products", warehouse_id=warehouse, include=["organization"], query=word
    )

    assert records == [r for r in everything if word.lower() in r["name"].lower()]
    assert {r["organization"]["id"] for r in records} == {sandbox_env.organization_id}


@pytest.mark.parametrize(
    ("resource", "scope", "sort"),
    [
        ("products", None, "-name"),
        ("products", None, "name"),
        ("products", None, "-created_at"),
        ("fulfillments", None, "-created_at"),
        ("fulfillments", "warehouse", "-shipped_at"),
        ("fulfillments", "warehouse", "release_at"),
    ],
)
def test_documented_sorts_order_the_records(
    sandbox_env: Sandbox, hook: PackHook, resource: str, scope: str | None, sort: str
) -> None:
    warehouse = first_warehouse(sandbox_env) if scope else None
    key = sort.lstrip("-")

    records = hook.list_resources(resource, sort=sort, warehouse_id=warehouse, per_page=10)

    everything = sandbox_env.pack_records(resource, warehouse_id=warehouse)
    assert {r["id"] for r in records} == {r["id"] for r in everything}
    present = [r[key] for r in records if r[key] is not None]
    assert present == sorted(present, reverse=sort.startswith("-"))
    assert all(r.query["sort"] == [sort] for r in pack_requests(sandbox_env))


# ---------------------------------------------------------------------- refused before sending


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            {"resource": "products", "filters": {"colour": "red"}},
            r"no filter\[colour\] for products; use one of id, type",
        ),
        (
            {"resource": "stocks", "filters": {"warehouse": "x"}},
            "use one of product_id, warehouse_id",
        ),
        (
            {"resource": "fulfillments", "filters": {"status": "lost"}},
            "'lost' is not a documented value .*calculating, on_hold",
        ),
        (
            {"resource": "products", "filters": {"type": ["standard", "bundle"]}},
            "'bundle' is not a documented value",
        ),
        ({"resource": "fulfillments", "include": "lines,customer"}, "include='customer'"),
        ({"resource": "stocks", "include": ["lines"]}, "locatable, product, warehouse"),
        ({"resource": "products", "sort": "-price"}, "sort='-price'.*name, created_at"),
        ({"resource": "stocks", "sort": "created_at"}, "documents no sort values"),
        ({"resource": "stocks", "query": "x"}, "no query= search for stocks"),
        ({"resource": "orders"}, "not a Pack list resource; use one of serial-numbers"),
        ({"resource": "stocks", "warehouse_id": "wh_1"}, "no warehouse endpoint for stocks"),
        ({"resource": "products", "max_workers": 17}, "max_workers=17 is out of range"),
        ({"resource": "product-warehouses", "updated_since": "2025-01-01"}, "no updated_at"),
        ({"resource": "products", "filters": "id=1"}, "filters must be a dict"),
    ],
)
def test_what_pack_does_not_document_is_refused_before_any_request(
    sandbox_env: Sandbox, hook: PackHook, call: dict[str, Any], message: str
) -> None:
    with pytest.raises(InventoryConfigError, match=message):
        hook.iter_resources(**call)

    assert pack_requests(sandbox_env) == []


def test_allow_undocumented_sends_what_the_docs_do_not_list(
    sandbox_env: Sandbox, hook: PackHook, caplog: pytest.LogCaptureFixture
) -> None:
    stream = hook.iter_resources("products", filters={"colour": "red"}, allow_undocumented=True)
    # The sandbox answers like the API would for a filter it does not know: 400.
    with pytest.raises(InventoryApiError, match="400"):
        list(stream)

    assert pack_requests(sandbox_env)[0].query["filter[colour]"] == ["red"]
    assert "Sending undocumented filter[colour] for Pack products." in caplog.text


# ---------------------------------------------------------------------- single records


@pytest.mark.parametrize("resource", ["products", "fulfillments"])
def test_get_resource_returns_one_record(
    sandbox_env: Sandbox, hook: PackHook, resource: str
) -> None:
    expected = sandbox_env.pack_records(resource)[-1]
    expected.pop("orders", None)

    assert hook.get_resource(resource, expected["id"]) == expected
    assert [r.path for r in pack_requests(sandbox_env)] == [
        f"/v1/organizations/{sandbox_env.organization_id}/{resource}/{expected['id']}"
    ]


def test_get_resource_of_an_unknown_id_is_not_found(hook: PackHook) -> None:
    with pytest.raises(NotFoundError):
        hook.get_resource("products", "prod_nope")


def test_get_resource_without_a_documented_endpoint_is_refused(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    with pytest.raises(InventoryConfigError, match="no single-record endpoint for stocks"):
        hook.get_resource("stocks", "stk_1")
    assert pack_requests(sandbox_env) == []


# ---------------------------------------------------------------------- parallel listings


@pytest.mark.sandbox(seed=5, serial_numbers=2400, products=8, packages=0, stock_locations=0)
def test_four_workers_over_eight_products_equal_the_sequential_listing(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    products = [p["id"] for p in sandbox_env.pack_records("products")]
    assert len(products) == 8

    sequential = hook.list_serial_numbers(product_id=products, per_page=20)
    sandbox_env.clear_requests()
    parallel = hook.list_serial_numbers(product_id=products, per_page=20, max_workers=4)

    expected = [s for p in products for s in sandbox_env.serial_numbers() if s["product_id"] == p]
    assert sequential == expected
    # The same records, each exactly once and identical; each product's records in API order.
    assert sorted(parallel, key=lambda r: r["id"]) == sorted(sequential, key=lambda r: r["id"])
    assert len({r["id"] for r in parallel}) == len(parallel) == 2400
    for product in products:
        assert [r for r in parallel if r["product_id"] == product] == [
            r for r in sequential if r["product_id"] == product
        ]
    first_pages = [r for r in pack_requests(sandbox_env) if "cursor" not in r.query]
    assert len(first_pages) == 8


@pytest.mark.sandbox(seed=5, serial_numbers=600, products=8, packages=0, stock_locations=0)
def test_parallel_listings_retry_a_failing_page_and_stay_exact(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    products = [p["id"] for p in sandbox_env.pack_records("products")]
    sandbox_env.inject("status", status=503, times=3, after=5)

    records = hook.list_serial_numbers(product_id=products, per_page=10, max_workers=4)

    assert Counter(r["id"] for r in records) == Counter(
        s["id"] for s in sandbox_env.serial_numbers()
    )
    assert Counter(r.status for r in pack_requests(sandbox_env))[503] == 3


@pytest.mark.sandbox(seed=5, serial_numbers=600, products=8, packages=0, stock_locations=0)
def test_a_failed_parallel_listing_raises_and_stops_the_others(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    products = [p["id"] for p in sandbox_env.pack_records("products")]
    sandbox_env.inject("malformed_json", times=1, after=6)

    with pytest.raises(InventoryApiError):
        list(hook.iter_serial_numbers(product_id=products, per_page=5, max_workers=4))

    requested = len(pack_requests(sandbox_env))
    assert requested < 600 // 5  # the other listings stopped instead of running to the end


def test_a_record_moving_between_parallel_listings_is_not_repeated(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    stocks = sandbox_env.pack_records("stocks")
    product = stocks[0]["product_id"]
    same_product = [s["id"] for s in stocks if s["product_id"] == product][:2]
    moved = next(s for s in sandbox_env.serial_numbers() if s["stock_id"] == same_product[0])
    sandbox_env.schedule(
        1, lambda: sandbox_env.update_serial_number(moved["id"], stock_id=same_product[1])
    )

    records = hook.list_serial_numbers(stock_id=same_product, per_page=100, max_workers=2)

    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert {r["id"] for r in records} <= {
        s["id"] for s in sandbox_env.serial_numbers() if s["stock_id"] in same_product
    }


# ---------------------------------------------------------------------- serial numbers in context


def test_expand_attaches_product_and_stock_fetched_once_per_distinct_record(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    products = {p["id"]: p for p in sandbox_env.pack_records("products")}
    stocks = {s["id"]: s for s in sandbox_env.pack_records("stocks")}

    records = hook.list_serial_numbers(expand=["product", "stock"], per_page=25)

    plain = sandbox_env.serial_numbers()
    assert [{k: r[k] for k in plain[0]} for r in records] == plain
    for record in records:
        assert record["product"] == products[record["product_id"]]
        if record["stock_id"] is None:
            assert record["stock"] is None
        else:
            assert record["stock"] == stocks[record["stock_id"]]
            assert record["stock"]["product_id"] == record["product_id"]
    # 16 pages of serial numbers; one products request per distinct product; one stocks page
    # per distinct product with a stock (every stock of a product comes on one page).
    organization = f"/v1/organizations/{sandbox_env.organization_id}"
    product_requests = pack_requests(sandbox_env, f"{organization}/products")
    stock_requests = pack_requests(sandbox_env, f"{organization}/stocks")
    assert len(pack_requests(sandbox_env, "/serial-numbers")) == 16
    assert sorted(r.query["filter[id]"][0] for r in product_requests) == sorted(products)
    assert sorted(r.query["filter[product_id]"][0] for r in stock_requests) == sorted(products)


@pytest.mark.sandbox(seed=11, serial_numbers=400, products=3, packages=0, stock_locations=0)
def test_expand_of_one_product_with_a_window_fetches_its_context_once(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    product = sandbox_env.serial_numbers()[0]["product_id"]

    records = hook.list_serial_numbers(
        product_id=product,
        expand="stock",
        per_page=10,
        updated_since="2025-04-01T00:00:00Z",
    )

    assert records
    assert all("product" not in r and set(r) >= {"stock"} for r in records)
    assert len(pack_requests(sandbox_env, "/products")) == 0
    assert len(pack_requests(sandbox_env, "/stocks")) == 1


def test_expand_of_something_else_is_refused(sandbox_env: Sandbox, hook: PackHook) -> None:
    with pytest.raises(InventoryConfigError, match="use product and/or stock"):
        hook.iter_serial_numbers(expand=["fulfillment"])
    assert pack_requests(sandbox_env) == []


def test_expand_survives_a_failing_context_request(sandbox_env: Sandbox, hook: PackHook) -> None:
    organization = f"/v1/organizations/{sandbox_env.organization_id}"
    sandbox_env.inject("status", status=503, times=2, match=f"{organization}/products")

    records = hook.list_serial_numbers(expand=["product"], per_page=100)

    assert len(records) == 400
    assert all(r["product"]["id"] == r["product_id"] for r in records)


@pytest.mark.sandbox(seed=5, serial_numbers=400, products=8, packages=0, stock_locations=0)
def test_parallel_listings_share_the_connections_rate_pacer(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(
        sandbox,
        monkeypatch,
        pack_extra={"rate_limit_average": 20, "rate_limit_interval": 1, "host_sharing": False},
    )
    products = [p["id"] for p in sandbox.pack_records("products")]

    with (
        PackHook() as pack,
        pack.iter_serial_numbers(product_id=products, per_page=10, max_workers=8) as stream,
    ):
        records = list(stream)
        paced = stream.counters().paced_seconds

    assert len(records) == 400
    times = sorted(r.time for r in pack_requests(sandbox))
    assert len(times) >= 40
    # Eight threads, one budget: no second of the listing saw more than the limit.
    busiest = max(sum(t <= start + 1.0 for t in times[i:]) for i, start in enumerate(times))
    assert busiest <= 20 + 1
    assert paced > 0


@pytest.mark.sandbox(seed=5, serial_numbers=600, products=8, packages=0, stock_locations=0)
def test_parallel_listings_in_two_processes_share_one_host_budget(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two task processes on one host, each listing four products on four threads.
    set_connections(
        sandbox, monkeypatch, pack_extra={"rate_limit_average": 20, "rate_limit_interval": 1}
    )
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    products = [p["id"] for p in sandbox.pack_records("products")]
    halves = [products[:4], products[4:]]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.hooks.pack_worker",
                json.dumps({"products": half, "max_workers": 4, "per_page": 10}),
            ],
            cwd=Path(__file__).resolve().parents[2],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for half in halves
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            for line in worker.stdout:  # Airflow may log its configuration first
                if line.strip() == "READY":
                    break
        sandbox.clear_requests()
        outputs = []
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            out, _ = worker.communicate(timeout=240)
            assert worker.returncode == 0
            outputs.append(next(r for r in out.splitlines() if r.startswith("RESULT ")))
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()

    ids = [i for output in outputs for i in json.loads(output.removeprefix("RESULT "))["ids"]]
    assert sorted(ids) == sorted(s["id"] for s in sandbox.serial_numbers())
    times = sorted(r.time for r in pack_requests(sandbox))
    assert len(times) >= 60
    # One budget for both processes (host sharing): no second above the 20/s limit.
    busiest = max(sum(t <= start + 1.0 for t in times[i:]) for i, start in enumerate(times))
    assert busiest <= 20 + 1
