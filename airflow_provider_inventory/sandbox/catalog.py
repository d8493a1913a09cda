"""More Commerce Layer resources for the sandbox: ``shipments`` (uncacheable) and
``stock_items`` (cacheable), so that a listing and an export of the same set can be compared.

Both are generated from the seed (an RNG stream of their own, so the packages and serial
numbers do not change with their counts) and do not change afterwards. Each belongs to one of
the store's stock locations (``stock_location_id``, the to-one relationship ``stock_location``).
"""

from __future__ import annotations

import random
import string
from typing import Any

from .data import DataStore
from .jsonapi import Relationship, ResourceType
from .ransack import Field
from .timeutil import ANCHOR_MS, format_ms

Record = dict[str, Any]

SHIPMENT_ATTRIBUTES = (
    "number",
    "status",
    "currency_code",
    "cost_amount_cents",
    "created_at",
    "updated_at",
    "reference",
    "reference_origin",
    "metadata",
)
STOCK_ITEM_ATTRIBUTES = (
    "sku_code",
    "quantity",
    "created_at",
    "updated_at",
    "reference",
    "reference_origin",
    "metadata",
)
_SHIPMENT_STATUSES = ("draft", "upcoming", "picking", "packing", "ready_to_ship", "shipped")
_KINDS = {
    "cost_amount_cents": "number",
    "quantity": "number",
    "created_at": "time",
    "updated_at": "time",
    "metadata": "json",
}
_SPREAD_MS = 90 * 86_400 * 1000
_ALNUM = string.ascii_letters + string.digits


def _getter(name: str) -> Any:
    return lambda record: record.get(name)


class Catalog:
    """Shipments and stock items of a sandbox, read-only once generated.

    Args:
        seed: the sandbox seed.
        store: the data store whose stock locations the records belong to.
        shipments: how many shipments.
        stock_items: how many stock items.
    """

    def __init__(self, seed: int, store: DataStore, *, shipments: int, stock_items: int) -> None:
        rng = random.Random(f"{seed}:catalog")
        locations = [location["id"] for location in store.stock_locations()]
        taken: set[str] = {package["id"] for package in store.packages()} | set(locations)
        self.records: dict[str, dict[str, Record]] = {"shipments": {}, "stock_items": {}}
        for index in range(shipments):
            record = self._shipment(rng, index, locations)
            record["id"] = self._new_id(rng, taken)
            self.records["shipments"][record["id"]] = _ordered(record, "shipments")
        for index in range(stock_items):
            record = self._stock_item(rng, index, locations)
            record["id"] = self._new_id(rng, taken)
            self.records["stock_items"][record["id"]] = _ordered(record, "stock_items")
        self._sorted = {name: list(records.values()) for name, records in self.records.items()}

    @staticmethod
    def _new_id(rng: random.Random, taken: set[str]) -> str:
        while True:
            candidate = "".join(rng.choices(_ALNUM, k=10))
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    @staticmethod
    def _timestamps(rng: random.Random) -> tuple[str, str]:
        created = ANCHOR_MS - 1 - int(rng.random() * _SPREAD_MS)
        updated = (
            created + int(rng.random() * (ANCHOR_MS - created)) if rng.random() < 0.5 else created
        )
        return format_ms(created), format_ms(updated)

    def _shipment(self, rng: random.Random, index: int, locations: list[str]) -> Record:
        created_at, updated_at = self._timestamps(rng)
        return {
            "number": f"{100000 + index}/S/001",
            "status": rng.choice(_SHIPMENT_STATUSES),
            "currency_code": rng.choice(("EUR", "USD", "GBP")),
            "cost_amount_cents": rng.randrange(0, 5000),
            "created_at": created_at,
            "updated_at": updated_at,
            "reference": f"SHP-{rng.randrange(1_000_000):06d}" if rng.random() < 0.6 else None,
            "reference_origin": "erp" if rng.random() < 0.5 else None,
            "metadata": {"carrier": rng.choice(("dhl", "ups", "fedex"))},
            "stock_location_id": rng.choice(locations) if locations else None,
        }

    def _stock_item(self, rng: random.Random, index: int, locations: list[str]) -> Record:
        created_at, updated_at = self._timestamps(rng)
        return {
            "sku_code": f"SKU{index % 997:04d}{rng.choice(('XS', 'S', 'M', 'L', 'XL'))}",
            "quantity": rng.randrange(0, 500),
            "created_at": created_at,
            "updated_at": updated_at,
            "reference": None,
            "reference_origin": None,
            "metadata": {},
            "stock_location_id": rng.choice(locations) if locations else None,
        }

    def resource_types(
        self, location_fields: dict[str, Field], via_location: Any
    ) -> dict[str, ResourceType]:
        """The two resource types, filterable on their attributes and their stock location's
        (``via_location(getter)`` reads a stock location field from a record). A type with no
        generated records is left out, so the schema-driven type serves that name (with the
        records a test stores through ``Sandbox.add_resources``)."""
        types = {}
        for name, attributes in (
            ("shipments", SHIPMENT_ATTRIBUTES),
            ("stock_items", STOCK_ITEM_ATTRIBUTES),
        ):
            if not self.records[name]:
                continue
            fields = {a: Field(_getter(a), _KINDS.get(a, "string")) for a in attributes}
            fields["id"] = Field(_getter("id"), "string")
            fields["stock_location_id"] = Field(_getter("stock_location_id"), "string")
            for key, field in location_fields.items():
                fields[f"stock_location_{key}"] = Field(via_location(field.getter), field.kind)
            types[name] = ResourceType(
                name=name,
                attributes=attributes,
                relationships=(
                    Relationship(
                        "stock_location", False, "stock_locations", _getter("stock_location_id")
                    ),
                ),
                sortable=(*(a for a in attributes if a != "metadata"), "id"),
                filterable=fields,
                records=self._sorted[name].copy,
                get=self.records[name].get,
            )
        return types


def _ordered(record: Record, type_name: str) -> Record:
    """``{"id", "type", **attributes, "stock_location_id", "meta"}`` like the store's records."""
    return {
        "id": record["id"],
        "type": type_name,
        **{k: v for k, v in record.items() if k != "id"},
        "meta": {"mode": "test"},
    }


__all__ = ["SHIPMENT_ATTRIBUTES", "STOCK_ITEM_ATTRIBUTES", "Catalog"]
