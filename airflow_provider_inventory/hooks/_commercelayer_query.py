"""Commerce Layer listings without the network: query validation, partition planning, pages.

``CommerceLayerHook`` turns its arguments into a :class:`Query` here (every check happens before
any request), plans id ranges with :func:`plan_ranges` over two small request callbacks, and
reads each JSON:API page body with :func:`parse_page` / :class:`ResourceRecords`.

Schema checks (:func:`check_schema`): the resource type, every filter's attribute path (through
relationships, with ``_or_`` / ``_and_`` combinations), ``sort``, ``fields`` and every level of
each ``include`` path are checked against the bundled API schema (``hooks._commercelayer_schema``)
before anything is sent, because the API, like Ransack, may ignore a condition it does not know
and answer with every record of the resource.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_inventory._arguments import number_in_range, resource_name
from airflow_provider_inventory._http.paginators import Page, page_totals
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError
from airflow_provider_inventory.hooks._commercelayer_schema import (
    ApiSchema,
    ResourceSchema,
    api_schema,
    nearest_hint,
)
from airflow_provider_inventory.jsonapi import (
    PARTITION_KEYS,
    PREDICATES,
    Identity,
    encode_filters,
    encode_include,
    encode_sort,
    index_included,
    names_of,
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

#: Any name ``names_of`` splits; the schema checks judge the names themselves.
_ANY_NAME = re.compile(r"^-?[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")

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
    schema_checks: bool = True,
) -> Query:
    """Validate a listing's arguments and build its query parameters (no request).

    Args:
        schema_checks: also check the resource, filters, sort, fields and include against the
            bundled API schema (:func:`check_schema`).

    Raises:
        InventoryConfigError: an argument is invalid, naming it and the fix.
    """
    resource_name(resource)
    if schema_checks:
        check_schema(resource, filters=filters, sort=sort, fields=fields, include=include)
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


# ---------------------------------------------------------------------- schema checks

# Longest first, so ``name_not_eq`` tries (name, not_eq) before (name_not, eq).
_PREDICATES_LONGEST_FIRST = sorted(PREDICATES, key=len, reverse=True)
_JOINERS = ("_or_", "_and_")


def check_schema(
    resource: str,
    *,
    filters: Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
    fields: str | Sequence[str] | None = None,
    include: str | Sequence[str] | None = None,
    listing: bool = True,
) -> ResourceSchema:
    """Check a query against the bundled API schema, before anything is sent.

    Args:
        resource: the resource type.
        filters: ``filter[q]`` keys (``{attribute path(s)}_{predicate}``) to check.
        sort: ``[-]field`` names, each a sortable attribute.
        fields: the sparse fieldset: fetchable attributes or relationships.
        include: relationship paths, each segment includable from the resource before it.
        listing: the query lists (else it retrieves one record).

    Returns:
        The resource's schema.

    Raises:
        InventoryConfigError: naming the resource, the bad name and the nearest valid names.
    """
    schema = api_schema()
    spec = schema.resource(resource)
    if listing and not spec.listable:
        raise InventoryConfigError(
            f"resource {resource!r} cannot be listed: Commerce Layer only returns it by id "
            f"(get_resource)."
        )
    if not listing and not spec.retrievable:
        raise InventoryConfigError(f"resource {resource!r} cannot be retrieved by id.")
    if isinstance(filters, Mapping):
        for key in filters:
            check_filter_key(schema, spec, key)
    for name in names_of(sort, "sort", _ANY_NAME):
        check_sort_field(spec, name)
    for name in names_of(fields, "fields", _ANY_NAME):
        if name not in spec.fetchable_names:
            raise _schema_error(
                spec,
                f"fields: {name!r} is not a field of {spec.name}",
                name,
                spec.fetchable_names,
                "fields",
            )
    for path in names_of(include, "include", _ANY_NAME):
        check_include_path(schema, spec, path)
    return spec


def check_filter_key(schema: ApiSchema, spec: ResourceSchema, key: Any) -> None:
    """Check one ``filter[q]`` key: some ``{path(s)}_{predicate}`` split of it must name
    filterable attributes of ``spec``, directly or through filterable relationships
    (``stock_location_name``), joined by ``_or_`` (or ``_and_``).

    Names contain underscores, so every predicate the key ends with is tried, longest first,
    and every way of reading the rest as relationship names and an attribute.

    Raises:
        InventoryConfigError: no split names filterable attributes; a plain filter (``ids``,
            ``created_at_from``) is named with the ``filter[q]`` predicate to use instead.
    """
    if not isinstance(key, str):
        return  # encode_filters refuses it with the rule
    candidates = [
        key[: -len(predicate) - 1]
        for predicate in _PREDICATES_LONGEST_FIRST
        if key.endswith(f"_{predicate}") and len(key) > len(predicate) + 1
    ]
    if any(attribute_paths(schema, spec, attribute) for attribute in candidates):
        return
    if key in spec.plain_filters:
        raise InventoryConfigError(
            f"filters: {key!r} is one of the plain filters of {spec.name}, whose query syntax "
            f"Commerce Layer does not document; filters are sent as filter[q] predicates. "
            f"Use {_predicate_for_plain_filter(schema, spec, key)}."
        )
    if not candidates:
        return  # no predicate: encode_filters names the documented ones
    attribute = candidates[0]
    bad = next(
        (term for term in _naive_terms(attribute) if not attribute_paths(schema, spec, term)),
        attribute,
    )
    raise _schema_error(
        spec,
        f"filters: {key!r} names {bad!r}, which is not a filterable attribute of {spec.name} "
        f"nor one reached through its filterable relationships",
        bad,
        filterable_paths(schema, spec),
        "attributes",
    )


def attribute_paths(schema: ApiSchema, spec: ResourceSchema, text: str) -> bool:
    """Whether ``text`` is one attribute path, or several joined by ``_or_`` (or ``_and_``:
    one joiner per key)."""
    if attribute_path(schema, spec, text):
        return True
    return any(_joined(schema, spec, text, joiner) for joiner in _JOINERS)


def _joined(schema: ApiSchema, spec: ResourceSchema, text: str, joiner: str) -> bool:
    start = text.find(joiner)
    while start > 0:
        head, tail = text[:start], text[start + len(joiner) :]
        if attribute_path(schema, spec, head) and (
            attribute_path(schema, spec, tail) or _joined(schema, spec, tail, joiner)
        ):
            return True
        start = text.find(joiner, start + 1)
    return False


def attribute_path(schema: ApiSchema, spec: ResourceSchema, text: str) -> bool:
    """Whether ``text`` is a filterable attribute of ``spec`` or ``<relationship>_<path>``
    through a filterable relationship (only ``_id`` through one of no known resource type)."""
    if text in spec.filterable_fields:
        return True
    for rel in spec.filterable_relationships:
        if not text.startswith(f"{rel.name}_"):
            continue
        rest = text[len(rel.name) + 1 :]
        target = schema.get(rel.resource)
        if target is None:
            if rest == "id":
                return True
        elif attribute_path(schema, target, rest):
            return True
    return False


def filterable_paths(schema: ApiSchema, spec: ResourceSchema) -> set[str]:
    """Filterable attributes of ``spec`` and one relationship level down, for suggestions."""
    paths = set(spec.filterable_fields)
    for rel in spec.filterable_relationships:
        target = schema.get(rel.resource)
        names = target.filterable_fields if target is not None else {"id"}
        paths.update(f"{rel.name}_{name}" for name in names)
    return paths


def _naive_terms(attribute: str) -> list[str]:
    terms = [attribute]
    for joiner in _JOINERS:
        terms = [part for term in terms for part in term.split(joiner)]
    return terms


def _predicate_for_plain_filter(schema: ApiSchema, spec: ResourceSchema, key: str) -> str:
    """The ``filter[q]`` form of a plain filter, e.g. ``'id_in'`` for ``ids``."""
    guesses = []
    if key == "ids":
        guesses.append(("id_in", "a list of ids"))
    if key.endswith("_from"):
        guesses.append((f"{key[: -len('_from')]}_gteq", "the lower bound"))
    if key.endswith("_to"):
        guesses.append((f"{key[: -len('_to')]}_lteq", "the upper bound"))
    if key.endswith("s"):
        guesses.append((f"{key[:-1]}_in", "a list of values"))
    guesses.append((f"{key}_eq", "a value"))
    for guess, value in guesses:  # each ends in a one-word predicate: in, gteq, lteq, eq
        if attribute_paths(schema, spec, guess.rsplit("_", 1)[0]):
            return f"{guess!r} with {value}"
    return "a '<attribute>_<predicate>' filter"


def check_sort_field(spec: ResourceSchema, name: str) -> None:
    """Check one ``[-]field`` of ``sort`` against the sortable attributes.

    Raises:
        InventoryConfigError: naming the resource, the field and the nearest sortable ones.
    """
    field = name.removeprefix("-")
    if field not in spec.sortable_fields:
        raise _schema_error(
            spec,
            f"sort: {field!r} is not a sortable field of {spec.name}",
            field,
            spec.sortable_fields,
            "sort fields",
        )


def check_include_path(schema: ApiSchema, spec: ResourceSchema, path: str) -> None:
    """Check an ``include`` path: each segment an includable relationship of the resource the
    path has reached (below a relationship of no known resource type nothing can be checked).

    Raises:
        InventoryConfigError: naming the resource, the segment and the nearest includable ones.
    """
    current: ResourceSchema | None = spec
    walked: list[str] = []
    for segment in path.split("."):
        if current is None:
            return
        if segment not in current.includable_relationships:
            through = f" (reached through {'.'.join(walked)!r})" if walked else ""
            raise _schema_error(
                spec,
                f"include: {segment!r} in {path!r} is not an includable relationship of "
                f"{current.name}{through}",
                segment,
                current.includable_relationships,
                "relationships",
            )
        walked.append(segment)
        current = schema.get(current.relationships[segment].resource)


def _schema_error(
    spec: ResourceSchema, problem: str, name: str, valid: Iterable[str], what: str
) -> InventoryConfigError:
    return InventoryConfigError(
        f"{spec.name}: {problem} in the bundled Commerce Layer {api_schema().version}."
        f"{nearest_hint(name, valid, what)} If Commerce Layer added it since, pass "
        f"schema_checks=False."
    )


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
    "attribute_path",
    "attribute_paths",
    "bad_body",
    "build_query",
    "check_filter_key",
    "check_include_path",
    "check_parallel",
    "check_schema",
    "check_sort_field",
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
