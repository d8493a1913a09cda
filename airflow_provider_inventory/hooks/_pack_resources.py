"""What Pack's REST API v1 lists, and how a listing of it is planned: one table, checked rules.

Each documented list endpoint is one :class:`PackResource` row (path, filters, includes, sorts,
``query``, single-record endpoint, fields and their column types), so adding a resource is a
row, not code. :func:`plan_listings` turns a caller's arguments into plain data (one
:class:`Listing` per combination of filter values: a path and its query parameters) after
checking every filter, include and sort against the row, before anything is sent.

Nothing here sends requests or imports HTTP libraries.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_provider_inventory._arguments import filter_values, identifier
from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.records.columns import Column, ColumnKind, columns

log = logging.getLogger(__name__)

ColumnSpec = tuple[str, ColumnKind, bool]
FilterArgument = str | bool | int | Sequence[str | bool | int] | None
"""One filter: a value, a list of values (one listing per value, merged), or ``None``."""

_TIMESTAMPS: tuple[ColumnSpec, ...] = (
    ("created_at", "timestamp", False),
    ("updated_at", "timestamp", False),
)
_QUANTITIES: tuple[ColumnSpec, ...] = (
    ("quantity_on_hand", "int64", True),
    ("quantity_allocated", "int64", True),
    ("quantity_available", "int64", True),
)


@dataclass(frozen=True)
class PackResource:
    """One documented Pack list endpoint.

    Attributes:
        name: the resource as callers name it (``products``, ``serial-numbers``).
        scope: ``organization`` (``/v1/organizations/{organization_id}/...``) or ``warehouse``
            (``/v1/warehouses/{warehouse_id}/...``, chosen by passing ``warehouse_id``).
        path: the path after ``v1/``, with ``{organization_id}``, ``{warehouse_id}`` and any
            path filter (``{product_id}``) to fill in.
        filters: the documented ``filter[...]`` names.
        includes: the documented ``include`` values.
        sorts: the documented ``sort`` keys (each also descending with ``-``).
        query: whether ``query=`` (free-text search) is documented.
        single: whether ``GET {path}/{id}`` is documented.
        choices: the documented values of enumerated filters.
        path_filters: filters that are part of the path (one listing per value, required).
        fields: ``(name, kind, nullable)`` of each documented field, in the API's order.
        key: the fields that identify a record (repeats are dropped by it).
        windowed: whether records have ``updated_at`` (``updated_since``/``updated_before``).
    """

    name: str
    scope: str
    path: str
    filters: tuple[str, ...]
    includes: tuple[str, ...] = ()
    sorts: tuple[str, ...] = ()
    query: bool = False
    single: bool = False
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    path_filters: tuple[str, ...] = ()
    fields: tuple[ColumnSpec, ...] = ()
    key: tuple[str, ...] = ("id",)
    windowed: bool = True

    @property
    def field_names(self) -> tuple[str, ...]:
        """The documented fields, in order."""
        return tuple(spec[0] for spec in self.fields)

    def columns(self, includes: Iterable[str] = ()) -> dict[str, Column]:
        """The column type of each field, plus one JSON column per top-level include."""
        declared = columns(*self.fields)
        for name in includes:
            top = name.split(".", 1)[0]
            declared.setdefault(top, Column(top, "json", True))
        return declared

    def described(self) -> str:
        """``products`` or ``products (warehouse)``, for messages."""
        return self.name if self.scope == "organization" else f"{self.name} (warehouse)"


_SERIAL_NUMBER_FIELDS: tuple[ColumnSpec, ...] = (
    ("id", "string", False),
    ("product_id", "string", False),
    ("stock_id", "string", True),
    ("fulfillment_line_id", "string", True),
    ("code", "string", False),
    *_TIMESTAMPS,
)
_PRODUCT_FIELDS: tuple[ColumnSpec, ...] = (
    ("id", "string", False),
    ("name", "string", True),
    ("brand_name", "string", True),
    ("code", "string", True),
    ("type", "string", True),
    ("price", "float64", True),
    ("weight", "float64", True),
    ("length", "float64", True),
    ("width", "float64", True),
    ("height", "float64", True),
    ("hs_code", "string", True),
    ("country_code_of_origin", "string", True),
    ("description", "string", True),
    ("barcodes", "json", True),
    *_QUANTITIES,
    *_TIMESTAMPS,
)
_STOCK_FIELDS: tuple[ColumnSpec, ...] = (
    ("id", "string", False),
    ("warehouse_id", "string", True),
    ("locatable_id", "string", True),
    ("locatable_type", "string", True),
    ("product_id", "string", True),
    *_QUANTITIES,
    ("expiry_date", "string", True),
    ("lot_number", "string", True),
    *_TIMESTAMPS,
)
_PRODUCT_WAREHOUSE_FIELDS: tuple[ColumnSpec, ...] = (
    ("product_id", "string", False),
    ("warehouse_id", "string", False),
    ("needs_serial_number", "bool", True),
    ("needs_serial_number_while_packing", "bool", True),
    ("needs_lot_number", "bool", True),
    ("needs_expiry_date", "bool", True),
    *_QUANTITIES,
)
_FULFILLMENT_FIELDS: tuple[ColumnSpec, ...] = (
    ("id", "string", False),
    ("status", "string", True),
    ("warehouse_id", "string", True),
    ("organization_id", "string", True),
    ("release_at", "timestamp", True),
    ("shipped_at", "timestamp", True),
    *_TIMESTAMPS,
)
_SHIPPING_SERVICE_FIELDS: tuple[ColumnSpec, ...] = (
    ("id", "string", False),
    ("name", "string", True),
    ("carrier_code", "string", True),
    ("integration_id", "string", True),
    ("enabled", "bool", True),
    ("type", "string", True),
    *_TIMESTAMPS,
)
_FULFILLMENT_STATUSES = (
    "calculating",
    "on_hold",
    "unscheduled",
    "queued",
    "pending",
    "picking",
    "picked",
    "shipped",
)
_ORG = "organizations/{organization_id}"
_WAREHOUSE = "warehouses/{warehouse_id}"

#: Every documented list endpoint (``../shared/api/FACTS.md``, "Pack"), by (scope, name).
RESOURCES: dict[tuple[str, str], PackResource] = {
    (r.scope, r.name): r
    for r in (
        PackResource(
            "serial-numbers",
            "organization",
            f"{_ORG}/serial-numbers",
            filters=("product_id", "stock_id", "code"),
            fields=_SERIAL_NUMBER_FIELDS,
        ),
        PackResource(
            "serial-numbers",
            "warehouse",
            f"{_WAREHOUSE}/products/{{product_id}}/serial-numbers",
            filters=("product_id", "stock_id", "code"),
            path_filters=("product_id",),
            fields=_SERIAL_NUMBER_FIELDS,
        ),
        PackResource(
            "products",
            "organization",
            f"{_ORG}/products",
            filters=("id", "type"),
            sorts=("name", "created_at"),
            query=True,
            single=True,
            choices={"type": ("standard", "virtual_bundle")},
            fields=_PRODUCT_FIELDS,
        ),
        PackResource(
            "products",
            "warehouse",
            f"{_WAREHOUSE}/products",
            filters=("organization_id", "barcodes.barcode"),
            includes=("organization",),
            # The docs list `sort` here without its keys: those of the organization endpoint.
            sorts=("name", "created_at"),
            query=True,
            fields=_PRODUCT_FIELDS,
        ),
        PackResource(
            "stocks",
            "organization",
            f"{_ORG}/stocks",
            filters=("product_id", "warehouse_id"),
            includes=("locatable", "product", "warehouse"),
            fields=_STOCK_FIELDS,
        ),
        PackResource(
            "product-warehouses",
            "organization",
            f"{_ORG}/product-warehouses",
            filters=("product_id", "warehouse_id"),
            includes=("product", "warehouse"),
            fields=_PRODUCT_WAREHOUSE_FIELDS,
            key=("product_id", "warehouse_id"),
            windowed=False,
        ),
        PackResource(
            "fulfillments",
            "organization",
            f"{_ORG}/fulfillments",
            filters=("orders.id", "status", "warehouse_id"),
            includes=(
                "lines",
                "lines.product",
                "lines.serial_numbers",
                "orders",
                "shipments",
                "warehouse",
            ),
            sorts=("created_at",),
            single=True,
            choices={"status": _FULFILLMENT_STATUSES},
            fields=_FULFILLMENT_FIELDS,
        ),
        PackResource(
            "fulfillments",
            "warehouse",
            f"{_WAREHOUSE}/fulfillments",
            filters=("organization_id", "status", "release_at"),
            includes=("orders", "orders.brand"),
            sorts=("created_at", "release_at", "shipped_at"),
            choices={"status": _FULFILLMENT_STATUSES},
            fields=_FULFILLMENT_FIELDS,
        ),
        PackResource(
            "shipping-services",
            "organization",
            f"{_ORG}/shipping-services",
            filters=("carrier_code", "integration_id", "enabled", "type"),
            choices={"enabled": ("true", "false")},
            fields=_SHIPPING_SERVICE_FIELDS,
        ),
    )
}
RESOURCE_NAMES = tuple(dict.fromkeys(name for _, name in RESOURCES))


@dataclass(frozen=True)
class Listing:
    """One server-side listing: an endpoint path (after the base URL) and its query."""

    path: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Plan:
    """The listings of one call and what merging them needs.

    Attributes:
        resource: the table row.
        listings: one per combination of filter values, in the order the values were given.
        includes: the includes sent.
        disjoint: no record can match two of the listings as long as it does not change: every
            filter given several values is a documented field of the record itself, which has
            one value (``product_id``, ``status``), not a field of related records reached
            with a dot (``orders.id``: a fulfillment of two orders matches both).
    """

    resource: PackResource
    listings: list[Listing]
    includes: tuple[str, ...]
    disjoint: bool = True


def resource_for(name: Any, warehouse_id: str | None) -> PackResource:
    """The table row of ``name`` in the organization scope, or the warehouse one.

    Raises:
        InventoryConfigError: the name is not a documented resource, or has no warehouse
            endpoint when ``warehouse_id`` is given; naming the allowed values.
    """
    if not isinstance(name, str) or name not in RESOURCE_NAMES:
        raise InventoryConfigError(
            f"resource={name!r} is not a Pack list resource; use one of "
            f"{', '.join(RESOURCE_NAMES)}."
        )
    scope = "organization" if warehouse_id is None else "warehouse"
    resource = RESOURCES.get((scope, name))
    if resource is None:
        with_warehouse = [n for s, n in RESOURCES if s == "warehouse"]
        raise InventoryConfigError(
            f"Pack has no warehouse endpoint for {name}: drop warehouse_id (and filter on "
            f"warehouse_id where the resource has that filter), or list one of "
            f"{', '.join(with_warehouse)} by warehouse."
        )
    return resource


def plan_listings(
    resource: PackResource,
    *,
    organization_id: str,
    warehouse_id: str | None,
    filters: Mapping[str, FilterArgument] | None,
    include: str | Sequence[str] | None,
    sort: str | Sequence[str] | None,
    query: str | None,
    paging: Mapping[str, str],
    allow_undocumented: bool = False,
) -> Plan:
    """Check the arguments against ``resource`` and plan its listings (see :class:`Plan`).

    Args:
        resource: the table row.
        organization_id: the connection's organization.
        warehouse_id: the warehouse of a warehouse-scoped resource.
        filters: ``{name: value or list of values}``; a list means one listing per value
            (the cartesian product over several lists), an empty list selects nothing.
        include: include names (a list or a comma-separated string).
        sort: sort keys, ``-`` for descending (a list or a comma-separated string).
        query: free-text search where the resource documents ``query``.
        paging: the page-size parameter, if set.
        allow_undocumented: send filters, includes and sorts the docs do not list (for values
            Pack adds later) instead of refusing them; each is logged as a warning.

    Raises:
        InventoryConfigError: an unknown filter, include or sort, a value outside a documented
            choice, ``query`` where it is not documented, or a missing path filter; nothing is
            sent.
    """
    values = _filter_values(resource, filters or {}, allow_undocumented)
    includes = _checked_names(
        "include", resource.described(), include, resource.includes, allow_undocumented
    )
    sorts = _checked_names(
        "sort", resource.described(), sort, resource.sorts, allow_undocumented, signed=True
    )
    fixed: dict[str, str] = {}
    if includes:
        fixed["include"] = ",".join(includes)
    if sorts:
        fixed["sort"] = ",".join(sorts)
    if query is not None:
        if not resource.query and not allow_undocumented:
            raise InventoryConfigError(
                f"Pack documents no query= search for {resource.described()}; drop query or "
                f"filter instead (filters: {', '.join(resource.filters)})."
            )
        fixed["query"] = identifier("query", query)
    for name in resource.path_filters:
        if name not in values:
            raise InventoryConfigError(
                f"warehouse_id needs {name}: Pack lists a warehouse's {resource.name} per "
                f"{name.removesuffix('_id')} (/v1/{resource.path}). Pass {name} (one id or a "
                f"list), or drop warehouse_id."
            )
    names = list(values)
    listings = []
    for combination in itertools.product(*(values[name] for name in names)):
        chosen = dict(zip(names, combination, strict=True))
        path = resource.path.format(
            organization_id=quote(organization_id, safe=""),
            warehouse_id=quote(warehouse_id or "", safe=""),
            **{name: quote(chosen.pop(name), safe="") for name in resource.path_filters},
        )
        params = {f"filter[{name}]": value for name, value in chosen.items()}
        listings.append(Listing(f"v1/{path}", tuple({**params, **fixed, **paging}.items())))
    several = [name for name in names if len(values[name]) > 1]
    disjoint = all(name in resource.filters and "." not in name for name in several)
    return Plan(resource, listings, includes, disjoint)


def _filter_values(
    resource: PackResource, filters: Mapping[str, FilterArgument], allow_undocumented: bool
) -> dict[str, list[str]]:
    if not isinstance(filters, Mapping):
        raise InventoryConfigError(
            f"filters must be a dict such as {{'{resource.filters[0]}': '...'}}, got "
            f"{type(filters).__name__}."
        )
    values: dict[str, list[str]] = {}
    for name, value in filters.items():
        if name not in resource.filters:
            if not allow_undocumented:
                raise InventoryConfigError(
                    f"Pack documents no filter[{name}] for {resource.described()}; use one of "
                    f"{', '.join(resource.filters)} (or allow_undocumented=True for a filter "
                    f"Pack added after this provider was released)."
                )
            log.warning("Sending undocumented filter[%s] for Pack %s.", name, resource.name)
        listed = filter_values(name, _as_text(value))
        if listed is None:
            continue
        allowed = resource.choices.get(name)
        wrong = [v for v in listed if allowed is not None and v not in allowed]
        if wrong and not allow_undocumented:
            raise InventoryConfigError(
                f"filter[{name}]={wrong[0]!r} is not a documented value for "
                f"{resource.described()}; use one of {', '.join(allowed or ())}."
            )
        values[name] = listed
    return values


def _as_text(value: FilterArgument) -> str | list[str] | None:
    """Booleans as ``true``/``false`` and numbers as digits, as query strings carry them."""

    def text(item: Any) -> Any:
        if isinstance(item, bool):
            return "true" if item else "false"
        return str(item) if isinstance(item, int) else item

    if isinstance(value, list | tuple):
        return [text(item) for item in value]
    return text(value)


def _checked_names(
    what: str,
    resource: str,
    given: str | Sequence[str] | None,
    allowed: tuple[str, ...],
    allow_undocumented: bool,
    *,
    signed: bool = False,
) -> tuple[str, ...]:
    if given is None:
        return ()
    if isinstance(given, str):
        names = [name.strip() for name in given.split(",")]
    elif isinstance(given, list | tuple):
        names = [identifier(what, name) for name in given]
    else:
        raise InventoryConfigError(
            f"{what} must be a string or a list of strings, got {type(given).__name__}."
        )
    names = [name for name in names if name]
    for name in names:
        bare = name.removeprefix("-") if signed else name
        if bare in allowed:
            continue
        if not allow_undocumented:
            documented = ", ".join(allowed) if allowed else f"no {what} values"
            extra = " (each ascending, or descending with a leading '-')" if signed else ""
            raise InventoryConfigError(
                f"Pack documents no {what}={name!r} for {resource}; it documents "
                f"{documented}{extra if allowed else ''} (or pass allow_undocumented=True for "
                f"a value Pack added after this provider was released)."
            )
        log.warning("Sending undocumented %s=%s for Pack %s.", what, name, resource)
    return tuple(dict.fromkeys(names))


def record_key(resource: PackResource) -> Any:
    """A function giving a record's identity (``None`` when a key field is missing)."""
    if resource.key == ("id",):
        return lambda record: record.get("id")
    fields = resource.key

    def key(record: Mapping[str, Any]) -> Any:
        parts = tuple(record.get(name) for name in fields)
        return None if None in parts else parts

    return key


__all__ = [
    "RESOURCES",
    "RESOURCE_NAMES",
    "FilterArgument",
    "Listing",
    "PackResource",
    "Plan",
    "plan_listings",
    "record_key",
    "resource_for",
]
