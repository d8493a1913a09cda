"""The Pack serial-number endpoints: filters, cursor links, body shapes, auth."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from airflow_provider_inventory.sandbox import Sandbox

from .conftest import pack_session, pack_url


def links_of(body: dict[str, Any]) -> tuple[str | None, str | None]:
    if "links" in body:
        return body["links"]["prev"], body["links"]["next"]
    return body["prev"], body["next"]


def walk(
    session: requests.Session, url: str, params: dict[str, Any] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(request URL, body) for every page, following next links resolved against the URL."""
    response = session.get(url, params=params, timeout=5)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        yield response.url, body
        _, next_link = links_of(body)
        if next_link is None:
            return
        response = session.get(urljoin(response.url, next_link), timeout=5)


def collect(session: requests.Session, url: str, params: dict[str, Any] | None = None) -> list[Any]:
    return [record for _, body in walk(session, url, params) for record in body["data"]]


@pytest.fixture(scope="module")
def pack_sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, serial_numbers=230) as sandbox:
        yield sandbox


def test_first_page_flat_shape(pack_sb: Sandbox) -> None:
    body = pack_session(pack_sb).get(pack_url(pack_sb), timeout=5).json()
    assert list(body) == ["data", "prev", "next", "per_page"]
    assert body["per_page"] == 25
    assert len(body["data"]) == 25
    assert body["prev"] is None
    assert body["data"] == pack_sb.serial_numbers()[:25]


@pytest.mark.parametrize("style", ["absolute", "path", "query"])
@pytest.mark.parametrize("shape", ["flat", "wrapped"])
def test_link_styles_and_body_shapes_walk_everything(style: str, shape: str) -> None:
    with Sandbox(seed=0, serial_numbers=95, pack_link_style=style, pack_body_shape=shape) as sb:
        session = pack_session(sb)
        pages = list(walk(session, pack_url(sb), {"per_page": 20}))
        assert [len(body["data"]) for _, body in pages] == [20, 20, 20, 20, 15]
        assert [r for _, body in pages for r in body["data"]] == sb.serial_numbers()
        _first_url, first = pages[0]
        if shape == "wrapped":
            assert list(first) == ["data", "links", "meta"]
            assert first["meta"] == {"per_page": 20}
        else:
            assert first["per_page"] == 20
        _, next_link = links_of(first)
        assert next_link is not None
        if style == "absolute":
            assert next_link.startswith(sb.url + "/v1/organizations/")
        elif style == "path":
            assert next_link.startswith("/v1/organizations/org_sandbox/serial-numbers?")
        else:
            assert next_link.startswith("?cursor=")
        query = parse_qs(urlsplit(next_link).query)
        assert query["per_page"] == ["20"]
        assert len(query["cursor"]) == 1
        assert links_of(pages[-1][1])[1] is None


def test_prev_links_walk_back(pack_sb: Sandbox) -> None:
    session = pack_session(pack_sb)
    pages = list(walk(session, pack_url(pack_sb), {"per_page": 50}))
    assert len(pages) == 5
    url, body = pages[-1]
    backwards = [body["data"]]
    while body["prev"] is not None:
        url = urljoin(url, body["prev"])
        body = session.get(url, timeout=5).json()
        backwards.append(body["data"])
    assert backwards[::-1] == [b["data"] for _, b in pages]
    assert body["next"] is not None  # the first page reached backwards links forward again


@pytest.mark.parametrize("field", ["product_id", "stock_id", "code"])
def test_each_filter(pack_sb: Sandbox, field: str) -> None:
    records = pack_sb.serial_numbers()
    value = next(r[field] for r in records if r[field] is not None)
    got = collect(pack_session(pack_sb), pack_url(pack_sb), {f"filter[{field}]": value})
    assert got == [r for r in records if r[field] == value]
    assert got


def test_filters_combine_and_are_kept_in_links(pack_sb: Sandbox) -> None:
    records = pack_sb.serial_numbers()
    product, stock = records[0]["product_id"], next(r["stock_id"] for r in records if r["stock_id"])
    params = {"filter[product_id]": product, "filter[stock_id]": stock, "per_page": 3}
    session = pack_session(pack_sb)
    pages = list(walk(session, pack_url(pack_sb), params))
    assert len(pages) > 1
    for _, body in pages[:-1]:
        query = parse_qs(urlsplit(body["next"]).query)
        assert query["filter[product_id]"] == [product]
        assert query["filter[stock_id]"] == [stock]
    expected = [r for r in records if r["product_id"] == product and r["stock_id"] == stock]
    assert [r for _, b in pages for r in b["data"]] == expected


def test_filter_without_match_is_empty(pack_sb: Sandbox) -> None:
    body = (
        pack_session(pack_sb)
        .get(pack_url(pack_sb), params={"filter[code]": "NOPE"}, timeout=5)
        .json()
    )
    assert body == {"data": [], "prev": None, "next": None, "per_page": 25}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"per_page": 101}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"filter[colour]": "red"}, "filter[colour]"),
    ],
)
def test_bad_parameters_answer_400(pack_sb: Sandbox, params: dict[str, Any], fragment: str) -> None:
    response = pack_session(pack_sb).get(pack_url(pack_sb), params=params, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == 400
    assert fragment in response.json()["error"]["message"]


def test_max_per_page(pack_sb: Sandbox) -> None:
    response = pack_session(pack_sb).get(pack_url(pack_sb), params={"per_page": 100}, timeout=5)
    assert len(response.json()["data"]) == 100


def test_cursor_is_stable_under_inserts_and_deletes(sb: Sandbox) -> None:
    session = pack_session(sb)
    before = sb.serial_numbers()
    first = session.get(pack_url(sb), params={"per_page": 10}, timeout=5).json()
    assert first["data"] == before[:10]
    # delete records on the page already read and right after it, insert older and newer ones
    sb.delete_serial_number(before[0]["id"])
    sb.delete_serial_number(before[10]["id"])
    sb.add_serial_number(created_at=before[5]["created_at"])  # lands on the page already read
    newest = sb.add_serial_number()
    rest = collect(session, urljoin(pack_url(sb), first["next"]))
    assert rest == [r for r in sb.serial_numbers() if r["created_at"] > before[9]["created_at"]]
    assert rest[0] == before[11]
    assert rest[-1] == newest


def test_empty_page_after_deleting_the_rest(sb: Sandbox) -> None:
    session = pack_session(sb)
    first = session.get(pack_url(sb), params={"per_page": 100}, timeout=5).json()
    for record in sb.serial_numbers()[100:]:
        sb.delete_serial_number(record["id"])
    last = session.get(urljoin(pack_url(sb), first["next"]), timeout=5).json()
    assert last["data"] == []
    assert last["next"] is None
    assert last["prev"] is not None
    back = session.get(urljoin(pack_url(sb), last["prev"]), timeout=5).json()
    assert back["data"] == first["data"] == sb.serial_numbers()


def test_warehouse_endpoint(pack_sb: Sandbox) -> None:
    records = pack_sb.serial_numbers()
    session = pack_session(pack_sb)
    for warehouse, stocks in pack_sb.warehouses().items():
        product = records[0]["product_id"]
        url = f"{pack_sb.url}/v1/warehouses/{warehouse}/products/{product}/serial-numbers"
        got = collect(session, url, {"per_page": 7})
        expected = [r for r in records if r["product_id"] == product and r["stock_id"] in stocks]
        assert got == expected
        assert got
        stock = stocks[0]
        got = collect(session, url, {"filter[stock_id]": stock})
        assert got == [r for r in expected if r["stock_id"] == stock]
        code = expected[0]["code"]
        assert collect(session, url, {"filter[code]": code}) == [expected[0]]
        response = session.get(url, params={"filter[product_id]": product}, timeout=5)
        assert response.status_code == 400


def test_unknown_warehouse_is_404(pack_sb: Sandbox) -> None:
    url = f"{pack_sb.url}/v1/warehouses/wh_nope/products/prod_x/serial-numbers"
    assert pack_session(pack_sb).get(url, timeout=5).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2FuZGJveA=="}],
)
def test_auth_401(pack_sb: Sandbox, headers: dict[str, str]) -> None:
    response = requests.get(pack_url(pack_sb), headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert response.json()["error"]["message"]


def test_unknown_organization_is_404_and_post_is_405(pack_sb: Sandbox) -> None:
    session = pack_session(pack_sb)
    response = session.get(f"{pack_sb.url}/v1/organizations/org_other/serial-numbers", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404
    assert session.get(f"{pack_sb.url}/v1/nothing", timeout=5).status_code == 404
    assert session.post(pack_url(pack_sb), timeout=5).status_code == 405


def test_keep_alive_reuses_one_connection(pack_sb: Sandbox) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", pack_sb.port, timeout=5)
    path = urlsplit(pack_url(pack_sb)).path
    headers = {"Authorization": f"Bearer {pack_sb.pack_token}"}
    try:
        connection.request("GET", path, headers=headers)
        first = connection.getresponse()
        body = first.read()
        assert first.version == 11
        assert first.getheader("Content-Length") == str(len(body))
        sock = connection.sock
        assert sock is not None  # the server did not ask to close
        connection.request("GET", path + "?per_page=1", headers=headers)
        second = connection.getresponse()
        second.read()
        assert second.status == 200
        assert connection.sock is sock
    finally:
        connection.close()


def test_large_listing_is_linear() -> None:
    """50,000 records in pages of 100: every page costs about the same (no offset scans)."""
    with Sandbox(seed=0, serial_numbers=50_000, packages=0) as sb:
        session = pack_session(sb)
        url: str | None = pack_url(sb) + "?per_page=100"
        timings: list[float] = []
        count = 0
        while url:
            started = time.perf_counter()
            body = session.get(url, timeout=10).json()
            timings.append(time.perf_counter() - started)
            count += len(body["data"])
            url = body["next"]
        assert count == 50_000
        assert len(timings) == 500
        first, last = sorted(timings[:100])[50], sorted(timings[-100:])[50]  # medians
        assert last < first * 3 + 0.005
        assert sum(timings) < 20
