"""Unit checks of the merge of disjoint Pack listings and of when a plan is disjoint."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_inventory._http.paginators import Page
from airflow_provider_inventory.exceptions import BadResponseError
from airflow_provider_inventory.hooks._pack_merge import MergedListings
from airflow_provider_inventory.hooks._pack_resources import RESOURCES, plan_listings

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
OLD = "2025-05-01T00:00:00.000Z"
RECENT = "2026-12-06T11:30:00.000Z"  # within the skew margin before the merge started


def page(*records: dict[str, object]) -> Page:
    return Page(list(records), "http://127.0.0.1/x")


def merged(*pages: Page) -> list[str]:
    merge = MergedListings("Pack serial numbers", lambda r: r.get("id"), now=lambda: NOW)
    return [str(r["id"]) for p in merge.pages(iter(pages)) for r in p.records]


def test_a_record_that_moved_is_yielded_once_and_others_pass() -> None:
    first = page({"id": "a", "updated_at": OLD}, {"id": "b", "updated_at": OLD})
    # "a" moved to the second listing's value while the merge ran: its updated_at is recent.
    second = page({"id": "a", "updated_at": RECENT}, {"id": "c", "updated_at": RECENT})

    assert merged(first, second) == ["a", "b", "c"]


def test_a_stale_copy_reaching_the_merge_after_the_moved_one_is_dropped() -> None:
    # Parallel listings: the listing the record moved into was merged first.
    first = page({"id": "a", "updated_at": RECENT}, {"id": "c", "updated_at": OLD})
    second = page({"id": "a", "updated_at": OLD}, {"id": "b", "updated_at": OLD})

    assert merged(first, second) == ["a", "c", "b"]


def test_records_without_a_readable_timestamp_are_always_checked() -> None:
    first = page({"id": "a"}, {"id": "b", "updated_at": "yesterday"})
    second = page({"id": "a"}, {"id": "b", "updated_at": "yesterday"}, {"id": "d"})

    assert merged(first, second) == ["a", "b", "d"]


def test_memory_is_eight_bytes_per_record_and_digests_stay_aligned() -> None:
    merge = MergedListings("x", lambda r: r.get("id"), now=lambda: NOW)
    records = [{"id": f"sn_{n:06d}", "updated_at": RECENT} for n in range(2000)]

    out = [r for p in merge.pages(iter([page(*records), page(*records)])) for r in p.records]

    assert out == records
    assert merge.remembered_bytes == 8 * 2000


def test_a_record_without_a_key_is_an_error() -> None:
    with pytest.raises(BadResponseError, match="has no key"):
        merged(page({"code": "x"}))


@pytest.mark.parametrize(
    ("resource", "filters", "disjoint"),
    [
        ("serial-numbers", {"product_id": ["a", "b"], "stock_id": ["c", "d"]}, True),
        ("fulfillments", {"status": ["pending", "shipped"], "orders.id": "o1"}, True),
        ("fulfillments", {"orders.id": ["o1", "o2"]}, False),
        ("product-warehouses", {"product_id": ["a", "b"]}, True),
    ],
)
def test_only_several_values_of_a_records_own_field_are_disjoint(
    resource: str, filters: dict[str, object], disjoint: bool
) -> None:
    plan = plan_listings(
        RESOURCES[("organization", resource)],
        organization_id="org",
        warehouse_id=None,
        filters=filters,  # type: ignore[arg-type]
        include=None,
        sort=None,
        query=None,
        paging={},
    )
    assert plan.disjoint is disjoint
