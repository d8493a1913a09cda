"""Commerce Layer: OAuth tokens, JSON:API documents, paging, sorting, fieldsets, includes."""

from __future__ import annotations

import functools
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_inventory.sandbox import Sandbox

from .conftest import JSONAPI, cl_all, fetch_token

CREDENTIALS = {"grant_type": "client_credentials"}


def token_request(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    return {
        **CREDENTIALS,
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        **overrides,
    }


def test_token_json_body(sb: Sandbox) -> None:
    before = int(time.time())
    response = requests.post(f"{sb.url}/oauth/token", json=token_request(sb), timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "created_at"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert body["scope"] == "market:all"
    assert before <= body["created_at"] <= int(time.time())
    assert sb.tokens_issued == 1


def test_token_form_body_with_scope_and_lifetime() -> None:
    with Sandbox(token_lifetime=60) as sb:
        data = token_request(sb, scope="market:id:xYZkjABcde stock_location:code:eu_wh")
        first = requests.post(f"{sb.url}/oauth/token", data=data, timeout=5).json()
        second = requests.post(f"{sb.url}/oauth/token", data=data, timeout=5).json()
        assert first["scope"] == "market:id:xYZkjABcde stock_location:code:eu_wh"
        assert first["expires_in"] == 60
        assert first["access_token"] != second["access_token"]
        assert sb.tokens_issued == 2


def test_token_basic_auth(sb: Sandbox) -> None:
    response = requests.post(
        f"{sb.url}/oauth/token",
        data=CREDENTIALS,
        auth=(sb.client_id, sb.client_secret),
        timeout=5,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "overrides", [{"client_secret": "wrong"}, {"client_id": "nobody"}, {"client_id": None}]
)
def test_token_bad_credentials(sb: Sandbox, overrides: dict[str, Any]) -> None:
    response = requests.post(
        f"{sb.url}/oauth/token", json=token_request(sb, **overrides), timeout=5
    )
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["code"] == "UNAUTHORIZED"
    assert error["status"] == "401"
    assert error["title"] == "Invalid credentials"
    assert error["detail"]
    assert sb.tokens_issued == 0


@pytest.mark.parametrize("scope", ["market", "market:all", "warehouse:id:1", "market:id:"])
def test_token_bad_scope(sb: Sandbox, scope: str) -> None:
    response = requests.post(
        f"{sb.url}/oauth/token", json=token_request(sb, scope=scope), timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_token_bad_grant(sb: Sandbox) -> None:
    response = requests.post(
        f"{sb.url}/oauth/token", json=token_request(sb, grant_type="password"), timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_rate_limit() -> None:
    with Sandbox(token_rate_limit=3) as sb:
        statuses = [
            requests.post(f"{sb.url}/oauth/token", json=token_request(sb), timeout=5).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        assert sb.tokens_issued == 3


def test_token_expiry_gives_invalid_token() -> None:
    with Sandbox(token_lifetime=0.2) as sb:
        token = fetch_token(sb)
        headers = {"Accept": JSONAPI, "Authorization": f"Bearer {token}"}
        assert requests.get(f"{sb.url}/api/packages", headers=headers, timeout=5).ok
        time.sleep(0.25)
        response = requests.get(f"{sb.url}/api/packages", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == "INVALID_TOKEN"
        headers["Authorization"] = f"Bearer {fetch_token(sb)}"
        assert requests.get(f"{sb.url}/api/packages", headers=headers, timeout=5).ok


@pytest.mark.parametrize("authorization", [None, "Bearer unknown-token", "Token abc"])
def test_missing_or_unknown_token_is_unauthorized(sb: Sandbox, authorization: str | None) -> None:
    headers = {"Accept": JSONAPI}
    if authorization:
        headers["Authorization"] = authorization
    response = requests.get(f"{sb.url}/api/packages", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_wrong_accept_is_406(sb: Sandbox, accept: str | None) -> None:
    headers = {"Authorization": f"Bearer {fetch_token(sb)}"}
    response = requests.get(
        f"{sb.url}/api/packages", headers={**headers, "Accept": accept or ""}, timeout=5
    )
    assert response.status_code == 406
    error = response.json()["errors"][0]
    assert error["code"] == "NOT_ACCEPTABLE"
    assert error["status"] == "406"


def test_list_document(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    response = shared_cl.get(f"{shared_sb.url}/api/packages", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSONAPI
    document = response.json()
    assert list(document) == ["data", "meta", "links"]
    assert document["meta"] == {"record_count": 100, "page_count": 10}
    expected = shared_sb.packages()[:10]
    assert [o["id"] for o in document["data"]] == [p["id"] for p in expected]
    obj, flat = document["data"][0], expected[0]
    assert obj["type"] == "packages"
    assert obj["meta"] == {"mode": "test"}
    assert obj["links"]["self"] == f"{shared_sb.url}/api/packages/{flat['id']}"
    assert obj["attributes"] == {
        k: v for k, v in flat.items() if k not in ("id", "type", "stock_location_id", "meta")
    }
    assert set(obj["relationships"]) == {
        "stock_location",
        "parcels",
        "attachments",
        "versions",
        "event_stores",
    }
    for name, relationship in obj["relationships"].items():
        assert "data" not in relationship
        assert relationship["links"]["related"] == f"{obj['links']['self']}/{name}"
    links = document["links"]
    assert set(links) == {"first", "next", "last"}
    assert links["first"] == f"{shared_sb.url}/api/packages?page[number]=1&page[size]=10"
    assert links["next"] == f"{shared_sb.url}/api/packages?page[number]=2&page[size]=10"
    assert links["last"] == f"{shared_sb.url}/api/packages?page[number]=10&page[size]=10"


def test_paging_keeps_params_and_ends(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    params = {"page[size]": "25", "page[number]": "4", "sort": "name", "fields[packages]": "name"}
    document = shared_cl.get(f"{shared_sb.url}/api/packages", params=params, timeout=5).json()
    links = document["links"]
    assert "next" not in links
    assert set(links) == {"first", "prev", "last"}
    prev = parse_qs(urlsplit(links["prev"]).query)
    assert prev == {
        "page[number]": ["3"],
        "page[size]": ["25"],
        "sort": ["name"],
        "fields[packages]": ["name"],
    }
    everything = cl_all(shared_cl, f"{shared_sb.url}/api/packages", {"page[size]": "25"})
    assert [o["id"] for o in everything] == [p["id"] for p in shared_sb.packages()]
    beyond = shared_cl.get(
        f"{shared_sb.url}/api/packages", params={"page[number]": "99"}, timeout=5
    ).json()
    assert beyond["data"] == []
    assert "next" not in beyond["links"]


@pytest.mark.parametrize(
    "params",
    [{"page[size]": "26"}, {"page[size]": "0"}, {"page[number]": "0"}, {"page[number]": "x"}],
)
def test_bad_page_values_are_400(
    shared_sb: Sandbox, shared_cl: requests.Session, params: dict[str, str]
) -> None:
    response = shared_cl.get(f"{shared_sb.url}/api/packages", params=params, timeout=5)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert set(error) == {"title", "detail", "code", "status", "source"}
    assert error["status"] == "400"
    assert error["code"] == "INVALID_PAGE_VALUE"
    assert error["source"] == {"parameter": next(iter(params))}


def sort_key(record: dict[str, Any], name: str) -> tuple[bool, Any]:
    return (record[name] is None, record[name])


@pytest.mark.parametrize(
    "sort",
    ["name", "-name", "length,-created_at", "-unit_of_length,width", "reference", "-reference"],
)
def test_sorting(shared_sb: Sandbox, shared_cl: requests.Session, sort: str) -> None:
    got = cl_all(shared_cl, f"{shared_sb.url}/api/packages", {"sort": sort, "page[size]": "25"})
    expected = sorted(shared_sb.packages(), key=lambda p: p["id"])
    for key in reversed(sort.split(",")):
        expected.sort(key=functools.partial(sort_key, name=key.lstrip("-")), reverse=key[0] == "-")
    assert [o["id"] for o in got] == [p["id"] for p in expected]
    if sort == "reference":
        assert got[-1]["attributes"]["reference"] is None  # nulls last ascending
    if sort == "-reference":
        assert got[0]["attributes"]["reference"] is None  # and first descending


def test_bad_sort_is_400(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    response = shared_cl.get(
        f"{shared_sb.url}/api/packages", params={"sort": "-metadata"}, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "INVALID_SORT_CRITERIA"


def test_sparse_fieldset_without_include(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    params = {"fields[packages]": "name,code,parcels"}
    document = shared_cl.get(f"{shared_sb.url}/api/packages", params=params, timeout=5).json()
    for obj in document["data"]:
        assert set(obj["attributes"]) == {"name", "code"}
        assert set(obj["relationships"]) == {"parcels"}
    assert "included" not in document


def test_include_resolves_stock_locations(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    locations = {loc["id"]: loc for loc in shared_sb.stock_locations()}
    packages = {p["id"]: p for p in shared_sb.packages()}
    document = shared_cl.get(
        f"{shared_sb.url}/api/packages",
        params={"include": "stock_location", "page[size]": "25"},
        timeout=5,
    ).json()
    linked = []
    for obj in document["data"]:
        linkage = obj["relationships"]["stock_location"]["data"]
        assert linkage == {
            "type": "stock_locations",
            "id": packages[obj["id"]]["stock_location_id"],
        }
        assert "data" not in obj["relationships"]["parcels"]
        linked.append(linkage["id"])
    included = document["included"]
    assert [o["id"] for o in included] == list(dict.fromkeys(linked))
    for obj in included:
        flat = locations[obj["id"]]
        assert obj["type"] == "stock_locations"
        assert obj["attributes"]["name"] == flat["name"]
        assert obj["attributes"]["metadata"] == flat["metadata"]


def test_sparse_fieldsets_with_include(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    params = {
        "include": "stock_location",
        "fields[packages]": "name,stock_location",
        "fields[stock_locations]": "code",
    }
    document = shared_cl.get(f"{shared_sb.url}/api/packages", params=params, timeout=5).json()
    for obj in document["data"]:
        assert set(obj["attributes"]) == {"name"}
        assert set(obj["relationships"]) == {"stock_location"}
        assert obj["relationships"]["stock_location"]["data"]["type"] == "stock_locations"
    assert document["included"]
    for obj in document["included"]:
        assert set(obj["attributes"]) == {"code"}
        assert obj["relationships"] == {}

    # a relationship left out of the fieldset has no linkage, so nothing is included
    params["fields[packages]"] = "name"
    document = shared_cl.get(f"{shared_sb.url}/api/packages", params=params, timeout=5).json()
    assert all(obj["relationships"] == {} for obj in document["data"])
    assert "included" not in document


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"fields[packages]": "name,colour"}, "INVALID_FIELD"),
        ({"fields[widgets]": "name"}, "INVALID_RESOURCE"),
        ({"include": "warehouse"}, "INVALID_INCLUDE"),
        ({"colour": "red"}, "PARAM_NOT_ALLOWED"),
        ({"filter[name]": "x"}, "FILTER_NOT_ALLOWED"),
    ],
)
def test_bad_parameters_are_400(
    shared_sb: Sandbox, shared_cl: requests.Session, params: dict[str, str], code: str
) -> None:
    response = shared_cl.get(f"{shared_sb.url}/api/packages", params=params, timeout=5)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code


def test_single_resource_and_404(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    package = shared_sb.packages()[3]
    url = f"{shared_sb.url}/api/packages/{package['id']}"
    document = shared_cl.get(url, params={"include": "stock_location"}, timeout=5).json()
    assert document["data"]["id"] == package["id"]
    assert document["data"]["attributes"]["name"] == package["name"]
    assert [o["id"] for o in document["included"]] == [package["stock_location_id"]]
    related = shared_cl.get(f"{url}/stock_location", timeout=5).json()
    assert related["data"]["id"] == package["stock_location_id"]
    parcels = shared_cl.get(f"{url}/parcels", timeout=5).json()
    assert parcels["data"] == []
    assert parcels["meta"]["record_count"] == 0
    for missing in ("/api/packages/nope", "/api/widgets", f"/api/packages/{package['id']}/x"):
        response = shared_cl.get(shared_sb.url + missing, timeout=5)
        assert response.status_code == 404
        error = response.json()["errors"][0]
        assert error["code"] == "RECORD_NOT_FOUND"
        assert error["status"] == "404"


def test_stock_locations_listing(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    got = cl_all(shared_cl, f"{shared_sb.url}/api/stock_locations")
    assert [o["id"] for o in got] == [loc["id"] for loc in shared_sb.stock_locations()]
    assert got[0]["type"] == "stock_locations"
    assert got[0]["attributes"]["code"] == shared_sb.stock_locations()[0]["code"]


def test_writes_are_not_supported(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    response = shared_cl.post(f"{shared_sb.url}/api/packages", json={}, timeout=5)
    assert response.status_code == 405
