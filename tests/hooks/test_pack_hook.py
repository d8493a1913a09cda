"""PackHook listings against the sandbox: exact record sets, filters, pagination, streaming."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError, NotFoundError
from airflow_provider_inventory.hooks.pack import PackHook
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections

pytestmark = pytest.mark.sandbox(seed=7, serial_numbers=300, packages=0, stock_locations=0)


def pack_requests(sb: Sandbox) -> list[Any]:
    """The requests the sandbox answered on the Pack API."""
    return [request for request in sb.requests if request.api == "pack"]


@pytest.fixture
def hook(sandbox_env: Sandbox) -> Iterator[PackHook]:
    with PackHook() as pack:
        yield pack


def where(sb: Sandbox, **fields: Any) -> list[dict[str, Any]]:
    """The sandbox's own serial numbers matching every ``field == value``, in API order."""
    return [r for r in sb.serial_numbers() if all(r[k] == v for k, v in fields.items())]


# ---------------------------------------------------------------------- whole listings


def test_lists_every_serial_number_exactly_in_api_order(
    sandbox_env: Sandbox, hook: PackHook, caplog: pytest.LogCaptureFixture
) -> None:
    records = hook.list_serial_numbers()

    assert records == sandbox_env.serial_numbers()
    assert len(pack_requests(sandbox_env)) == 12  # 300 records at the server's default 25
    assert hook.pages_fetched == 12
    assert (
        "Pack serial numbers: listed 300 records in 12 pages over 1 listing(s) (12 requests, "
        "0 retries, 0.0 s paced)." in caplog.text
    )


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(
            {"pack_link_style": style, "pack_body_shape": body},
            marks=pytest.mark.sandbox(
                seed=3,
                serial_numbers=95,
                packages=0,
                stock_locations=0,
                pack_link_style=style,
                pack_body_shape=body,
            ),
            id=f"{style}-{body}",
        )
        for style in ("absolute", "path", "query")
        for body in ("flat", "wrapped")
    ],
)
def test_follows_every_link_style_and_body_shape(
    sandbox_env: Sandbox, hook: PackHook, shape: dict[str, str]
) -> None:
    records = hook.list_serial_numbers(product_id=sandbox_env.serial_numbers()[0]["product_id"])
    everything = hook.list_serial_numbers(per_page=10)

    assert records == where(sandbox_env, product_id=records[0]["product_id"])
    assert everything == sandbox_env.serial_numbers()
    requested = pack_requests(sandbox_env)
    assert len(requested) == 1 + 10  # one page of <= 25 for the product, 10 pages of 10
    # Every following page kept the filter and the page size the first one set.
    assert all(r.query.get("per_page") == ["10"] for r in requested[1:])


def test_page_size_parameter_goes_to_the_server(sandbox_env: Sandbox, hook: PackHook) -> None:
    records = hook.list_serial_numbers(per_page=100)

    assert records == sandbox_env.serial_numbers()
    assert [r.query.get("per_page") for r in pack_requests(sandbox_env)] == [["100"]] * 3


# ---------------------------------------------------------------------- filters


@pytest.mark.parametrize("field", ["product_id", "stock_id", "code"])
def test_single_filter_value_is_sent_to_the_server(
    sandbox_env: Sandbox, hook: PackHook, field: str
) -> None:
    value = next(r[field] for r in sandbox_env.serial_numbers() if r[field] is not None)

    records = hook.list_serial_numbers(**{field: value})

    assert records == where(sandbox_env, **{field: value})
    assert records
    assert all(r.query[f"filter[{field}]"] == [value] for r in pack_requests(sandbox_env))


def test_filters_combine_with_and(sandbox_env: Sandbox, hook: PackHook) -> None:
    sample = next(r for r in sandbox_env.serial_numbers() if r["stock_id"] is not None)

    records = hook.list_serial_numbers(
        product_id=sample["product_id"], stock_id=sample["stock_id"], per_page=5
    )

    assert records == where(
        sandbox_env, product_id=sample["product_id"], stock_id=sample["stock_id"]
    )


def test_list_of_values_merges_one_listing_per_value_in_order(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    products = list(dict.fromkeys(r["product_id"] for r in sandbox_env.serial_numbers()))[:3]
    wanted = [products[2], products[0]]

    records = hook.list_serial_numbers(product_id=wanted, per_page=20)

    expected = where(sandbox_env, product_id=wanted[0]) + where(sandbox_env, product_id=wanted[1])
    assert records == expected
    first_pages = [r for r in pack_requests(sandbox_env) if "cursor" not in r.query]
    assert [r.query["filter[product_id]"] for r in first_pages] == [[wanted[0]], [wanted[1]]]


def test_lists_of_several_filters_run_their_cartesian_product(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    data = sandbox_env.serial_numbers()
    products = list(dict.fromkeys(r["product_id"] for r in data))[:2]
    stocks = list(dict.fromkeys(r["stock_id"] for r in data if r["stock_id"]))[:2]

    records = hook.list_serial_numbers(product_id=products, stock_id=stocks)

    expected = [
        record
        for product in products
        for stock in stocks
        for record in where(sandbox_env, product_id=product, stock_id=stock)
    ]
    assert records == expected
    first_pages = [r for r in pack_requests(sandbox_env) if "cursor" not in r.query]
    assert len(first_pages) == 4


def test_codes_list_returns_each_record_once(sandbox_env: Sandbox, hook: PackHook) -> None:
    data = sandbox_env.serial_numbers()
    codes = [data[40]["code"], data[3]["code"], data[40]["code"], "NO-SUCH-CODE"]

    records = hook.list_serial_numbers(code=codes)

    assert records == [data[40], data[3]]
    assert len(pack_requests(sandbox_env)) == 3  # the repeated code is listed once


def test_record_moving_between_merged_listings_is_not_duplicated(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    data = sandbox_env.serial_numbers()
    stocks = list(dict.fromkeys(r["stock_id"] for r in data if r["stock_id"]))[:2]
    moved = where(sandbox_env, stock_id=stocks[0])[0]
    # After the first listing (one page of 100), the record moves to the second stock.

    def move() -> None:
        sandbox_env.update_serial_number(moved["id"], stock_id=stocks[1])

    sandbox_env.schedule(1, move)

    records = hook.list_serial_numbers(stock_id=stocks, per_page=100)

    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert ids.count(moved["id"]) == 1
    assert {r["id"] for r in records} == {
        r["id"] for r in sandbox_env.serial_numbers() if r["stock_id"] in stocks
    }


def test_empty_list_of_values_selects_nothing(sandbox_env: Sandbox, hook: PackHook) -> None:
    assert hook.list_serial_numbers(product_id=[]) == []
    assert pack_requests(sandbox_env) == []


# ---------------------------------------------------------------------- warehouse endpoint


def test_warehouse_endpoint_lists_the_products_serial_numbers_in_its_stocks(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    warehouse_id, stocks = next(iter(sandbox_env.warehouses().items()))
    product = sandbox_env.serial_numbers()[0]["product_id"]

    records = hook.list_serial_numbers(warehouse_id=warehouse_id, product_id=product, per_page=7)

    expected = [r for r in where(sandbox_env, product_id=product) if r["stock_id"] in stocks]
    assert records == expected
    assert records
    paths = {r.path for r in pack_requests(sandbox_env)}
    assert paths == {f"/v1/warehouses/{warehouse_id}/products/{product}/serial-numbers"}


def test_warehouse_endpoint_with_stock_filter_and_product_list(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    warehouse_id, stocks = next(iter(sandbox_env.warehouses().items()))
    products = list(dict.fromkeys(r["product_id"] for r in sandbox_env.serial_numbers()))[:2]
    # A stock holds one product: the second stock of the warehouse holding one of these two.
    stock = [s for s in stocks if any(where(sandbox_env, stock_id=s, product_id=products[1]))][1]

    records = hook.list_serial_numbers(
        warehouse_id=warehouse_id, product_id=products, stock_id=stock
    )

    expected = [r for p in products for r in where(sandbox_env, product_id=p, stock_id=stock)]
    assert records == expected
    assert records


def test_warehouse_without_product_is_refused(sandbox_env: Sandbox, hook: PackHook) -> None:
    with pytest.raises(InventoryConfigError, match="warehouse_id needs product_id"):
        hook.iter_serial_numbers(warehouse_id="wh_1")
    assert pack_requests(sandbox_env) == []


# ---------------------------------------------------------------------- date windows


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_window_is_half_open_at_both_boundaries(sandbox_env: Sandbox, hook: PackHook) -> None:
    stamps = sorted({r["updated_at"] for r in sandbox_env.serial_numbers()})
    since, before = stamps[50], stamps[200]

    records = hook.list_serial_numbers(updated_since=since, updated_before=before)

    expected = [r for r in sandbox_env.serial_numbers() if since <= r["updated_at"] < before]
    assert records == expected
    assert any(r["updated_at"] == since for r in records)  # since is inclusive
    assert all(r["updated_at"] != before for r in records)  # before is exclusive


def test_window_accepts_datetime_pendulum_and_naive_as_utc(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    stamps = sorted({r["updated_at"] for r in sandbox_env.serial_numbers()})
    since = _instant(stamps[10])
    before = _instant(stamps[20])
    expected = [
        r for r in sandbox_env.serial_numbers() if stamps[10] <= r["updated_at"] < stamps[20]
    ]

    as_pendulum = hook.list_serial_numbers(
        updated_since=pendulum.instance(since).in_timezone("Europe/Rome"),
        updated_before=pendulum.instance(before),
    )
    as_naive = hook.list_serial_numbers(
        updated_since=since.replace(tzinfo=None), updated_before=before.replace(tzinfo=None)
    )
    as_offset = hook.list_serial_numbers(
        updated_since=since.astimezone(timezone(timedelta(hours=-5))).isoformat()
    )

    assert as_pendulum == expected
    assert as_naive == expected
    assert as_offset == [r for r in sandbox_env.serial_numbers() if r["updated_at"] >= stamps[10]]


def test_window_open_at_one_end(sandbox_env: Sandbox, hook: PackHook) -> None:
    stamps = sorted({r["updated_at"] for r in sandbox_env.serial_numbers()})

    before_only = hook.list_serial_numbers(updated_before=stamps[5])

    assert before_only == [r for r in sandbox_env.serial_numbers() if r["updated_at"] < stamps[5]]
    assert len(before_only) == 5


def test_inverted_window_is_refused_before_any_request(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    with pytest.raises(InventoryConfigError, match="must be earlier than"):
        hook.iter_serial_numbers(
            updated_since="2025-06-01T00:00:00Z", updated_before="2025-05-01T00:00:00Z"
        )
    with pytest.raises(InventoryConfigError, match="updated_since"):
        hook.iter_serial_numbers(updated_since="yesterday")
    assert pack_requests(sandbox_env) == []


# ---------------------------------------------------------------------- single record


def test_get_serial_number_returns_the_exact_record(sandbox_env: Sandbox, hook: PackHook) -> None:
    record = sandbox_env.serial_numbers()[123]

    assert hook.get_serial_number(record["code"]) == record


def test_get_serial_number_unknown_code_is_a_clear_not_found(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    with pytest.raises(NotFoundError, match="No serial number with code 'NOPE-00'") as caught:
        hook.get_serial_number("NOPE-00")
    assert sandbox_env.organization_id in str(caught.value)


# ---------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"per_page": 0}, "per_page must be a whole number >= 1"),
        ({"per_page": -5}, "per_page must be a whole number >= 1"),
        ({"per_page": "25"}, "per_page must be a whole number >= 1"),
        ({"per_page": True}, "per_page must be a whole number >= 1"),
        ({"product_id": ""}, "product_id is an empty string"),
        ({"stock_id": ["stk_1", "  "]}, "stock_id is an empty string"),
        ({"code": 42}, "code must be a string or a list of strings"),
        ({"product_id": [1, 2]}, "product_id values must be strings"),
        ({"product_id": {"a"}}, "product_id must be a string or a list of strings"),
        ({"warehouse_id": ""}, "warehouse_id is an empty string"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    sandbox_env: Sandbox, hook: PackHook, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InventoryConfigError, match=message):
        hook.iter_serial_numbers(**arguments)
    assert pack_requests(sandbox_env) == []


# ---------------------------------------------------------------------- streaming


@pytest.mark.sandbox(seed=11, serial_numbers=10_050, packages=0, stock_locations=0)
def test_streams_ten_thousand_records_one_page_ahead(sandbox_env: Sandbox, hook: PackHook) -> None:
    per_page = 100
    expected = sandbox_env.serial_numbers()
    stream = hook.iter_serial_numbers(per_page=per_page)
    assert pack_requests(sandbox_env) == []  # lazy: nothing is sent before the first record

    count = 0
    most_requested_ahead = 0
    for position, record in enumerate(stream):
        assert record == expected[position]
        count += 1
        if position % per_page == 0:
            page = position // per_page + 1  # the caller now holds this page
            requested = len(pack_requests(sandbox_env))
            # At most the page held plus one fetched ahead: memory stays at about one page.
            assert requested <= page + 1
            most_requested_ahead = max(most_requested_ahead, requested - page)

    assert count == len(expected) == 10_050
    assert len(pack_requests(sandbox_env)) == 101
    assert hook.pages_fetched == 101
    assert most_requested_ahead <= 1


@pytest.mark.sandbox(seed=11, serial_numbers=5_000, packages=0, stock_locations=0)
def test_streaming_memory_stays_at_about_one_page(sandbox_env: Sandbox, hook: PackHook) -> None:
    hook.client  # noqa: B018 - build the session outside the measurement

    tracemalloc.start()
    try:
        streamed = sum(1 for _ in hook.iter_serial_numbers(per_page=100))
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        records = hook.list_serial_numbers(per_page=100)
        _, materialised_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert streamed == len(records) == 5_000
    # Holding all 50 pages costs several times what streaming them does (measured ~7x; the
    # streaming peak includes the in-process sandbox encoding its pages).
    assert streaming_peak * 4 < materialised_peak


@pytest.mark.sandbox(seed=11, serial_numbers=500, packages=0, stock_locations=0)
def test_next_page_is_fetched_while_the_caller_holds_the_current_one(
    sandbox_env: Sandbox, hook: PackHook
) -> None:
    stream = hook.iter_serial_numbers(per_page=50)
    first = next(stream)
    # Not a timing assertion: wait (up to 5 s) for the read-ahead the caller did not ask for.
    for _ in range(500):
        if len(pack_requests(sandbox_env)) >= 2:
            break
        time.sleep(0.01)

    assert first == sandbox_env.serial_numbers()[0]
    # Page 2 was fetched and waits; page 3 may be in flight (the fetching thread does not wait
    # for the caller to pick a page up before requesting the next); nothing further.
    time.sleep(0.2)
    assert len(pack_requests(sandbox_env)) in (2, 3)


@pytest.mark.sandbox(seed=11, serial_numbers=500, packages=0, stock_locations=0)
def test_abandoned_stream_stops_fetching(sandbox_env: Sandbox, hook: PackHook) -> None:
    stream = hook.iter_serial_numbers(per_page=50)
    taken = [next(stream) for _ in range(60)]  # into the second page
    stream.close()
    sent = len(pack_requests(sandbox_env))

    assert taken == sandbox_env.serial_numbers()[:60]
    assert sent <= 4  # the page held, one waiting, one in flight
    assert hook.list_serial_numbers(per_page=100) == sandbox_env.serial_numbers()
    assert len(pack_requests(sandbox_env)) == sent + 5


def test_custom_page_size_parameter_name(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox_env, monkeypatch, pack_extra={"page_size_param": "limit"})
    with PackHook() as hook:
        records = hook.list_serial_numbers(per_page=60)

    assert records == sandbox_env.serial_numbers()

    first = pack_requests(sandbox_env)[0]
    assert first.query.get("limit") == ["60"]
    assert "per_page" not in first.query
