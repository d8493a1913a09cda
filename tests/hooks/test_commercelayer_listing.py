"""CommerceLayerHook listings against the sandbox: filters, sort, fields, includes, paging,
consistency under concurrent changes, partitions and parallel listing."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError, NotFoundError
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from airflow_provider_inventory.jsonapi import related
from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(packages=300, stock_locations=5)

Record = dict[str, Any]


@pytest.fixture
def hook(sandbox_env: Sandbox) -> Iterator[CommerceLayerHook]:
    with CommerceLayerHook() as cl_hook:
        yield cl_hook


def unlinked(record: Record) -> Record:
    """A sandbox package as the hook yields it without ``include`` (no relationship linkage)."""
    return {k: v for k, v in record.items() if k != "stock_location_id"}


def by_id(records: list[Record]) -> dict[str, Record]:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "a record was yielded twice"
    return {r["id"]: r for r in records}


def api_requests(sb: Sandbox, path: str = "/api/packages") -> list[Any]:
    return [r for r in sb.requests if r.path == path]


def _like(pattern: str) -> Callable[[str], bool]:
    regex = re.compile(re.escape(pattern).replace("%", ".*"), re.IGNORECASE)
    return lambda value: regex.fullmatch(value) is not None


# ---------------------------------------------------------------------- filters

FILTER_CASES: list[tuple[str, dict[str, Any], Callable[[Record], bool]]] = [
    ("eq", {"unit_of_length_eq": "in"}, lambda r: r["unit_of_length"] == "in"),
    ("not_eq", {"unit_of_length_not_eq": "in"}, lambda r: r["unit_of_length"] != "in"),
    (
        "numeric gt + lteq",
        {"length_gt": 50, "width_lteq": 40.5},
        lambda r: r["length"] > 50 and r["width"] <= 40.5,
    ),
    (
        "in",
        {"code_in": ["SML-00001", "LRG-00035", "NOPE-1"]},
        lambda r: r["code"] in {"SML-00001", "LRG-00035"},
    ),
    (
        "not_in (nulls never match)",
        {"reference_origin_not_in": ["erp", "wms"]},
        lambda r: r["reference_origin"] not in (None, "erp", "wms"),
    ),
    ("start", {"name_start": "large"}, lambda r: r["name"].lower().startswith("large")),
    ("end", {"code_end": "7"}, lambda r: r["code"].endswith("7")),
    (
        "_or_ cont",
        {"name_or_code_cont": "xl"},
        lambda r: "xl" in r["name"].lower() or "xl" in r["code"].lower(),
    ),
    ("matches", {"code_matches": "SML-000%"}, lambda r: _like("SML-000%")(r["code"])),
    (
        "start_any",
        {"name_start_any": ["Small", "Flat"]},
        lambda r: r["name"].startswith(("Small", "Flat")),
    ),
    ("null", {"reference_null": True}, lambda r: r["reference"] is None),
    ("present", {"reference_origin_present": True}, lambda r: bool(r["reference_origin"])),
    (
        "eq_or_null",
        {"reference_origin_eq_or_null": "erp"},
        lambda r: r["reference_origin"] in (None, "erp"),
    ),
    ("jcont", {"metadata_jcont": {"tier": "gold"}}, lambda r: r["metadata"].get("tier") == "gold"),
    (
        "jcont two keys",
        {"metadata_jcont": {"tier": "gold", "fragile": True}},
        lambda r: r["metadata"].get("tier") == "gold" and r["metadata"].get("fragile") is True,
    ),
    (
        "datetimes",
        {
            "created_at_gteq": datetime(2025, 4, 1, tzinfo=timezone.utc),
            "created_at_lt": "2025-05-01T00:00:00Z",
        },
        lambda r: "2025-04-01T00:00:00.000Z" <= r["created_at"] < "2025-05-01T00:00:00.000Z",
    ),
]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [pytest.param(f, e, id=name) for name, f, e in FILTER_CASES],
)
def test_filters_return_exactly_the_matching_records(
    hook: CommerceLayerHook,
    sandbox_env: Sandbox,
    filters: dict[str, Any],
    expected: Callable[[Record], bool],
) -> None:
    packages = sandbox_env.packages()
    wanted = {r["id"]: unlinked(r) for r in packages if expected(r)}
    assert 0 < len(wanted) < len(packages), "the case should select some but not all records"

    assert by_id(hook.list_packages(filters=filters)) == wanted
    assert hook.count("packages", filters=filters) == len(wanted)


def test_updated_window_is_half_open_and_server_side(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    packages = sandbox_env.packages()
    since, before = sorted(r["updated_at"] for r in packages)[100], "2025-05-20T00:00:00.000Z"
    wanted = {r["id"] for r in packages if since <= r["updated_at"] < before}

    records = hook.list_packages(updated_since=since, updated_before=before)

    assert set(by_id(records)) == wanted
    assert since in {r["updated_at"] for r in records}  # the lower bound is inclusive
    query = api_requests(sandbox_env)[0].query
    assert query["filter[q][updated_at_gteq]"] == [since]
    assert query["filter[q][updated_at_lt]"] == [before]


def test_count_is_one_request_of_one_record(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    assert hook.count("packages") == 300
    assert hook.count("stock_locations") == 5
    (request,) = api_requests(sandbox_env)
    assert request.query["page[size]"] == ["1"]


def test_unknown_predicate_fails_before_any_request(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    with pytest.raises(InventoryConfigError, match="'name_like' is not"):
        hook.iter_packages(filters={"name_like": "Large%"})
    with pytest.raises(InventoryConfigError, match="'length_gt'"):
        hook.count("packages", filters={"length_gt": [1, 2]})
    assert sandbox_env.requests == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"page_size": 26}, "at most 25 records per page"),
        ({"page_size": 0}, "Use 1 to 25"),
        ({"page_size": "10"}, "page_size must be a whole number"),
        ({"max_workers": 0}, "max_workers=0 is out of range"),
        ({"max_workers": 2, "sort": "code"}, "needs the default order"),
        ({"max_workers": 2, "partition": {"id_gteq": "a", "id_lt": None}}, "not both"),
        ({"filters": {"id_gt": "abc"}}, "'id_gt' is used by keyset paging"),
        ({"filters": {"updated_at_lt": "2025"}, "updated_before": "2025-01-01"}, "also set by"),
        ({"partition": {"id_gt": "a"}}, "partition must be a mapping"),
        ({"max_workers": 3, "filters": {"id_lt": "m"}}, "would clash with the id ranges"),
        ({"updated_since": "2025-02-01", "updated_before": "2025-01-01"}, "must be earlier"),
        ({"sort": "name; drop"}, "sort"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    hook: CommerceLayerHook, sandbox_env: Sandbox, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InventoryConfigError, match=re.escape(fragment)):
        hook.iter_packages(**kwargs)
    assert sandbox_env.requests == []


def test_bad_resource_name_fails_before_any_request(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    with pytest.raises(InventoryConfigError, match="resource must be"):
        hook.iter_resources("../oauth/token")
    assert sandbox_env.requests == []


# ---------------------------------------------------------------------- sort, paging


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("code", lambda rs: sorted(rs, key=lambda r: r["code"])),
        ("-code", lambda rs: sorted(rs, key=lambda r: r["code"], reverse=True)),
        (
            ["-length", "code"],
            lambda rs: sorted(sorted(rs, key=lambda r: r["code"]), key=lambda r: -r["length"]),
        ),
    ],
)
def test_sort_both_ways_follows_links_next(
    hook: CommerceLayerHook, sandbox_env: Sandbox, sort: Any, order: Callable[..., list[Record]]
) -> None:
    expected = [r["id"] for r in order(sandbox_env.packages())]

    records = hook.list_packages(sort=sort)

    assert [r["id"] for r in records] == expected
    numbers = [r.query["page[number]"][0] for r in api_requests(sandbox_env)]
    assert numbers == [str(n) for n in range(1, 13)]


@pytest.mark.sandbox(packages=60)
@pytest.mark.parametrize("page_size", [25, 7, 1])
def test_page_sizes_25_and_smaller_keyset_by_id(
    hook: CommerceLayerHook, sandbox_env: Sandbox, page_size: int
) -> None:
    packages = sandbox_env.packages()

    records = hook.list_packages(page_size=page_size)

    assert [r["id"] for r in records] == sorted(r["id"] for r in packages)
    assert by_id(records) == {r["id"]: unlinked(r) for r in packages}
    requests = api_requests(sandbox_env)
    assert len(requests) == math.ceil(60 / page_size)
    assert {r.query["page[size]"][0] for r in requests} == {str(page_size)}
    assert all(r.query["sort"] == ["id"] for r in requests)
    cursors = [r.query.get("filter[q][id_gt]", [None])[0] for r in requests]
    assert cursors[0] is None
    assert cursors[1:] == [records[k * page_size - 1]["id"] for k in range(1, len(requests))]


def test_sort_by_id_is_keyset_paging(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    records = hook.list_packages(sort="id")
    assert [r["id"] for r in records] == sorted(r["id"] for r in sandbox_env.packages())
    assert "page[number]" not in api_requests(sandbox_env)[-1].query


# ---------------------------------------------------------------------- fields, includes


def test_include_attaches_the_flattened_stock_location(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    locations = {loc["id"]: loc for loc in sandbox_env.stock_locations()}

    records = hook.list_packages(include=["stock_location"])

    expected = {
        p["id"]: {**p, "stock_location": locations[p["stock_location_id"]]}
        for p in sandbox_env.packages()
    }
    assert by_id(records) == expected


def test_sparse_fields_with_include_keep_the_relationship(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    locations = {loc["id"]: loc for loc in sandbox_env.stock_locations()}
    packages = {p["id"]: p for p in sandbox_env.packages()}

    records = hook.list_packages(fields=["name"], include=["stock_location"])

    assert set(by_id(records)) == set(packages)
    for record in records:
        package = packages[record["id"]]
        assert record == {
            "id": package["id"],
            "type": "packages",
            "name": package["name"],
            "meta": {"mode": "test"},
            "stock_location_id": package["stock_location_id"],
            "stock_location": locations[package["stock_location_id"]],
        }
    query = api_requests(sandbox_env)[0].query
    assert query["fields[packages]"] == ["name,stock_location"]


def test_sparse_fields_alone(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    records = hook.list_packages(fields="name,code", filters={"code_start": "SML"})
    expected = {
        p["id"]: {
            "id": p["id"],
            "type": "packages",
            "name": p["name"],
            "code": p["code"],
            "meta": p["meta"],
        }
        for p in sandbox_env.packages()
        if p["code"].startswith("SML")
    }
    assert by_id(records) == expected


def test_flatten_false_yields_resource_objects_with_included_side_mapping(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    packages = {p["id"]: p for p in sandbox_env.packages()}
    locations = {loc["id"]: loc for loc in sandbox_env.stock_locations()}

    with hook.iter_packages(include=["stock_location"], flatten=False) as stream:
        objects = list(stream)

    assert {o["id"] for o in objects} == set(packages)
    assert {key[0] for key in stream.included} == {"stock_locations"}
    for obj in objects:
        package = packages[obj["id"]]
        assert obj["type"] == "packages"
        assert obj["attributes"]["code"] == package["code"]
        assert obj["links"]["self"].endswith(f"/api/packages/{obj['id']}")
        location = related(obj, "stock_location", stream.included)
        assert isinstance(location, dict)
        assert location["id"] == package["stock_location_id"]
        assert location["attributes"]["name"] == locations[location["id"]]["name"]
    assert stream.records == 300
    assert stream.pages == 12


def test_get_resource(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    package = sandbox_env.packages()[17]
    location = next(
        loc for loc in sandbox_env.stock_locations() if loc["id"] == package["stock_location_id"]
    )

    assert hook.get_resource("packages", package["id"]) == unlinked(package)
    assert hook.get_resource("packages", package["id"], include=["stock_location"]) == {
        **package,
        "stock_location": location,
    }
    document = hook.get_resource("packages", package["id"], flatten=False)
    assert document["data"]["attributes"]["name"] == package["name"]
    with pytest.raises(NotFoundError, match="RECORD_NOT_FOUND"):
        hook.get_resource("packages", "missing")


def test_other_resources_list_too(hook: CommerceLayerHook, sandbox_env: Sandbox) -> None:
    records = hook.list_resources("stock_locations", filters={"metadata_jcont": {"region": "eu"}})
    expected = {
        loc["id"]: loc for loc in sandbox_env.stock_locations() if loc["metadata"]["region"] == "eu"
    }
    assert by_id(records) == expected


# ---------------------------------------------------------------------- consistency


def test_keyset_listing_neither_skips_nor_repeats_under_concurrent_changes(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    sb = sandbox_env
    ids = sorted(p["id"] for p in sb.packages())
    read_before_change = ids[:75]  # three pages of 25
    deleted_seen, deleted_unseen = ids[:3], ids[200:205]
    updated = ids[150]

    def change_data() -> None:
        for package_id in deleted_seen + deleted_unseen:
            sb.delete_package(package_id)
        sb.add_package(id="zzzzzzzzz1", name="Added after the cursor")
        sb.add_package(id="0000000001", name="Added before the cursor")
        sb.update_package(updated, name="Renamed mid-listing")

    sb.schedule(3, change_data, match="/api/packages")

    records = hook.list_packages()

    assert sb.action_errors == []
    seen = by_id(records)  # also asserts no id twice
    expected = set(read_before_change) | (set(ids[75:]) - set(deleted_unseen)) | {"zzzzzzzzz1"}
    assert set(seen) == expected
    assert seen[updated]["name"] == "Renamed mid-listing"
    assert [r["id"] for r in records] == sorted(expected)


# ---------------------------------------------------------------------- partitions, parallel


def test_plan_partitions_cover_the_id_space_disjointly(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    partitions = hook.plan_partitions("packages", 4)

    assert json.loads(json.dumps(partitions)) == partitions
    assert len(partitions) == 4
    assert partitions[0]["id_gteq"] is None
    assert partitions[-1]["id_lt"] is None
    for left, right in itertools.pairwise(partitions):
        assert left["id_lt"] == right["id_gteq"]
    # count + 3 probes, nothing else
    assert len(api_requests(sandbox_env)) == 4

    parts = [hook.list_packages(partition=p) for p in partitions]
    assert [len(p) for p in parts] == [75, 75, 75, 75]
    union = by_id([r for part in parts for r in part])
    assert union == {p["id"]: unlinked(p) for p in sandbox_env.packages()}


def test_partitions_stay_complete_when_data_changes_after_planning(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    partitions = hook.plan_partitions("packages", 3, filters={"unit_of_length_eq": "cm"})
    boundary = partitions[1]["id_gteq"]
    assert boundary is not None
    sandbox_env.delete_package(boundary)
    sandbox_env.add_package(id="0", unit_of_length="cm")
    sandbox_env.add_package(id="zzzzzzzzzz", unit_of_length="cm")

    parts = [
        hook.list_packages(partition=p, filters={"unit_of_length_eq": "cm"}) for p in partitions
    ]

    union = by_id([r for part in parts for r in part])
    assert set(union) == {p["id"] for p in sandbox_env.packages() if p["unit_of_length"] == "cm"}
    assert {"0", "zzzzzzzzzz"} <= set(union)


def test_plan_partitions_never_overlap_when_records_arrive_between_probes(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    def insert_low_ids() -> None:  # all before the first split point
        for n in range(200):
            sandbox_env.add_package(id=f"000000{n:04d}")

    sandbox_env.schedule(2, insert_low_ids, match="/api/packages")  # after count + first probe

    partitions = hook.plan_partitions("packages", 4)

    bounds = [str(p["id_gteq"]) for p in partitions[1:]]
    assert bounds == sorted(set(bounds))  # strictly increasing: disjoint, non-empty ranges
    parts = [hook.list_packages(partition=p) for p in partitions]
    union = by_id([r for part in parts for r in part])
    assert set(union) == {p["id"] for p in sandbox_env.packages()}


@pytest.mark.sandbox(packages=5)
def test_plan_partitions_of_small_and_empty_sets(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    assert len(hook.plan_partitions("packages", 10)) == 5
    assert hook.plan_partitions("packages", 3, filters={"code_eq": "none"}) == [
        {"id_gteq": None, "id_lt": None}
    ]
    assert hook.plan_partitions("packages", 1) == [{"id_gteq": None, "id_lt": None}]
    sent = len(sandbox_env.requests)
    with pytest.raises(InventoryConfigError, match="n=0 is out of range: plan 1 to 1000"):
        hook.plan_partitions("packages", 0)
    with pytest.raises(InventoryConfigError, match="n must be a whole number, got '2'"):
        hook.plan_partitions("packages", "2")  # type: ignore[arg-type]
    with pytest.raises(InventoryConfigError, match="would clash"):
        hook.plan_partitions("packages", 2, filters={"id_gteq": "a"})
    assert len(sandbox_env.requests) == sent


def test_max_workers_4_returns_the_same_set_as_max_workers_1(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    serial = hook.list_packages(include=["stock_location"], page_size=10)
    parallel = hook.list_packages(include=["stock_location"], page_size=10, max_workers=4)

    assert by_id(parallel) == by_id(serial)
    assert len(by_id(serial)) == 300


def test_parallel_listing_under_concurrent_changes_loses_and_repeats_nothing(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    sb = sandbox_env
    ids = sorted(p["id"] for p in sb.packages())
    deleted = [ids[10], ids[140], ids[290]]

    def change_data() -> None:
        for package_id in deleted:
            sb.delete_package(package_id)
        sb.add_package(id="zzzzzzzzz1")

    sb.schedule(8, change_data, match="/api/packages")

    records = hook.list_packages(max_workers=4, page_size=10)

    counts = Counter(r["id"] for r in records)
    assert max(counts.values()) == 1
    assert set(ids) - set(deleted) <= set(counts) <= set(ids) | {"zzzzzzzzz1"}


def test_closing_a_stream_early_stops_fetching(
    hook: CommerceLayerHook, sandbox_env: Sandbox
) -> None:
    with hook.iter_packages(page_size=5) as stream:
        first = next(stream)
    assert first["id"] == min(p["id"] for p in sandbox_env.packages())
    assert len(api_requests(sandbox_env)) <= 3

    parallel = hook.iter_packages(page_size=5, max_workers=4)
    next(parallel)
    parallel.close()
    sent = len(api_requests(sandbox_env))
    assert sent < 300 / 5
