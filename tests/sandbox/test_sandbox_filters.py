"""Commerce Layer ``filter[q][...]`` predicates, each checked against the data in Python."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests

from airflow_provider_inventory.sandbox import Sandbox

from .conftest import cl_all

Package = dict[str, Any]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def listed(sb: Sandbox, session: requests.Session, **filters: str) -> list[str]:
    params = {f"filter[q][{k}]": v for k, v in filters.items()}
    params["page[size]"] = "25"
    return [o["id"] for o in cl_all(session, f"{sb.url}/api/packages", params)]


def expected(sb: Sandbox, predicate: Callable[[Package], bool]) -> list[str]:
    return [p["id"] for p in sb.packages() if predicate(p)]


# (filter key, value, Python predicate on a flat package). Values chosen so that each case
# matches some but not all packages of seed 0 (asserted below).
MID = "2025-04-15T00:00:00+00:00"
CASES: list[tuple[str, str, Callable[[Package], bool]]] = [
    ("unit_of_length_eq", "in", lambda p: p["unit_of_length"] == "in"),
    ("unit_of_length_not_eq", "in", lambda p: p["unit_of_length"] != "in"),
    ("code_in", "LRG-00003,SML-00004,MED-00005,XLG-00001", None),  # type: ignore[list-item]
    ("reference_origin_not_in", "erp,wms", lambda p: p["reference_origin"] == "shopify"),
    ("reference_origin_in_or_null", "erp", lambda p: p["reference_origin"] in ("erp", None)),
    ("length_lt", "30", lambda p: p["length"] < 30),
    ("length_lteq", "30.0", lambda p: p["length"] <= 30),
    ("height_gt", "25", lambda p: p["height"] > 25),
    ("width_gteq", "40", lambda p: p["width"] >= 40),
    ("created_at_gteq", MID, lambda p: instant(p["created_at"]) >= instant(MID)),
    ("updated_at_lt", "2025-05-01", lambda p: p["updated_at"] < "2025-05-01"),
    (
        "created_at_gt",
        "2025-04-15T02:00:00+02:00",
        lambda p: instant(p["created_at"]) > instant(MID),
    ),
    ("code_start", "lrg", lambda p: p["code"].startswith("LRG")),
    ("code_not_start", "LRG", lambda p: not p["code"].startswith("LRG")),
    ("name_end", "1", lambda p: p["name"].endswith("1")),
    ("name_cont", "LARGE (", lambda p: "large (" in p["name"].lower()),
    ("name_not_cont", "large", lambda p: "large" not in p["name"].lower()),
    ("code_matches", "%-000_1", lambda p: re.fullmatch(r".*-000.1", p["code"]) is not None),
    ("code_does_not_match", "LRG%", lambda p: not p["code"].startswith("LRG")),
    ("reference_null", "true", lambda p: p["reference"] is None),
    ("reference_null", "false", lambda p: p["reference"] is not None),
    ("reference_origin_not_null", "1", lambda p: p["reference_origin"] is not None),
    ("reference_present", "true", lambda p: bool(p["reference"])),
    ("reference_blank", "true", lambda p: not p["reference"]),
    ("metadata_blank", "true", lambda p: p["metadata"] == {}),
    ("metadata_jcont", '{"tier": "gold"}', lambda p: p["metadata"].get("tier") == "gold"),
    (
        "metadata_jcont",
        '{"tier": "gold", "fragile": true}',
        lambda p: p["metadata"].get("tier") == "gold" and p["metadata"].get("fragile") is True,
    ),
    ("name_or_code_cont", "sml", lambda p: "sml" in p["name"].lower() or "SML" in p["code"]),
    (
        "name_or_code_cont",
        "small",
        lambda p: "small" in p["name"].lower() or "small" in p["code"].lower(),
    ),
    ("code_start_any", "LRG,SML", lambda p: p["code"][:3] in ("LRG", "SML")),
    ("name_cont_all", "large,(7", lambda p: "large" in p["name"].lower() and "(7" in p["name"]),
    ("unit_of_length_eq_any", "cm,in", lambda p: True),
    ("reference_not_eq", "REF-000000", lambda p: p["reference"] is not None),
    ("reference_not_eq_or_null", "REF-000000", lambda p: True),
]


@pytest.mark.parametrize(("key", "value", "predicate"), CASES, ids=[c[0] for c in CASES])
def test_predicate(
    shared_sb: Sandbox,
    shared_cl: requests.Session,
    key: str,
    value: str,
    predicate: Callable[[Package], bool] | None,
) -> None:
    if predicate is None:  # code_in
        codes = value.split(",")
        predicate = lambda p: p["code"] in codes  # noqa: E731
    want = expected(shared_sb, predicate)
    assert listed(shared_sb, shared_cl, **{key: value}) == want
    if key not in ("unit_of_length_eq_any", "reference_not_eq_or_null"):
        assert 0 < len(want) < 100 or key == "code_in"


def test_id_and_keyset_paging(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    """Commerce Layer's SDK pattern: sort=id and filter[q][id_gt]=<last id seen>."""
    seen: list[str] = []
    last = ""
    while True:
        params = {"sort": "id", "page[size]": "25"}
        if last:
            params["filter[q][id_gt]"] = last
        data = shared_cl.get(f"{shared_sb.url}/api/packages", params=params, timeout=5).json()
        if not data["data"]:
            break
        seen.extend(o["id"] for o in data["data"])
        last = seen[-1]
    assert seen == sorted(p["id"] for p in shared_sb.packages())
    some = seen[:3]
    assert listed(shared_sb, shared_cl, id_in=",".join(some)) == expected(
        shared_sb, lambda p: p["id"] in some
    )
    assert listed(shared_sb, shared_cl, id_eq=some[0]) == [some[0]]


@pytest.mark.parametrize("sort", ["id", "name"])
def test_id_ranges_with_other_filters(
    shared_sb: Sandbox, shared_cl: requests.Session, sort: str
) -> None:
    ids = sorted(p["id"] for p in shared_sb.packages())
    low, high = ids[10], ids[80]
    params = {
        "sort": sort,
        "page[size]": "25",
        "filter[q][id_gt]": low,
        "filter[q][id_lteq]": high,
        "filter[q][unit_of_length_eq]": "cm",
    }
    got = [o["id"] for o in cl_all(shared_cl, f"{shared_sb.url}/api/packages", params)]
    want = [
        p
        for p in sorted(shared_sb.packages(), key=lambda p: (p[sort], p["id"]))
        if low < p["id"] <= high and p["unit_of_length"] == "cm"
    ]
    assert got == [p["id"] for p in want]
    assert 0 < len(got) < 70


def test_relationship_filters(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    location = shared_sb.stock_locations()[0]
    want = expected(shared_sb, lambda p: p["stock_location_id"] == location["id"])
    assert want
    assert listed(shared_sb, shared_cl, stock_location_id_eq=location["id"]) == want
    assert listed(shared_sb, shared_cl, stock_location_name_eq=location["name"]) == want
    assert listed(shared_sb, shared_cl, stock_location_code_start=location["code"][:4]) == want


def test_filters_combine_with_and(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    got = listed(shared_sb, shared_cl, unit_of_length_eq="cm", length_gt="50", code_start="XLG")
    want = expected(
        shared_sb,
        lambda p: p["unit_of_length"] == "cm" and p["length"] > 50 and p["code"][:3] == "XLG",
    )
    assert got == want
    assert want


def test_blank_value_is_ignored(shared_sb: Sandbox, shared_cl: requests.Session) -> None:
    assert len(listed(shared_sb, shared_cl, name_eq="")) == 100


def test_boolean_predicates_on_stock_locations(
    shared_sb: Sandbox, shared_cl: requests.Session
) -> None:
    locations = shared_sb.stock_locations()
    url = f"{shared_sb.url}/api/stock_locations"
    for key, value, wanted in [
        ("suppress_etd_true", "true", [x["id"] for x in locations if x["suppress_etd"]]),
        ("suppress_etd_true", "false", [x["id"] for x in locations if not x["suppress_etd"]]),
        ("suppress_etd_false", "1", [x["id"] for x in locations if not x["suppress_etd"]]),
        ("suppress_etd_eq", "true", [x["id"] for x in locations if x["suppress_etd"]]),
    ]:
        got = cl_all(shared_cl, url, {f"filter[q][{key}]": value})
        assert [o["id"] for o in got] == wanted, key


def test_jcont_on_added_nested_metadata(sb: Sandbox) -> None:
    from .conftest import cl_session

    nested = sb.add_package(metadata={"dims": {"unit": "cm", "tags": ["a", "b"]}, "n": 1})
    session = cl_session(sb)
    for wanted, found in [
        ({"dims": {"unit": "cm"}}, True),
        ({"dims": {"tags": ["b"]}}, True),
        ({"n": 1}, True),
        ({"n": 2}, False),
        ({"dims": {"unit": "in"}}, False),
    ]:
        got = listed(sb, session, metadata_jcont=json.dumps(wanted))
        assert (nested["id"] in got) is found, wanted


@pytest.mark.parametrize(
    ("key", "value", "code", "mentions"),
    [
        ("colour_eq", "red", "FILTER_NOT_ALLOWED", "colour"),
        ("name_sounds_like", "x", "FILTER_NOT_ALLOWED", "name_sounds_like"),
        ("name_or_colour_cont", "x", "FILTER_NOT_ALLOWED", "name_or_colour"),
        ("metadata_eq", "x", "FILTER_NOT_ALLOWED", "metadata"),
        ("length_cont", "3", "FILTER_NOT_ALLOWED", "cont"),
        ("name_jcont", "{}", "FILTER_NOT_ALLOWED", "jcont"),
        ("length_gt", "abc", "INVALID_FILTER_VALUE", "abc"),
        ("created_at_gt", "yesterday", "INVALID_FILTER_VALUE", "yesterday"),
        ("metadata_jcont", "[1]", "INVALID_FILTER_VALUE", "JSON object"),
        ("reference_null", "maybe", "INVALID_FILTER_VALUE", "maybe"),
    ],
)
def test_bad_filters_are_400(
    shared_sb: Sandbox, shared_cl: requests.Session, key: str, value: str, code: str, mentions: str
) -> None:
    parameter = f"filter[q][{key}]"
    response = shared_cl.get(f"{shared_sb.url}/api/packages", params={parameter: value}, timeout=5)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == code
    assert error["status"] == "400"
    assert error["source"] == {"parameter": parameter}
    assert mentions in error["detail"]
