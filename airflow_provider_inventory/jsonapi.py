"""Pure JSON:API helpers for Commerce Layer: query encoding and response flattening.

Nothing here talks to the network, so operators, sensors and triggers can validate their
arguments at DAG-parse or ``execute`` time with the same rules the hook applies, before any
request is sent:

- :func:`encode_filters` checks each ``{attribute(s)}_{predicate}`` key against the documented
  predicates and encodes its value as ``filter[q][key]``;
- :func:`encode_sort`, :func:`encode_include` and :func:`sparse_fieldset` build ``sort``,
  ``include`` and ``fields[resource]`` (adding included relationships to the fieldset, without
  which JSON:API returns no linkage and so no included record);
- :func:`partition_filters` turns a partition spec (see ``CommerceLayerHook.plan_partitions``)
  into id range filters;
- :func:`flatten` turns a resource object into a flat record and attaches included resources,
  :func:`index_included` and :func:`related` serve callers who keep the raw objects.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.window import format_instant, parse_instant

_DOCUMENTED_PREDICATES = (
    "eq eq_or_null not_eq not_eq_or_null matches does_not_match lt lteq gt gteq",
    "present blank null not_null true false in in_or_null not_in not_in_or_null",
    "start not_start end not_end cont not_cont jcont",
)
# The comparison and text predicates also come in "any of" / "all of" forms over several values
# (Ransack's, which Commerce Layer's filters are).
_QUANTIFIABLE = (
    "eq not_eq matches does_not_match lt lteq gt gteq start not_start end not_end cont not_cont"
)
#: Every predicate Commerce Layer documents for ``filter[q][{attribute}_{predicate}]``.
PREDICATES: frozenset[str] = frozenset(
    [
        *" ".join(_DOCUMENTED_PREDICATES).split(),
        *(f"{p}_{q}" for p in _QUANTIFIABLE.split() for q in ("any", "all")),
    ]
)
#: Predicates whose value may be several comma-separated values.
LIST_PREDICATES: frozenset[str] = frozenset(
    p
    for p in PREDICATES
    if p.endswith(("_any", "_all")) or p in {"in", "in_or_null", "not_in", "not_in_or_null"}
)
# Longest first, so ``name_not_eq`` is (name, not_eq) and not (name_not, eq).
_PREDICATES_LONGEST_FIRST = sorted(PREDICATES, key=len, reverse=True)
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*$")
_PATH = r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*"
_INCLUDE_PATH = re.compile(f"^{_PATH}$")
_SORT_FIELD = re.compile(f"^-?{_PATH}$")

#: Keys of a partition spec (``CommerceLayerHook.plan_partitions``).
PARTITION_KEYS = ("id_gteq", "id_lt")

Identity = tuple[str, str]
"""A resource's ``(type, id)``."""


# --------------------------------------------------------------------------- filters


def split_filter_key(key: str) -> tuple[str, str]:
    """Split ``name_or_code_start`` into ``("name_or_code", "start")``.

    The longest documented predicate that ends the key wins, as on the server.

    Raises:
        InventoryConfigError: the key has no documented predicate suffix or no attribute.
    """
    if not isinstance(key, str):
        raise InventoryConfigError(f"filters: key {key!r} must be a string like 'name_eq'.")
    for predicate in _PREDICATES_LONGEST_FIRST:
        suffix = f"_{predicate}"
        if key.endswith(suffix) and len(key) > len(suffix):
            attribute = key[: -len(suffix)]
            if not _ATTRIBUTE.match(attribute):
                break
            return attribute, predicate
    raise InventoryConfigError(
        f"filters: {key!r} is not '<attribute>_<predicate>' with a documented predicate. "
        f"Write it as the API spells it, e.g. 'name_start', 'stock_location_id_eq', "
        f"'name_or_code_cont', 'metadata_jcont'. Valid predicates: "
        f"{', '.join(sorted(PREDICATES))}."
    )


def encode_filters(filters: Mapping[str, Any] | None) -> dict[str, str]:
    """Validate ``filters`` and encode them as ``{"filter[q][key]": "value"}`` query parameters.

    Args:
        filters: ``{attribute(s)}_{predicate}`` -> value. Values may be strings, numbers,
            booleans, datetimes or dates (sent as ISO-8601 UTC), lists of those (for ``in``,
            ``*_any``, ``*_all``...; joined by commas) or, for ``jcont``, a dict (sent as JSON).

    Returns:
        The query parameters, in the order given.

    Raises:
        InventoryConfigError: naming the key, for an unknown predicate or a value that cannot
            be sent (``None``, a list for a one-value predicate, a comma inside a list item...).
    """
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise InventoryConfigError(
            f"filters must be a mapping like {{'name_start': 'LARGE'}}, got {type(filters).__name__}."
        )
    return {f"filter[q][{key}]": encode_filter_value(key, value) for key, value in filters.items()}


def encode_filter_value(key: str, value: Any) -> str:
    """Encode one filter value for the predicate of ``key`` (see :func:`encode_filters`)."""
    attribute, predicate = split_filter_key(key)
    if predicate == "jcont":
        return _encode_json_object(key, value)
    if isinstance(value, list | tuple | set | frozenset):
        if predicate not in LIST_PREDICATES:
            raise InventoryConfigError(
                f"filters: {key!r} takes one value, got a list. Use a list predicate such as "
                f"'{attribute}_in' or '{attribute}_{predicate}_any' for several values."
            )
        items = [_encode_scalar(key, item) for item in value]
        if isinstance(value, set | frozenset):
            items.sort()  # a stable query string for the same filter
        if not items:
            raise InventoryConfigError(
                f"filters: {key!r} got an empty list; give at least one value or drop the filter."
            )
        for item in items:
            if "," in item:
                raise InventoryConfigError(
                    f"filters: {key!r} list item {item!r} contains a comma, which the API reads "
                    f"as a separator; it cannot be matched through a list filter."
                )
        return ",".join(items)
    return _encode_scalar(key, value)


def _encode_scalar(key: str, value: Any) -> str:
    if value is None:
        attribute = split_filter_key(key)[0]
        raise InventoryConfigError(
            f"filters: {key!r} has no value (None). To match missing values use "
            f"'{attribute}_null': True; otherwise drop the filter."
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InventoryConfigError(f"filters: {key!r} must be a finite number, got {value}.")
        return repr(value)
    if isinstance(value, datetime | date):
        moment = parse_instant(value, key)
        assert moment is not None
        return format_instant(moment)
    if isinstance(value, str):
        if not value.strip():
            attribute = split_filter_key(key)[0]
            raise InventoryConfigError(
                f"filters: {key!r} is blank. The API ignores blank filter values, so the filter "
                f"would match every record; use '{attribute}_blank': True to match blank "
                f"values, or drop the filter."
            )
        return value
    raise InventoryConfigError(
        f"filters: {key!r} got a {type(value).__name__}; use a string, number, boolean, "
        f"datetime, a list of those, or a dict for a '_jcont' filter."
    )


def _encode_json_object(key: str, value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return value
    elif isinstance(value, Mapping):
        return json.dumps(dict(value), separators=(",", ":"), default=_json_default(key))
    raise InventoryConfigError(
        f"filters: {key!r} needs a JSON object, e.g. {{'tier': 'gold'}} or the string "
        f'\'{{"tier":"gold"}}\'; got {value!r}.'
    )


def _json_default(key: str) -> Any:
    def default(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return _encode_scalar(key, value)
        raise InventoryConfigError(
            f"filters: {key!r} contains a {type(value).__name__}, which is not JSON."
        )

    return default


def partition_filters(partition: Mapping[str, Any] | None) -> dict[str, str]:
    """Validate a partition spec and return its id range as filters.

    Args:
        partition: ``{"id_gteq": id | None, "id_lt": id | None}`` (an open end is ``None``), as
            returned by ``CommerceLayerHook.plan_partitions``.

    Returns:
        ``{"id_gteq": ..., "id_lt": ...}`` with the open ends left out.

    Raises:
        InventoryConfigError: an unknown key or a bound that is not a non-empty string.
    """
    if partition is None:
        return {}
    if not isinstance(partition, Mapping) or set(partition) - set(PARTITION_KEYS):
        raise InventoryConfigError(
            f"partition must be a mapping with only the keys {list(PARTITION_KEYS)} (as returned "
            f"by plan_partitions), got {partition!r}."
        )
    found: dict[str, str] = {}
    for key in PARTITION_KEYS:
        bound = partition.get(key)
        if bound is None:
            continue
        if not isinstance(bound, str) or not bound:
            raise InventoryConfigError(
                f"partition[{key!r}] must be a record id (string) or None, got {bound!r}."
            )
        found[key] = bound
    return found


# --------------------------------------------------------------------------- sort, include, fields


def names_of(value: str | Sequence[str] | None, what: str, pattern: re.Pattern[str]) -> list[str]:
    """A list of names from a comma-separated string or a sequence, each checked by ``pattern``.

    Raises:
        InventoryConfigError: naming ``what`` and the offending item.
    """
    if value is None:
        return []
    if not isinstance(value, str | list | tuple):
        raise InventoryConfigError(
            f"{what} must be a comma-separated string or a list of names, got "
            f"{type(value).__name__}."
        )
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        name = item.strip() if isinstance(item, str) else item
        if not isinstance(name, str) or not pattern.match(name):
            raise InventoryConfigError(
                f"{what}: {item!r} is not a valid name; use attribute or relationship names "
                f"as the API spells them (letters, digits, underscores)."
            )
        if name not in names:
            names.append(name)
    return names


def encode_sort(sort: str | Sequence[str] | None) -> str | None:
    """``sort`` as the API's comma-separated value (``"-created_at,code"``), or ``None``.

    Raises:
        InventoryConfigError: a field is not ``[-]name``.
    """
    fields = names_of(sort, "sort", _SORT_FIELD)
    return ",".join(fields) or None


def encode_include(include: str | Sequence[str] | None) -> str | None:
    """``include`` as the API's comma-separated value (dot paths for nested), or ``None``."""
    paths = names_of(include, "include", _INCLUDE_PATH)
    return ",".join(paths) or None


def sparse_fieldset(
    resource: str,
    fields: str | Sequence[str] | None,
    include: str | Sequence[str] | None = None,
) -> dict[str, str]:
    """``{"fields[resource]": "a,b,<included relationship>"}``, or ``{}`` without ``fields``.

    JSON:API sparse fieldsets cover relationships too: a relationship that is included but not in
    the fieldset comes back without linkage, and so the included record cannot be attached.
    The first segment of each ``include`` path is therefore added to the fieldset.
    """
    names = names_of(fields, "fields", _ATTRIBUTE)
    if not names:
        return {}
    for path in names_of(include, "include", _INCLUDE_PATH):
        relationship = path.split(".", 1)[0]
        if relationship not in names:
            names.append(relationship)
    return {f"fields[{resource}]": ",".join(names)}


# --------------------------------------------------------------------------- responses


def identity(resource: Mapping[str, Any]) -> Identity:
    """A resource object's (or resource identifier's) ``(type, id)``."""
    return (str(resource.get("type")), str(resource.get("id")))


def index_included(included: Iterable[Mapping[str, Any]] | None) -> dict[Identity, dict[str, Any]]:
    """Map a document's ``included`` array by ``(type, id)``."""
    return {identity(item): dict(item) for item in included or () if isinstance(item, Mapping)}


def related(
    resource: Mapping[str, Any], name: str, included: Mapping[Identity, Mapping[str, Any]]
) -> Mapping[str, Any] | list[Mapping[str, Any]] | None:
    """The included resource object(s) a raw resource's relationship ``name`` points to.

    Returns:
        The resource object for a to-one relationship, a list of those for a to-many one
        (identifiers that were not included are left out), ``None`` when there is no linkage
        or the target was not included.
    """
    linkage = _linkage(resource, name)
    if isinstance(linkage, Mapping):
        return included.get(identity(linkage))
    if isinstance(linkage, list):
        return [included[key] for key in map(identity, linkage) if key in included]
    return None


def flatten(
    resource: Mapping[str, Any], included: Mapping[Identity, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A flat record from a JSON:API resource object.

    The record is ``{"id", "type", **attributes, "meta", "<relationship>_id"...}``: one
    ``<relationship>_id`` per to-one relationship whose linkage came back (``None`` for an empty
    one). Each included resource a relationship points to is attached, itself flattened, under
    the relationship's name: a record for to-one, a list for to-many. Nested includes are
    resolved the same way; a resource already being flattened higher up is not attached again
    (JSON:API allows cycles).

    Args:
        resource: a resource object (``data`` item).
        included: the document's included resources, from :func:`index_included`.
    """
    return _flatten(resource, included or {}, ())


def _flatten(
    resource: Mapping[str, Any],
    included: Mapping[Identity, Mapping[str, Any]],
    ancestors: tuple[Identity, ...],
) -> dict[str, Any]:
    record: dict[str, Any] = {"id": resource.get("id"), "type": resource.get("type")}
    record.update(resource.get("attributes") or {})
    record["meta"] = resource.get("meta")
    ancestors = (*ancestors, identity(resource))
    relationships = resource.get("relationships") or {}
    for name in relationships:
        linkage = _linkage(resource, name)
        if linkage is None and "data" in (relationships.get(name) or {}):
            record[f"{name}_id"] = None
        elif isinstance(linkage, Mapping):
            record[f"{name}_id"] = linkage.get("id")
            target = included.get(identity(linkage))
            if target is not None and identity(linkage) not in ancestors:
                record[name] = _flatten(target, included, ancestors)
        elif isinstance(linkage, list):
            keys = [key for key in map(identity, linkage) if key in included]
            if keys:
                record[name] = [
                    _flatten(included[key], included, ancestors)
                    for key in keys
                    if key not in ancestors
                ]
    return record


def _linkage(resource: Mapping[str, Any], name: str) -> Any:
    relationship = (resource.get("relationships") or {}).get(name)
    return relationship.get("data") if isinstance(relationship, Mapping) else None


__all__ = [
    "LIST_PREDICATES",
    "PARTITION_KEYS",
    "PREDICATES",
    "Identity",
    "encode_filter_value",
    "encode_filters",
    "encode_include",
    "encode_sort",
    "flatten",
    "identity",
    "index_included",
    "names_of",
    "partition_filters",
    "related",
    "sparse_fieldset",
]
