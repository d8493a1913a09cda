"""JSON:API resource definitions and document building for the Commerce Layer stand-in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .data import attributes_of
from .ransack import Field

Record = dict[str, Any]


@dataclass(frozen=True)
class Relationship:
    """A relationship of a resource type.

    ``target`` and ``target_id`` describe a to-one relationship whose linkage the sandbox
    knows (e.g. a package's stock location); other relationships have empty linkage
    (``null`` or ``[]``) when included.
    """

    name: str
    to_many: bool
    target: str | None = None
    target_id: Callable[[Record], str | None] | None = None

    def linkage(self, record: Record) -> Any:
        if self.to_many:
            return []
        if self.target is None or self.target_id is None:
            return None
        target_id = self.target_id(record)
        return None if target_id is None else {"type": self.target, "id": target_id}


@dataclass(frozen=True)
class ResourceType:
    """One Commerce Layer resource type the sandbox serves."""

    name: str  # the JSON:API type, also the URL segment
    attributes: tuple[str, ...]
    relationships: tuple[Relationship, ...]
    sortable: tuple[str, ...]
    filterable: dict[str, Field]
    records: Callable[[], list[Record]]
    get: Callable[[str], Record | None]
    #: The JSON:API attributes of a stored record (default: every key but the flat extras).
    attributes_of: Callable[[Record], dict[str, Any]] = field(default=attributes_of)
    #: Relationships ``include`` may name (``None``: all).
    includable: frozenset[str] | None = None

    def relationship(self, name: str) -> Relationship | None:
        return next((r for r in self.relationships if r.name == name), None)

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(self.attributes) | {r.name for r in self.relationships}


def resource_object(
    rtype: ResourceType,
    record: Record,
    base_url: str,
    fields: frozenset[str] | None,
    include: Iterable[str] = (),
) -> Record:
    """Serialize a flat record: ``fields`` (None: all) limits attributes and relationships;
    relationships named in ``include`` carry ``data`` linkage, the others only links."""
    self_url = f"{base_url}/api/{rtype.name}/{record['id']}"
    attributes = {
        key: value
        for key, value in rtype.attributes_of(record).items()
        if fields is None or key in fields
    }
    relationships: Record = {}
    for rel in rtype.relationships:
        if fields is not None and rel.name not in fields:
            continue
        entry: Record = {
            "links": {
                "self": f"{self_url}/relationships/{rel.name}",
                "related": f"{self_url}/{rel.name}",
            }
        }
        if rel.name in include:
            entry["data"] = rel.linkage(record)
        relationships[rel.name] = entry
    obj: Record = {
        "id": record["id"],
        "type": rtype.name,
        "links": {"self": self_url},
        "attributes": attributes,
        "relationships": relationships,
    }
    if "meta" in record:
        obj["meta"] = dict(record["meta"])
    return obj


def included_objects(
    rtype: ResourceType,
    records: Iterable[Record],
    include: Iterable[str],
    fields: dict[str, frozenset[str] | None],
    *,
    types: dict[str, ResourceType],
    base_url: str,
) -> list[Record]:
    """The resources linked from ``records`` through included relationships, each once.

    A relationship left out of ``fields[rtype]`` has no linkage, so its resources are not
    included (JSON:API full linkage).
    """
    own_fields = fields.get(rtype.name)
    seen: set[tuple[str, str]] = set()
    out: list[Record] = []
    for name in include:
        rel = rtype.relationship(name)
        if rel is None or (own_fields is not None and name not in own_fields):
            continue
        if rel.to_many or rel.target is None or rel.target_id is None:
            continue
        target_type = types[rel.target]
        for record in records:
            target_id = rel.target_id(record)
            if target_id is None or (rel.target, target_id) in seen:
                continue
            target = target_type.get(target_id)
            if target is None:
                continue
            seen.add((rel.target, target_id))
            out.append(resource_object(target_type, target, base_url, fields.get(rel.target)))
    return out
