"""Commerce Layer listings without the network: query validation, partition planning, pages.

``CommerceLayerHook`` turns its arguments into a :class:`Query` here (every check happens before
any request), plans id ranges with :func:`plan_ranges` over two small request callbacks, and
reads each JSON:API page body with :func:`parse_page` / :class:`ResourceRecords`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_inventory._arguments import number_in_range, resource_name
from airflow_provider_inventory._http.paginators import Page, page_totals
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError
from airflow_provider_inventory.jsonapi import (
    PARTITION_KEYS,
    Identity,
    encode_filters,
    encode_include,
    encode_sort,
    index_included,
    partition_filters,
    sparse_fieldset,
)
from airflow_provider_inventory.jsonapi import flatten as flatten_resource
from airflow_provider_inventory.window import Instant, Window, format_instant

MAX_PAGE_SIZE = 25
MAX_WORKERS = 16
MAX_PARTITIONS = 1000
#: The keyset cursor: records after the last id of the page before.
KEYSET_CURSOR = "filter[q][id_gt]"

PartitionSpec = dict[str, str | None]
"""``{"id_gteq": id | None, "id_lt": id | None}``: one id range (an open end is ``None``)."""


@dataclass(frozen=True)
class Query:
    """A validated listing: the resource, its query parameters and how to page it.

    Attributes:
        resource: the list resource.
        params: the query parameters of the first page.
        page_size: records per page asked for.
        keyset: page by id (``sort=id`` and :data:`KEYSET_CURSOR`) rather than by ``links.next``.
    """

    resource: str
    params: dict[str, str]
    page_size: int
    keyset: bool

    @property
    def filters(self) -> dict[str, str]:
        """The ``filter[q][...]`` parameters only."""
        return {k: v for k, v in self.params.items() if k.startswith("filter[q][")}

    def within(self, partition: Mapping[str, Any]) -> Query:
        """This query limited to one id range."""
        params = merged(self.params, partition_filters(partition), "partition")
        return Query(self.resource, params, self.page_size, keyset=True)


def build_query(
    resource: str,
    *,
    filters: Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
    fields: str | Sequence[str] | None = None,
    include: str | Sequence[str] | None = None,
    page_size: int = MAX_PAGE_SIZE,
    updated_since: Instant | None = None,
    updated_before: Instant | None = None,
    partition: Mapping[str, Any] | None = None,
) -> Query:
    """Validate a listing's arguments and build its query parameters (no request).

    Raises:
        InventoryConfigError: an argument is invalid, naming it and the fix.
    """
    resource_name(resource)
    size = checked_page_size(page_size)
    order = encode_sort(sort)
    keyset = order in (None, "id")
    params = {"sort": "id"} if keyset else {"sort": str(order)}
    params["page[size]"] = str(size)
    params.update(sparse_fieldset(resource, fields, include))
    included = encode_include(include)
    if included:
        params["include"] = included
    params.update(encode_filters(filters))
    params = merged(params, window_filters(updated_since, updated_before), "the window")
    params = merged(params, partition_filters(partition), "partition")
    if keyset and KEYSET_CURSOR in params:
        raise InventoryConfigError(
            "filters: 'id_gt' is used by keyset paging (the default order). Use 'id_gteq' "
            "(or a partition) for a lower id bound, or pass an explicit sort."
        )
    return Query(resource, params, size, keyset)


def checked_page_size(page_size: Any) -> int:
    """``page_size`` from 1 to :data:`MAX_PAGE_SIZE`."""
    return number_in_range(
        "page_size",
        page_size,
        1,
        MAX_PAGE_SIZE,
        f"Commerce Layer returns at most {MAX_PAGE_SIZE} records per page. Use 1 to "
        f"{MAX_PAGE_SIZE}.",
    )


def checked_workers(max_workers: Any) -> int:
    """``max_workers`` from 1 to :data:`MAX_WORKERS`."""
    return number_in_range(
        "max_workers",
        max_workers,
        1,
        MAX_WORKERS,
        f"use 1 to {MAX_WORKERS} (requests are paced to the API's rate limit either way).",
    )


def checked_partitions(n: Any) -> int:
    """The number of partitions to plan, from 1 to :data:`MAX_PARTITIONS`."""
    return number_in_range(
        "n",
        n,
        1,
        MAX_PARTITIONS,
        f"plan 1 to {MAX_PARTITIONS} id ranges (fewer come back for small sets).",
    )


def check_parallel(query: Query, workers: int, partition: Mapping[str, Any] | None) -> None:
    """Refuse what a listing on ``workers`` > 1 id ranges cannot do.

    Raises:
        InventoryConfigError: another order than by id, a partition too, or id bounds in the
            filters.
    """
    if not query.keyset:
        raise InventoryConfigError(
            f"max_workers={workers} needs the default order (sort=None or 'id'): "
            f"parallel ranges are split by id. Drop sort, or use max_workers=1."
        )
    if partition is not None:
        raise InventoryConfigError(
            "Pass either partition (one range, e.g. in a mapped task) or max_workers > 1 "
            "(ranges planned here), not both."
        )
    refuse_id_bounds(query, "max_workers > 1 plans")


def refuse_id_bounds(query: Query, planner: str) -> None:
    """Refuse id bounds in the filters of a query whose id ranges ``planner`` plans.

    Raises:
        InventoryConfigError: naming the clashing filters.
    """
    bounded = [key for key in PARTITION_KEYS if f"filter[q][{key}]" in query.params]
    if bounded:
        raise InventoryConfigError(
            f"filters: {bounded} would clash with the id ranges {planner}; drop them, or list "
            f"without partitions (max_workers=1)."
        )


def window_filters(since: Instant | None, before: Instant | None) -> dict[str, str]:
    """``updated_at_gteq`` / ``updated_at_lt`` filters for the half-open window ``[since, before)``.

    Raises:
        InventoryConfigError: a bound is not a date/time, or ``since`` is not before ``before``.
    """
    window = Window.of(since, before)
    filters = {}
    if window.since is not None:
        filters["updated_at_gteq"] = format_instant(window.since)
    if window.before is not None:
        filters["updated_at_lt"] = format_instant(window.before)
    return filters


def merged(params: Mapping[str, str], filters: Mapping[str, str], source: str) -> dict[str, str]:
    """``params`` plus ``filters`` as ``filter[q][...]``; a key set twice is an error.

    Raises:
        InventoryConfigError: a filter is also set by ``source``.
    """
    result = dict(params)
    for key, value in filters.items():
        name = f"filter[q][{key}]"
        if name in result:
            raise InventoryConfigError(
                f"filters: '{key}' is also set by {source}; drop it from filters or from {source}."
            )
        result[name] = value
    return result


# ---------------------------------------------------------------------- partition planning


def count_params(query: Query) -> dict[str, str]:
    """The query of a one-record page whose ``meta.record_count`` counts ``query``'s records."""
    return {"page[size]": "1", **query.filters}


def probe_params(query: Query, position: int, after: Mapping[str, str]) -> dict[str, str]:
    """The query of the ``position``-th record (from 1) of ``query``'s filters plus ``after``."""
    params = {"sort": "id", "page[size]": "1", "page[number]": str(position), **query.filters}
    return merged(params, after, "partition planning")


def plan_ranges(
    total: int, n: int, probe: Callable[[int, Mapping[str, str]], list[Record]]
) -> list[PartitionSpec]:
    """Split ``total`` records ordered by id into at most ``n`` disjoint ranges covering all ids.

    Each split point is found ``total // n`` records after the previous one (``id_gteq`` it),
    so split points strictly increase in the server's id order even if records are deleted
    between probes, and the ranges can never overlap.

    Args:
        total: how many records the query has now.
        n: ranges wanted.
        probe: ``probe(position, after_filters)`` returns the one record at ``position``
            (from 1) of the listing by id after the filters (an empty list past the end).

    Returns:
        Specs ``{"id_gteq": id | None, "id_lt": id | None}`` in id order; the first starts and
        the last ends open.
    """
    parts = min(n, total)
    step = total // parts if parts else 0
    bounds: list[str] = []
    for _ in range(1, parts):
        after = {"id_gteq": bounds[-1]} if bounds else {}
        records = probe(step + 1, after)
        if not records:
            break  # records were deleted since the count: fewer, larger ranges
        bounds.append(str(records[0]["id"]))
    edges: list[str | None] = [None, *bounds, None]
    return [{"id_gteq": lo, "id_lt": hi} for lo, hi in itertools.pairwise(edges)]


# ---------------------------------------------------------------------- documents


def parse_page(body: Any, url: str) -> Page:
    """A JSON:API list document as a :class:`Page` (records, included, ``links.next``, totals).

    Raises:
        BadResponseError: no ``data`` array of resource objects with ids, or ``included`` is not
            an array.
    """
    records = page_records(body, url)
    included = body.get("included") or []
    if not isinstance(included, list):
        raise bad_body(url, "'included' is not an array", {})
    links = body.get("links")
    link = links.get("next") if isinstance(links, dict) else None
    record_count, page_count = page_totals(body)
    return Page(
        records,
        url,
        next_link=link if isinstance(link, str) and link else None,
        record_count=record_count,
        page_count=page_count,
        included=included,
    )


def page_records(body: Any, url: str) -> list[Record]:
    """The ``data`` array of a list document, checked to hold resource objects with ids."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise bad_body(url, "expected a JSON:API document with a 'data' array", body)
    records = body["data"]
    for position, record in enumerate(records):
        if not isinstance(record, dict) or record.get("id") in (None, ""):
            raise bad_body(url, f"'data' item {position} is not a resource object with an id", {})
    return records


def record_count(body: Any, resource: str) -> int:
    """``meta.record_count`` of a list document.

    Raises:
        BadResponseError: it is missing or not a whole number.
    """
    count, _ = page_totals(body) if isinstance(body, dict) else (None, None)
    if count is None:
        meta = body.get("meta") if isinstance(body, dict) else None
        raise BadResponseError(
            f"The {resource} listing has no 'meta.record_count' (found {meta!r}); the count "
            f"is unknown."
        )
    return count


class ResourceRecords:
    """Turns pages into the records a stream yields: flat records, or resource objects.

    Args:
        flat: flatten each resource with its included resources attached; otherwise yield the
            resource objects and collect included resources in :attr:`included`.
    """

    def __init__(self, flat: bool) -> None:
        self.flat = flat
        self.included: dict[Identity, Record] = {}

    def __call__(self, page: Page) -> list[Record]:
        """The records of ``page``."""
        included = index_included(page.included)
        if not self.flat:
            self.included.update(included)
            return page.records
        return [flatten_resource(resource, included) for resource in page.records]


def flatten_document(document: Mapping[str, Any]) -> Record:
    """The flat record of a single-resource document (``data`` object plus ``included``)."""
    return flatten_resource(document["data"], index_included(document.get("included")))


def bad_body(url: str, problem: str, body: Any, method: str = "GET") -> BadResponseError:
    """The error for a Commerce Layer response that does not have the documented shape."""
    found = f" (found keys {sorted(body)[:10]})" if isinstance(body, dict) and body else ""
    return BadResponseError(
        f"Unexpected Commerce Layer response: {problem}{found}. Stopped rather than return an "
        f"incomplete result.",
        method=method,
        url=url,
    )


__all__ = [
    "KEYSET_CURSOR",
    "MAX_PAGE_SIZE",
    "MAX_PARTITIONS",
    "MAX_WORKERS",
    "PartitionSpec",
    "Query",
    "ResourceRecords",
    "bad_body",
    "build_query",
    "check_parallel",
    "checked_page_size",
    "checked_partitions",
    "checked_workers",
    "count_params",
    "flatten_document",
    "merged",
    "page_records",
    "parse_page",
    "plan_ranges",
    "probe_params",
    "record_count",
    "refuse_id_bounds",
    "window_filters",
]
