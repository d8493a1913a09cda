"""Unit tests of the pure JSON:API helpers: filter encoding, query parts, flattening."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.jsonapi import (
    PREDICATES,
    encode_filters,
    encode_include,
    encode_sort,
    flatten,
    index_included,
    partition_filters,
    related,
    sparse_fieldset,
    split_filter_key,
)

# ---------------------------------------------------------------------- filter keys


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("name_eq", ("name", "eq")),
        ("name_not_eq", ("name", "not_eq")),
        ("name_not_eq_all", ("name", "not_eq_all")),
        ("reference_not_null", ("reference", "not_null")),
        ("reference_origin_eq_or_null", ("reference_origin", "eq_or_null")),
        ("stock_location_id_eq", ("stock_location_id", "eq")),
        ("name_or_code_start", ("name_or_code", "start")),
        ("metadata_jcont", ("metadata", "jcont")),
        ("length_gteq_any", ("length", "gteq_any")),
        ("code_does_not_match_all", ("code", "does_not_match_all")),
    ],
)
def test_split_filter_key_takes_the_longest_documented_predicate(
    key: str, expected: tuple[str, str]
) -> None:
    assert split_filter_key(key) == expected


@pytest.mark.parametrize("key", ["name", "name_like", "_eq", "eq", "name__eq", "9name_eq"])
def test_split_filter_key_rejects_keys_without_a_documented_predicate(key: str) -> None:
    with pytest.raises(InventoryConfigError) as raised:
        split_filter_key(key)
    message = str(raised.value)
    assert repr(key) in message
    assert "name_start" in message  # shows how to write it
    assert "not_eq_or_null" in message  # lists the valid predicates


def test_documented_predicates_are_all_known() -> None:
    for predicate in ("eq", "in", "jcont", "start_any", "not_end_all", "lt_all", "present"):
        assert predicate in PREDICATES
    assert "like" not in PREDICATES


# ---------------------------------------------------------------------- filter values


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"name_eq": "Large box"}, "Large box"),
        ({"length_gt": 40}, "40"),
        ({"length_lt": 40.5}, "40.5"),
        ({"length_lteq": Decimal("12.30")}, "12.30"),
        ({"suppress_etd_eq": True}, "true"),
        ({"reference_null": False}, "false"),
        (
            {"updated_at_gteq": datetime(2025, 6, 1, 2, 3, 4, 567000, tzinfo=timezone.utc)},
            "2025-06-01T02:03:04.567Z",
        ),
        (
            {"updated_at_lt": datetime(2025, 6, 1, 12, tzinfo=timezone(timedelta(hours=2)))},
            "2025-06-01T10:00:00.000Z",
        ),
        ({"created_at_gteq": datetime(2025, 6, 1)}, "2025-06-01T00:00:00.000Z"),
        ({"created_at_gteq": date(2025, 6, 1)}, "2025-06-01T00:00:00.000Z"),
        ({"code_in": ["A-1", "B-2", 3]}, "A-1,B-2,3"),
        ({"code_in": ("A-1",)}, "A-1"),
        ({"code_not_in": {"b", "a"}}, "a,b"),
        ({"name_start_any": ["Small", "Flat"]}, "Small,Flat"),
        ({"code_in": "A-1,B-2"}, "A-1,B-2"),
        ({"metadata_jcont": {"tier": "gold", "fragile": True}}, '{"tier":"gold","fragile":true}'),
        ({"metadata_jcont": '{"tier": "gold"}'}, '{"tier": "gold"}'),
    ],
)
def test_encode_filters_values(filters: dict[str, Any], expected: str) -> None:
    (key,) = filters
    assert encode_filters(filters) == {f"filter[q][{key}]": expected}


def test_encode_filters_keeps_every_filter_in_order() -> None:
    encoded = encode_filters({"name_start": "L", "length_gt": 1, "code_in": ["a", "b"]})
    assert list(encoded.items()) == [
        ("filter[q][name_start]", "L"),
        ("filter[q][length_gt]", "1"),
        ("filter[q][code_in]", "a,b"),
    ]
    assert encode_filters(None) == {}
    assert encode_filters({}) == {}


@pytest.mark.parametrize(
    ("filters", "fragment"),
    [
        ({"name_like": "x"}, "'name_like' is not '<attribute>_<predicate>'"),
        ({"name_eq": None}, "'name_null': True"),
        ({"name_eq": ""}, "'name_blank': True"),
        ({"name_eq": "  "}, "would match every record"),
        ({"name_eq": ["a", "b"]}, "a list predicate such as 'name_in' or 'name_eq_any'"),
        ({"code_in": []}, "empty list"),
        ({"code_in": ["a,b", "c"]}, "contains a comma"),
        ({"code_in": [["a"]]}, "got a list"),
        ({"length_gt": float("nan")}, "finite number"),
        ({"metadata_jcont": "tier=gold"}, "needs a JSON object"),
        ({"metadata_jcont": ["gold"]}, "needs a JSON object"),
        ({"metadata_jcont": {"at": object()}}, "not JSON"),
        ({"name_eq": object()}, "got a object"),
        ({"name_eq": {"a": 1}}, "got a dict"),
    ],
)
def test_encode_filters_rejects_bad_values_naming_the_key(
    filters: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InventoryConfigError) as raised:
        encode_filters(filters)
    assert fragment in str(raised.value)
    assert repr(next(iter(filters))) in str(raised.value)


def test_encode_filters_needs_a_mapping() -> None:
    with pytest.raises(InventoryConfigError, match="filters must be a mapping"):
        encode_filters([("name_eq", "x")])  # type: ignore[arg-type]


def test_jcont_dates_are_sent_as_iso_strings() -> None:
    encoded = encode_filters({"metadata_jcont": {"since": date(2025, 1, 2)}})
    assert encoded == {"filter[q][metadata_jcont]": '{"since":"2025-01-02T00:00:00.000Z"}'}


# ---------------------------------------------------------------------- sort, include, fields


def test_encode_sort_accepts_a_string_or_a_list() -> None:
    assert encode_sort("-created_at,code") == "-created_at,code"
    assert encode_sort(["-created_at", " code "]) == "-created_at,code"
    assert encode_sort(None) is None
    assert encode_sort([]) is None


@pytest.mark.parametrize("sort", ["name;drop", "--name", "-", "name,,code", "name desc"])
def test_encode_sort_rejects_invalid_fields(sort: str) -> None:
    with pytest.raises(InventoryConfigError, match="sort"):
        encode_sort(sort)


def test_encode_include_and_its_validation() -> None:
    assert encode_include(["stock_location", "stock_location.address"]) == (
        "stock_location,stock_location.address"
    )
    assert encode_include("stock_location") == "stock_location"
    with pytest.raises(InventoryConfigError, match="include"):
        encode_include(["stock location"])
    with pytest.raises(InventoryConfigError, match="include must be"):
        encode_include(5)  # type: ignore[arg-type]


def test_sparse_fieldset_adds_included_relationships() -> None:
    assert sparse_fieldset("packages", ["name", "code"], ["stock_location.address"]) == {
        "fields[packages]": "name,code,stock_location"
    }
    assert sparse_fieldset("packages", "name,stock_location", "stock_location") == {
        "fields[packages]": "name,stock_location"
    }
    assert sparse_fieldset("packages", None, ["stock_location"]) == {}
    with pytest.raises(InventoryConfigError, match="fields"):
        sparse_fieldset("packages", ["name", "co-de"])


# ---------------------------------------------------------------------- partitions


def test_partition_filters() -> None:
    assert partition_filters(None) == {}
    assert partition_filters({"id_gteq": None, "id_lt": "M"}) == {"id_lt": "M"}
    assert partition_filters({"id_gteq": "A", "id_lt": "M"}) == {"id_gteq": "A", "id_lt": "M"}
    with pytest.raises(InventoryConfigError, match="only the keys"):
        partition_filters({"id_gt": "A"})
    with pytest.raises(InventoryConfigError, match="must be a record id"):
        partition_filters({"id_gteq": 5})


# ---------------------------------------------------------------------- flattening


def _package(**relationships: Any) -> dict[str, Any]:
    return {
        "id": "pkg1",
        "type": "packages",
        "links": {"self": "https://x/api/packages/pkg1"},
        "attributes": {"name": "Large", "code": "LRG-1", "metadata": {"tier": "gold"}},
        "relationships": relationships,
        "meta": {"mode": "test"},
    }


LOCATION = {
    "id": "loc1",
    "type": "stock_locations",
    "attributes": {"name": "Milan"},
    "relationships": {"address": {"data": {"type": "addresses", "id": "adr1"}}},
    "meta": {"mode": "test"},
}
ADDRESS = {"id": "adr1", "type": "addresses", "attributes": {"city": "Milan"}}


def test_flatten_without_linkage_keeps_attributes_and_meta() -> None:
    package = _package(stock_location={"links": {"related": "https://x"}})
    assert flatten(package) == {
        "id": "pkg1",
        "type": "packages",
        "name": "Large",
        "code": "LRG-1",
        "metadata": {"tier": "gold"},
        "meta": {"mode": "test"},
    }


def test_flatten_attaches_included_resources_recursively() -> None:
    package = _package(
        stock_location={"data": {"type": "stock_locations", "id": "loc1"}},
        parcels={"data": [{"type": "parcels", "id": "p1"}, {"type": "parcels", "id": "p2"}]},
    )
    parcel = {"id": "p1", "type": "parcels", "attributes": {"weight": 2}}
    record = flatten(package, index_included([LOCATION, ADDRESS, parcel]))
    assert record["stock_location_id"] == "loc1"
    assert record["stock_location"] == {
        "id": "loc1",
        "type": "stock_locations",
        "name": "Milan",
        "meta": {"mode": "test"},
        "address_id": "adr1",
        "address": {"id": "adr1", "type": "addresses", "city": "Milan", "meta": None},
    }
    # p2 was not included: the list holds what came back
    assert record["parcels"] == [{"id": "p1", "type": "parcels", "weight": 2, "meta": None}]
    assert "parcels_id" not in record


def test_flatten_empty_to_one_linkage_is_none() -> None:
    record = flatten(_package(stock_location={"data": None}))
    assert record["stock_location_id"] is None
    assert "stock_location" not in record


def test_flatten_does_not_loop_on_cyclic_includes() -> None:
    package = _package(stock_location={"data": {"type": "stock_locations", "id": "loc1"}})
    location = {
        **LOCATION,
        "relationships": {"packages": {"data": [{"type": "packages", "id": "pkg1"}]}},
    }
    record = flatten(package, index_included([location, package]))
    assert record["stock_location"]["packages"] == []


def test_related_resolves_raw_relationships() -> None:
    package = _package(
        stock_location={"data": {"type": "stock_locations", "id": "loc1"}},
        parcels={"data": [{"type": "parcels", "id": "p9"}]},
        versions={"links": {}},
    )
    included = index_included([LOCATION])
    assert related(package, "stock_location", included) == LOCATION
    assert related(package, "parcels", included) == []
    assert related(package, "versions", included) is None
    assert related(package, "unknown", included) is None
