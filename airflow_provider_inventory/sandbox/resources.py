"""Any Commerce Layer resource type, served from the API schema bundled with the provider.

Packages and stock locations have hand-written data (:mod:`.data`); every other type of the
bundled schema (``stock_items``, ``shipments``, ``skus``...) is served generically from a
:class:`ResourceStore` that tests fill with
:meth:`~airflow_provider_inventory.sandbox.server.Sandbox.add_resources`: its attributes, sorts,
filters (attributes, ``<relationship>_id`` and one level
through to-one relationships to other served types) and includes follow the schema, and
anything else is refused with a 400 as a strict server would. :func:`sample_records` makes
records of the schema's types.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_provider_inventory.hooks._commercelayer_schema import ResourceSchema, api_schema

from .jsonapi import Relationship, ResourceType
from .ransack import Field
from .timeutil import ANCHOR_MS, format_ms

Record = dict[str, Any]

#: The sandbox's filter kind of each schema type.
FILTER_KINDS = {
    "string": "string",
    "integer": "number",
    "float": "number",
    "boolean": "bool",
    "datetime": "time",
    "object": "json",
    "array": "json",
}


class ResourceStore:
    """Flat records (``{"id", **attributes, "<to-one relationship>_id"...}``) by resource type.

    ``version`` changes with every change, for caches of sorted listings.
    """

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Record]] = {}
        self._lock = threading.Lock()
        self.version = 0

    def add(self, resource: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Store ``records`` (each with an ``id``) of ``resource``; returns how many.

        Raises:
            KeyError: ``resource`` is not a type of the bundled schema.
            ValueError: a record has no ``id``.
        """
        if api_schema().get(resource) is None:
            raise KeyError(f"{resource!r} is not a resource type of the bundled schema")
        added = [dict(record) for record in records]
        if any(not record.get("id") for record in added):
            raise ValueError("every record needs an 'id'")
        with self._lock:
            table = self._records.setdefault(resource, {})
            table.update({str(record["id"]): record for record in added})
            self.version += 1
        return len(added)

    def records(self, resource: str) -> list[Record]:
        """The stored records of ``resource`` (do not mutate them)."""
        with self._lock:
            return list(self._records.get(resource, {}).values())

    def get(self, resource: str, record_id: str) -> Record | None:
        """One stored record, or ``None``."""
        with self._lock:
            return self._records.get(resource, {}).get(record_id)


def _getter(name: str) -> Callable[[Record], Any]:
    return lambda record: record.get(name)


def schema_type(
    spec: ResourceSchema, store: ResourceStore, lookup: Callable[[str], ResourceType | None]
) -> ResourceType:
    """A :class:`ResourceType` serving ``spec``'s type from ``store``.

    Args:
        spec: the type's schema.
        store: where its records are.
        lookup: the served type of a name (records of related types, for filters through
            to-one relationships), called when a filter runs.
    """
    attributes = tuple(
        name for name, field in spec.fields.items() if field.fetchable and name != "id"
    )
    names = frozenset(attributes)
    relationships = tuple(
        Relationship(
            rel.name,
            rel.to_many,
            None if rel.to_many else rel.resource,
            None if rel.to_many else _getter(f"{rel.name}_id"),
        )
        for rel in spec.relationships.values()
    )
    filterable = {
        name: Field(_getter(name), FILTER_KINDS[field.type])
        for name, field in spec.fields.items()
        if field.filterable
    }
    schema = api_schema()
    for rel in spec.relationships.values():
        if not rel.filterable or rel.to_many:
            continue
        filterable[f"{rel.name}_id"] = Field(_getter(f"{rel.name}_id"), "string")
        target = schema.get(rel.resource)
        if target is None:
            continue
        for name, field in target.fields.items():
            if field.filterable:
                getter = _through(rel.name, rel.resource or "", name, lookup)
                filterable[f"{rel.name}_{name}"] = Field(getter, FILTER_KINDS[field.type])
    return ResourceType(
        name=spec.name,
        attributes=attributes,
        relationships=relationships,
        sortable=tuple(sorted(spec.sortable_fields)),
        filterable=filterable,
        records=lambda: store.records(spec.name),
        get=lambda record_id: store.get(spec.name, record_id),
        attributes_of=lambda record: {k: v for k, v in record.items() if k in names},
        includable=spec.includable_relationships,
    )


def _through(
    relationship: str, resource: str, name: str, lookup: Callable[[str], ResourceType | None]
) -> Callable[[Record], Any]:
    """Reads ``name`` of the record a to-one relationship points to."""

    def get(record: Record) -> Any:
        target = lookup(resource)
        related = None if target is None else target.get(record.get(f"{relationship}_id") or "")
        return None if related is None else related.get(name)

    return get


class ServedTypes(dict[str, ResourceType]):
    """The types the sandbox serves: the hand-written ones, and on first use any other type of
    the bundled schema, served from a :class:`ResourceStore`."""

    def __init__(self, fixed: Mapping[str, ResourceType], store: ResourceStore) -> None:
        super().__init__(fixed)
        self.store = store

    def get(self, name: str, default: Any = None) -> Any:
        if name in self:
            return self[name]
        spec = api_schema().get(name)
        if spec is None:
            return default
        served = schema_type(spec, self.store, self.get)
        self[name] = served
        return served

    def __missing__(self, name: str) -> ResourceType:
        served = self.get(name)
        if served is None:
            raise KeyError(name)
        return served


def sample_value(kind: str, name: str, index: int) -> Any:
    """A value of schema type ``kind`` for record ``index`` (deterministic)."""
    if kind == "integer":
        return index
    if kind == "float":
        return index + 0.25
    if kind == "boolean":
        return index % 2 == 0
    if kind == "datetime":
        return format_ms(ANCHOR_MS - 1000 * (index + 1))
    if kind == "object":
        return {"index": index}
    if kind == "array":
        return [{"index": index}]
    return f"{name}-{index}"


def sample_records(
    resource: str,
    count: int,
    *,
    start: int = 0,
    nulls: Mapping[str, int] | None = None,
    **overrides: Any,
) -> list[Record]:
    """``count`` records of ``resource`` with every fetchable attribute set to a value of its
    schema type; ids ``<resource initials>-<index>`` sort in index order.

    Args:
        resource: a type of the bundled schema.
        count: how many records.
        start: the index of the first record.
        nulls: ``{attribute: n}``: the attribute is ``None`` in records with index below ``n``.
        overrides: attribute values every record gets (e.g. ``sku_id``).
    """
    spec = api_schema().resource(resource)
    prefix = "".join(word[0] for word in resource.split("_"))
    nulls = nulls or {}
    records = []
    for index in range(start, start + count):
        record: Record = {"id": f"{prefix}-{index:08d}"}
        for name, field in spec.fields.items():
            if field.fetchable and name != "id":
                null = index < nulls.get(name, 0)
                record[name] = None if null else sample_value(field.type, name, index)
        record.update(overrides)
        records.append(record)
    return records


__all__ = ["ResourceStore", "ServedTypes", "sample_records", "sample_value", "schema_type"]
