"""where / record_filter / select: semantics, nesting, null handling and validation messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.records import (
    RecordSelection,
    build_predicate,
    build_projection,
    field_getter,
    normalize_select,
    normalize_where,
    validate_fields,
)
from airflow_provider_inventory.sandbox import Sandbox

PACK_FIELDS = frozenset(
    {"id", "product_id", "stock_id", "fulfillment_line_id", "code", "created_at", "updated_at"}
)
PACKAGE_FIELDS = frozenset(
    {
        "id",
        "type",
        "name",
        "code",
        "length",
        "width",
        "height",
        "unit_of_length",
        "created_at",
        "updated_at",
        "reference",
        "reference_origin",
        "metadata",
        "stock_location_id",
        "stock_location",
        "meta",
    }
)

PACKAGE = {
    "id": "pkg_1",
    "code": "SML-1",
    "length": 21.5,
    "reference": None,
    "metadata": {"tier": "gold", "fragile": False, "dims": {"unit": "cm"}},
    "stock_location": {"id": "loc_1", "name": "Main"},
    "tags": ["a", "b"],
}


@pytest.fixture(scope="module")
def sandbox_data() -> Iterator[Sandbox]:
    """Sandbox-generated records, exactly as the APIs return them (no HTTP needed here)."""
    with Sandbox(seed=11, serial_numbers=300, packages=120, stock_locations=4) as sb:
        yield sb


def keeps(where: dict[str, Any] | None = None, record_filter: Any = None) -> bool:
    return bool(build_predicate(where, record_filter)(PACKAGE))


# ---------------------------------------------------------------------- field paths


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("code", "SML-1"),
        ("metadata.tier", "gold"),
        ("metadata.dims.unit", "cm"),
        ("stock_location.name", "Main"),
        ("missing", None),
        ("metadata.missing", None),
        ("code.length", None),  # through a string: not an object
        ("reference.anything", None),  # through null
        ("tags.0", None),  # lists are not indexed
    ],
)
def test_field_getter_reads_dotted_paths_and_missing_as_none(name: str, expected: Any) -> None:
    assert field_getter(name)(PACKAGE) == expected


# ---------------------------------------------------------------------- where


@pytest.mark.parametrize(
    ("where", "kept"),
    [
        ({"code": "SML-1"}, True),
        ({"code": "LRG-1"}, False),
        ({"length": 21.5}, True),
        ({"length": "21.5"}, False),  # no type coercion
        ({"code": ["LRG-1", "SML-1"]}, True),
        ({"code": ("LRG-1", "MED-1")}, False),
        ({"code": []}, False),  # an empty list matches nothing
        ({"reference": None}, True),  # null
        ({"missing": None}, True),  # missing reads as null
        ({"code": None}, False),
        ({"reference": [None, "REF-1"]}, True),  # membership with null
        ({"metadata.tier": "gold"}, True),
        ({"metadata.tier": "silver"}, False),
        ({"metadata.fragile": False}, True),
        ({"stock_location.name": ["Main", "Backup"]}, True),
        ({"metadata.dims": {"unit": "cm"}}, True),  # an object compares whole
        ({"metadata.dims": [{"unit": "in"}, {"unit": "cm"}]}, True),  # unhashable options
        ({"tags": ["x", "y"]}, False),  # a list-valued field against options: no crash
        ({"code": "SML-1", "metadata.tier": "gold"}, True),  # AND
        ({"code": "SML-1", "metadata.tier": "silver"}, False),
        ({}, True),
        (None, True),
    ],
)
def test_where_semantics(where: dict[str, Any] | None, kept: bool) -> None:
    assert keeps(where) is kept


def test_record_filter_runs_after_where_on_the_full_record() -> None:
    seen: list[dict[str, Any]] = []

    def record_filter(record: dict[str, Any]) -> bool:
        seen.append(record)
        return record["metadata"]["fragile"] is False

    predicate = build_predicate({"code": "SML-1"}, record_filter)

    assert predicate(PACKAGE)
    assert not predicate({**PACKAGE, "code": "other"})
    assert seen == [PACKAGE]  # not called for the record where rejected
    assert not keeps(None, lambda record: record["length"] > 100)


def test_where_rejects_bad_shapes_with_the_field_and_fix() -> None:
    with pytest.raises(InventoryConfigError, match="render_template_as_native_obj"):
        normalize_where("{'code': 'x'}")  # type: ignore[arg-type]
    with pytest.raises(InventoryConfigError, match=r"where\['updated_at'\] must be a JSON value"):
        normalize_where({"updated_at": object()})
    with pytest.raises(InventoryConfigError, match=r"where\['code'\].*got datetime"):
        normalize_where({"code": [datetime(2025, 1, 1)]})
    with pytest.raises(InventoryConfigError, match=r"invalid field name 'metadata.'"):
        normalize_where({"metadata.": "x"})
    with pytest.raises(InventoryConfigError, match="field names must be strings"):
        normalize_where({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(InventoryConfigError, match="record_filter must be a callable"):
        build_predicate(None, "lambda r: True")  # type: ignore[arg-type]


def test_normalize_where_turns_list_likes_into_tuples() -> None:
    assert normalize_where({"a": ["x", "y"], "b": {"z"}, "c": None}) == {
        "a": ("x", "y"),
        "b": ("z",),
        "c": None,
    }


# ---------------------------------------------------------------------- select


def test_select_projects_flat_in_select_order_with_none_for_missing() -> None:
    project = build_projection(["code", "metadata.tier", "stock_location.name", "missing"])

    projected = project(PACKAGE)

    assert projected == {
        "code": "SML-1",
        "metadata.tier": "gold",
        "stock_location.name": "Main",
        "missing": None,
    }
    assert list(projected) == ["code", "metadata.tier", "stock_location.name", "missing"]
    assert "id" not in projected  # id is kept only if selected


def test_select_of_an_object_field_keeps_its_whole_value() -> None:
    assert build_projection(["id", "metadata"])(PACKAGE) == {
        "id": "pkg_1",
        "metadata": PACKAGE["metadata"],
    }


def test_select_none_keeps_records_unchanged() -> None:
    assert build_projection(None)(PACKAGE) is PACKAGE


def test_select_accepts_a_comma_separated_string_and_drops_duplicates() -> None:
    assert normalize_select(" id, code ,metadata.tier,code ") == ("id", "code", "metadata.tier")
    assert normalize_select(["id", "id"]) == ("id",)


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ([], "select names no field"),
        (" , ", "select names no field"),
        ({"id": 1}, "select must be a list of field names"),
        (42, "select must be a list of field names"),
        (["id", ""], "invalid field name ''"),
        (["id", 3], "field names must be strings"),
    ],
)
def test_select_rejects_bad_values(select: Any, message: str) -> None:
    with pytest.raises(InventoryConfigError, match=message):
        normalize_select(select)


# ---------------------------------------------------------------------- validation against the API


def test_validate_fields_accepts_known_and_dotted_paths_under_known_fields() -> None:
    validate_fields(["code", "metadata.tier", "stock_location.name"], PACKAGE_FIELDS, "where")
    validate_fields(list(PACK_FIELDS), PACK_FIELDS, "select")


def test_validate_fields_message_lists_unknown_known_and_suggestions() -> None:
    with pytest.raises(InventoryConfigError) as raised:
        validate_fields(["stok_id", "code", "warehouse"], PACK_FIELDS, "where")

    message = str(raised.value)
    assert message.startswith("where names fields the API does not return: 'stok_id', 'warehouse'.")
    assert "Did you mean 'stok_id' -> 'stock_id'?" in message
    assert (
        "Known fields: code, created_at, fulfillment_line_id, id, product_id, stock_id, "
        "updated_at;" in message
    )


def test_validate_fields_rejects_a_path_under_an_unknown_field() -> None:
    with pytest.raises(InventoryConfigError, match=r"select names field .*'metadata\.tier'"):
        validate_fields(["metadata.tier"], PACK_FIELDS, "select")
    with pytest.raises(InventoryConfigError, match=r"'metdata.tier' -> 'metadata.tier'"):
        validate_fields(["metdata.tier"], PACKAGE_FIELDS, "where")


def test_selection_build_validates_where_and_select_against_known_fields() -> None:
    with pytest.raises(InventoryConfigError, match=r"^where names field"):
        RecordSelection.build(where={"sku": "x"}, known_fields=PACK_FIELDS)
    with pytest.raises(InventoryConfigError, match=r"^select names field"):
        RecordSelection.build(select=["id", "name"], known_fields=PACK_FIELDS)
    # without known fields, anything well-formed goes
    RecordSelection.build(where={"sku": "x"}, select=["name"])


# ---------------------------------------------------------------------- RecordSelection on API data


def test_selection_filters_and_projects_serial_numbers(sandbox_data: Sandbox) -> None:
    records = sandbox_data.serial_numbers()
    stock_id = records[0]["stock_id"]
    selection = RecordSelection.build(
        where={"stock_id": stock_id, "fulfillment_line_id": None},
        select="id, code",
        known_fields=PACK_FIELDS,
    )

    result = list(selection.apply(iter(records)))

    expected = [
        {"id": r["id"], "code": r["code"]}
        for r in records
        if r["stock_id"] == stock_id and r["fulfillment_line_id"] is None
    ]
    assert result == expected


def test_selection_on_nested_package_fields_with_record_filter(sandbox_data: Sandbox) -> None:
    packages = sandbox_data.packages()
    selection = RecordSelection.build(
        where={"metadata.tier": ["gold", "silver"], "meta.mode": "test"},
        record_filter=lambda record: record["length"] >= 30,
        select=["id", "metadata.tier", "length"],
        known_fields=PACKAGE_FIELDS,
    )

    result = list(selection.apply(packages))

    expected = [
        {"id": p["id"], "metadata.tier": p["metadata"].get("tier"), "length": p["length"]}
        for p in packages
        if p["metadata"].get("tier") in ("gold", "silver") and p["length"] >= 30
    ]
    assert expected  # the data exercises both branches
    assert len(expected) < len(packages)
    assert result == expected


def test_identity_selection_passes_records_through_untouched(sandbox_data: Sandbox) -> None:
    records = sandbox_data.serial_numbers()
    selection = RecordSelection.build()

    assert selection.is_identity
    result = list(selection.apply(records))
    assert result == records
    assert all(a is b for a, b in zip(result, records, strict=True))


def test_selection_is_lazy() -> None:
    pulled: list[int] = []

    def source() -> Iterator[dict[str, Any]]:
        for number in range(1_000_000):
            pulled.append(number)
            yield {"id": str(number)}

    first = next(RecordSelection.build(select=["id"]).apply(source()))

    assert first == {"id": "0"}
    assert pulled == [0]
